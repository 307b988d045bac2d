#pragma once
// RFC 6570 URI templates (level 4): parsing, expansion, and matching a string against a
// template. Mercure's topic selectors are URI templates: a selector matches a topic that could
// be one of its expansions (`https://example.com/books/{id}` matches
// `https://example.com/books/1`).
//
// Matching needs no recursion and no regular expression: the template is a sequence of literals
// and expressions, and which positions of the string each prefix of the sequence can end at is
// computed left to right (an expression can end anywhere within the run of characters its
// operator allows after its first one), so any template matches any string in
// O(parts x length).

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace herald::uri {

/// A template variable's value: a string, a list, or an associative array (pairs, in order).
using template_value = std::variant<std::string, std::vector<std::string>,
                                    std::vector<std::pair<std::string, std::string>>>;
using template_vars = std::map<std::string, template_value, std::less<>>;

class uri_template {
public:
  /// Parses `text`; nullopt (with `error`, if given) for an unclosed or malformed expression.
  static std::optional<uri_template> parse(std::string_view text, std::string* error = nullptr);

  /// RFC 6570 expansion with `vars` (undefined variables expand to nothing).
  std::string expand(const template_vars& vars) const;

  /// Whether `text` could be an expansion of this template.
  bool matches(std::string_view text) const;

  /// Whether the template has no expression (it then matches only its own text).
  bool literal() const { return parts_.size() <= 1 && (parts_.empty() || !parts_[0].is_expr); }

  const std::string& text() const { return text_; }

  /// How many expressions it has (matching costs O(parts x length)).
  std::size_t expressions() const;
  /// The literal text before its first expression: every match starts with it.
  std::string_view literal_prefix() const;

private:
  struct varspec {
    std::string name;
    std::size_t prefix = 0; // :N (0: none)
    bool explode = false;   // *
  };
  struct part {
    bool is_expr = false;
    std::string literal;
    char op = 0; // 0, '+', '#', '.', '/', ';', '?', '&'
    std::vector<varspec> vars;
  };

  std::string text_;
  std::vector<part> parts_;
};

} // namespace herald::uri

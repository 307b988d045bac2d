#pragma once
// Mercure updates in Herald's log (net/mercure_api.cpp speaks the protocol).
//
// Mercure's topics are IRIs or any other strings, not Herald topic names. Every Mercure update is
// therefore stored under one internal topic, `@mercure`, which Herald's topic grammar cannot name:
// no /v1 client can publish to it, read it or match it with a wildcard. The update's own topics
// travel beside it, and a Mercure subscription follows `@mercure` through selectors:
//   `*`                 every topic
//   an exact string     that topic (any IRI or string)
//   an RFC 6570 template a topic that could be one of its expansions (uri/uri_template.hpp)
// Private updates reach only subscribers whose token's `mercure.subscribe` selectors match one
// of the update's topics; the selectors a subscriber asks for never grant that.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "uri/uri_template.hpp"

namespace herald {

/// The Herald topic every Mercure update is stored under.
inline constexpr std::string_view mercure_log_topic = "@mercure";

/// True for Herald's internal topics (Mercure's): a /v1 pattern never matches them.
inline bool is_internal_topic(std::string_view topic) {
  return !topic.empty() && topic.front() == '@';
}

/// What a Mercure update carries beyond a Herald event's fields (its type is the event's type,
/// its data the event's data, as published; its `private` flag the event's access).
struct mercure_fields {
  std::vector<std::string> topics; // the canonical topic, then the alternates (at least one)
  std::string id;                  // the id its publisher gave it; empty: the hub's id
  std::uint64_t retry_ms = 0;      // the SSE retry field; 0: none
};
using mercure_fields_ptr = std::shared_ptr<const mercure_fields>;

/// The most expressions a subscriber's template selector may have (matching a template costs
/// O(expressions x topic length); real ones have one to three).
inline constexpr std::size_t max_selector_expressions = 16;

/// One topic selector, parsed once.
class mercure_selector {
public:
  explicit mercure_selector(std::string text);

  bool matches(std::string_view topic) const;
  const std::string& text() const { return text_; }
  /// Its expressions (0 for `*` and exact topics).
  std::size_t expressions() const { return template_ ? template_->expressions() : 0; }

private:
  std::string text_;
  bool any_ = false;
  std::optional<uri::uri_template> template_; // set when the text is a template with expressions
  std::string prefix_; // a template's literal start: most topics that do not match fail on it
};

/// True when one of `selectors` matches one of `topics`.
bool mercure_any_match(const std::vector<mercure_selector>& selectors,
                       const std::vector<std::string>& topics);

/// What one Mercure subscriber receives: updates one of whose topics its selectors match; of
/// those marked private, only the ones its token's `mercure.subscribe` selectors match.
class mercure_view {
public:
  mercure_view(const std::vector<std::string>& selectors,
               const std::vector<std::string>& private_selectors);

  bool admits(const mercure_fields& update, bool is_private) const;
  const std::vector<mercure_selector>& selectors() const { return selectors_; }

private:
  std::vector<mercure_selector> selectors_;
  std::vector<mercure_selector> private_;
};

} // namespace herald

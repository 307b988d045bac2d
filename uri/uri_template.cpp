#include "uri/uri_template.hpp"

#include <algorithm>
#include <cstring>

namespace herald::uri {
namespace {

struct op_rules {
  const char* first;
  const char* sep;
  bool named;
  const char* ifemp;
  bool reserved; // U+R: reserved characters pass unencoded
};

op_rules rules_of(char op) {
  switch (op) {
    case '+': return {"", ",", false, "", true};
    case '#': return {"#", ",", false, "", true};
    case '.': return {".", ".", false, "", false};
    case '/': return {"/", "/", false, "", false};
    case ';': return {";", ";", true, "", false};
    case '?': return {"?", "&", true, "=", false};
    case '&': return {"&", "&", true, "=", false};
    default: return {"", ",", false, "", false};
  }
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
         || c == '.' || c == '_' || c == '~';
}

bool is_reserved(unsigned char c) {
  return std::strchr(":/?#[]@!$&'()*+,;=", c) != nullptr && c != 0;
}

bool is_hex(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/// Percent-encodes `s` for the operator: unreserved always pass; with `reserved`, reserved
/// characters and existing %XX triplets pass too.
std::string encode(std::string_view s, bool reserved) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (is_unreserved(c) || (reserved && is_reserved(c))) {
      out.push_back(static_cast<char>(c));
    } else if (reserved && c == '%' && i + 2 < s.size() && is_hex(s[i + 1])
               && is_hex(s[i + 2])) {
      out.append(s.substr(i, 3));
      i += 2;
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

/// The first `n` characters (code points) of UTF-8 `s`.
std::string_view prefix_chars(std::string_view s, std::size_t n) {
  std::size_t i = 0;
  for (std::size_t k = 0; k < n && i < s.size(); ++k) {
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80)
      ++i;
  }
  return s.substr(0, i);
}

bool valid_varchar(char c) {
  auto u = static_cast<unsigned char>(c);
  return (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '_'
         || c == '.' || c == '%';
}

} // namespace

std::optional<uri_template> uri_template::parse(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<uri_template> {
    if (error)
      *error = std::move(why);
    return std::nullopt;
  };
  uri_template t;
  t.text_ = std::string{text};
  std::size_t i = 0;
  while (i < text.size()) {
    auto open = text.find('{', i);
    if (text.substr(i, open - i).find('}') != std::string_view::npos)
      return fail("'}' without '{'");
    if (open != i) {
      part lit;
      lit.literal = std::string{text.substr(i, open == std::string_view::npos ? std::string_view::npos
                                                                              : open - i)};
      t.parts_.push_back(std::move(lit));
    }
    if (open == std::string_view::npos)
      break;
    auto close = text.find('}', open);
    if (close == std::string_view::npos)
      return fail("an expression is not closed");
    auto body = text.substr(open + 1, close - open - 1);
    part e;
    e.is_expr = true;
    if (!body.empty() && std::strchr("+#./;?&", body.front()) != nullptr) {
      e.op = body.front();
      body.remove_prefix(1);
    } else if (!body.empty() && std::strchr("=,!@|", body.front()) != nullptr) {
      return fail("reserved operator '" + std::string(1, body.front()) + "'");
    }
    if (body.empty())
      return fail("an empty expression");
    while (true) {
      auto comma = body.find(',');
      auto spec = body.substr(0, comma);
      varspec v;
      if (!spec.empty() && spec.back() == '*') {
        v.explode = true;
        spec.remove_suffix(1);
      } else if (auto colon = spec.find(':'); colon != std::string_view::npos) {
        auto digits = spec.substr(colon + 1);
        if (digits.empty() || digits.size() > 4 || digits.front() == '0'
            || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
          return fail("a prefix must be 1 to 9999");
        v.prefix = std::stoul(std::string{digits});
        spec = spec.substr(0, colon);
      }
      if (spec.empty() || !std::all_of(spec.begin(), spec.end(), valid_varchar))
        return fail("a variable name may have letters, digits, '_', '.' and %XX");
      v.name = std::string{spec};
      e.vars.push_back(std::move(v));
      if (comma == std::string_view::npos)
        break;
      body.remove_prefix(comma + 1);
    }
    t.parts_.push_back(std::move(e));
    i = close + 1;
  }
  return t;
}

std::string uri_template::expand(const template_vars& vars) const {
  std::string out;
  for (auto& p : parts_) {
    if (!p.is_expr) {
      out += p.literal;
      continue;
    }
    auto r = rules_of(p.op);
    bool first = true;
    for (auto& v : p.vars) {
      auto it = vars.find(v.name);
      if (it == vars.end())
        continue;
      auto& value = it->second;
      auto* str = std::get_if<std::string>(&value);
      auto* list = std::get_if<std::vector<std::string>>(&value);
      auto* map = std::get_if<std::vector<std::pair<std::string, std::string>>>(&value);
      if ((list && list->empty()) || (map && map->empty()))
        continue; // empty lists and maps are undefined
      out += first ? r.first : r.sep;
      first = false;
      if (str) {
        if (r.named) {
          out += encode(v.name, false);
          out += str->empty() ? r.ifemp : "=";
        }
        out += encode(v.prefix ? prefix_chars(*str, v.prefix) : std::string_view{*str}, r.reserved);
      } else if (!v.explode) {
        if (r.named)
          out += encode(v.name, false) + "=";
        std::string joined;
        if (list) {
          for (auto& item : *list)
            joined += (joined.empty() ? "" : ",") + encode(item, r.reserved);
        } else {
          for (auto& [k, val] : *map)
            joined += (joined.empty() ? "" : ",") + encode(k, r.reserved) + ","
                      + encode(val, r.reserved);
        }
        out += joined;
      } else {
        bool item_first = true;
        auto add = [&](const std::string& key, const std::string& val, bool keyed) {
          if (!item_first)
            out += r.sep;
          item_first = false;
          if (r.named) {
            out += encode(keyed ? key : v.name, false);
            out += val.empty() ? r.ifemp : "=";
            out += encode(val, r.reserved);
          } else if (keyed) {
            out += encode(key, r.reserved) + "=" + encode(val, r.reserved);
          } else {
            out += encode(val, r.reserved);
          }
        };
        if (list)
          for (auto& item : *list)
            add({}, item, false);
        else
          for (auto& [k, val] : *map)
            add(k, val, true);
      }
    }
  }
  return out;
}

std::size_t uri_template::expressions() const {
  return static_cast<std::size_t>(
    std::count_if(parts_.begin(), parts_.end(), [](const part& p) { return p.is_expr; }));
}

std::string_view uri_template::literal_prefix() const {
  if (parts_.empty() || parts_.front().is_expr)
    return {};
  return parts_.front().literal;
}

bool uri_template::matches(std::string_view text) const {
  auto n = text.size();
  std::vector<char> reach(n + 1, 0), next(n + 1, 0);
  std::vector<int> cover(n + 2, 0); // difference array of reachable end positions
  std::vector<std::size_t> run(n + 1, 0);
  reach[0] = 1;
  for (auto& p : parts_) {
    std::fill(next.begin(), next.end(), 0);
    if (!p.is_expr) {
      auto len = p.literal.size();
      for (std::size_t i = 0; i + len <= n; ++i)
        if (reach[i] && text.compare(i, len, p.literal) == 0)
          next[i + len] = 1;
    } else {
      auto r = rules_of(p.op);
      bool exploded = std::any_of(p.vars.begin(), p.vars.end(), [](auto& v) { return v.explode; });
      // The characters an expansion of this expression may contain after its first.
      auto allowed = [&](unsigned char c) {
        if (is_unreserved(c) || c == '%' || c == ',')
          return true;
        if (r.reserved)
          return is_reserved(c);
        switch (p.op) {
          case '.': return c == '.' || (exploded && c == '=');
          case '/': return c == '/' || (exploded && c == '=');
          case ';': return c == ';' || c == '=';
          case '?':
          case '&': return c == '&' || c == '=';
          default: return exploded && c == '=';
        }
      };
      run[n] = 0;
      for (std::size_t i = n; i-- > 0;)
        run[i] = allowed(static_cast<unsigned char>(text[i])) ? run[i + 1] + 1 : 0;
      std::fill(cover.begin(), cover.end(), 0);
      std::size_t first_len = std::strlen(r.first);
      for (std::size_t i = 0; i <= n; ++i) {
        if (!reach[i])
          continue;
        next[i] = 1; // every variable undefined: nothing
        std::size_t from = i;
        if (first_len > 0) {
          if (i >= n || text[i] != r.first[0])
            continue;
          from = i + 1;
        }
        // Ends anywhere from `from` to the end of the run of allowed characters there.
        cover[from] += 1;
        cover[from + run[from] + 1] -= 1;
      }
      int depth = 0;
      for (std::size_t i = 0; i <= n; ++i) {
        depth += cover[i];
        if (depth > 0)
          next[i] = 1;
      }
    }
    reach.swap(next);
  }
  return reach[n] != 0;
}

} // namespace herald::uri

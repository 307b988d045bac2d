#include "storage/topic_pattern.hpp"

#include <algorithm>

namespace herald {
namespace {

bool segment_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
         || c == '-' || c == '.' || c == '~';
}

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    auto slash = s.find('/', start);
    out.push_back(s.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos)
      return out;
    start = slash + 1;
  }
}

std::optional<std::string> validate(std::string_view name, bool allow_wildcards) {
  const char* what = allow_wildcards ? "topic pattern" : "topic";
  if (name.empty())
    return std::string{what} + " must not be empty";
  if (name.size() > max_topic_bytes)
    return std::string{what} + " is longer than 255 bytes";
  auto segments = split(name);
  for (std::size_t i = 0; i < segments.size(); ++i) {
    auto seg = segments[i];
    if (seg.empty())
      return std::string{what} + " has an empty segment (leading, trailing or double '/')";
    if (seg.size() > max_segment_bytes)
      return std::string{what} + " has a segment longer than 64 characters";
    if (seg == "*" || seg == "**") {
      if (!allow_wildcards)
        return "wildcards ('*', '**') are only allowed in subscriptions";
      if (seg == "**" && i + 1 != segments.size())
        return "'**' is only allowed as the last segment";
      continue;
    }
    if (!std::all_of(seg.begin(), seg.end(), segment_char))
      return std::string{what}
             + " segments may only contain letters, digits and '_', '-', '.', '~'";
  }
  return std::nullopt;
}

} // namespace

std::optional<std::string> validate_topic(std::string_view name) {
  return validate(name, false);
}

std::optional<std::string> validate_pattern(std::string_view pattern) {
  return validate(pattern, true);
}

bool is_wildcard(std::string_view pattern) {
  for (auto seg : split(pattern))
    if (seg == "*" || seg == "**")
      return true;
  return false;
}

bool topic_matches(std::string_view pattern, std::string_view topic) {
  // Walk both strings segment by segment without allocating: this runs once per event per
  // wildcard subscription on the fan-out path.
  if (is_internal_topic(topic))
    return false;
  std::size_t p = 0, t = 0;
  for (;;) {
    auto pe = pattern.find('/', p);
    auto pseg = pattern.substr(p, pe == std::string_view::npos ? pe : pe - p);
    if (pseg == "**")
      return t < topic.size(); // one or more trailing segments remain
    auto te = topic.find('/', t);
    auto tseg = topic.substr(t, te == std::string_view::npos ? te : te - t);
    if (pseg != "*" && pseg != tseg)
      return false;
    bool plast = pe == std::string_view::npos;
    bool tlast = te == std::string_view::npos;
    if (plast || tlast)
      return plast && tlast;
    p = pe + 1;
    t = te + 1;
  }
}

topic_filter::topic_filter(std::vector<std::string> patterns, principal_ptr viewer)
  : patterns_(std::move(patterns)), viewer_(std::move(viewer)) {
  std::sort(patterns_.begin(), patterns_.end());
  patterns_.erase(std::unique(patterns_.begin(), patterns_.end()), patterns_.end());
  has_wildcard_ = std::any_of(patterns_.begin(), patterns_.end(),
                              [](const std::string& p) { return is_wildcard(p); });
}

topic_filter::topic_filter(std::shared_ptr<const mercure_view> mercure)
  : patterns_{std::string{mercure_log_topic}}, mercure_(std::move(mercure)) {
  // nop
}

bool topic_filter::matches(std::string_view topic) const {
  for (auto& p : patterns_)
    if (has_wildcard_ ? topic_matches(p, topic) : p == topic)
      return true;
  return false;
}

std::optional<std::string> validate_event_type(std::string_view type) {
  if (type.empty() || type.size() > 64)
    return std::string{"type must be 1 to 64 characters"};
  for (char c : type)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':'
          || c == '-'))
      return std::string{"type may only contain letters, digits and '_', '.', ':', '-'"};
  if (type.rfind("herald.", 0) == 0)
    return std::string{"the type prefix 'herald.' is reserved for the hub's own events"};
  return std::nullopt;
}

} // namespace herald

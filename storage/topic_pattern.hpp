#pragma once
// Topic names and subscription patterns.
//
// A topic is 1..255 bytes of '/'-separated segments; a segment is 1..64 characters of
// [A-Za-z0-9_.~-]. A pattern is a topic in which a segment may be '*' (exactly one segment)
// and the last segment may be '**' (one or more trailing segments).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/principal.hpp"
#include "storage/mercure.hpp"

namespace herald {

inline constexpr std::size_t max_topic_bytes = 255;
inline constexpr std::size_t max_segment_bytes = 64;

/// Returns an error message, or nullopt when `name` is a valid concrete topic.
std::optional<std::string> validate_topic(std::string_view name);

/// Returns an error message, or nullopt when `pattern` is a valid subscription pattern.
std::optional<std::string> validate_pattern(std::string_view pattern);

/// Returns an error message, or nullopt when `type` is a valid event type (1 to 64 characters of
/// A-Z a-z 0-9 _ . : -, not starting with the reserved "herald.").
std::optional<std::string> validate_event_type(std::string_view type);

/// True when the pattern contains a wildcard segment.
bool is_wildcard(std::string_view pattern);

/// Matches a concrete topic against a (valid) pattern. Internal topics (`@mercure`) match no
/// pattern.
bool topic_matches(std::string_view pattern, std::string_view topic);

/// The set of patterns one stream or query follows, and who follows them: events with access
/// rules (auth/access.hpp) pass only if the viewer may see them (no viewer: public events only).
///
/// A Mercure subscriber's filter follows the internal topic `@mercure` and admits the updates its
/// selectors match (storage/mercure.hpp).
class topic_filter {
public:
  topic_filter() = default;
  explicit topic_filter(std::vector<std::string> patterns, principal_ptr viewer = nullptr);
  explicit topic_filter(std::shared_ptr<const mercure_view> mercure);

  bool matches(std::string_view topic) const;
  /// Whether this filter decides every event it matches (a Mercure filter), not only those with
  /// access rules.
  bool selects() const { return mercure_ != nullptr; }
  /// May the viewer see an event of `topic` (that matches) with these rules (and, for a Mercure
  /// update, these Mercure fields)?
  bool admits(std::string_view topic, const event_access& rules,
              const mercure_fields* mercure = nullptr) const {
    if (mercure_ != nullptr)
      return mercure != nullptr && mercure_->admits(*mercure, rules.is_private);
    return !rules.restricted() || (viewer_ != nullptr && may_see(*viewer_, topic, rules));
  }
  const principal_ptr& viewer() const { return viewer_; }
  const std::vector<std::string>& patterns() const { return patterns_; }
  /// Exactly one concrete topic: the storage can use its per-topic index.
  bool single_exact() const { return patterns_.size() == 1 && !has_wildcard_; }

private:
  std::vector<std::string> patterns_;
  bool has_wildcard_ = false;
  principal_ptr viewer_;
  std::shared_ptr<const mercure_view> mercure_;
};

} // namespace herald

#include "auth/principal.hpp"

#include <algorithm>

namespace herald {
namespace {

/// Takes the next '/'-separated segment off `s`; `more` says whether another one follows.
std::string_view next_segment(std::string_view& s, bool& more) {
  auto slash = s.find('/');
  auto seg = s.substr(0, slash);
  more = slash != std::string_view::npos;
  s = more ? s.substr(slash + 1) : std::string_view{};
  return seg;
}

/// One segment of a grant covers one (non-`**`) segment of a request.
bool segment_covers(std::string_view grant, std::string_view asked) {
  if (grant == "*")
    return asked != "**";
  return grant == asked;
}

} // namespace

principal principal::development() {
  principal p;
  p.from = origin::development;
  p.publish = {"**"};
  p.subscribe = {"**"};
  p.admin = true;
  p.mercure_publish = {"*"};
  p.mercure_subscribe = {"*"}; // private updates still need a verified token
  return p;
}

principal principal::anonymous(std::vector<std::string> publish,
                               std::vector<std::string> subscribe) {
  principal p;
  p.publish = std::move(publish);
  p.subscribe = std::move(subscribe);
  return p;
}

bool selector_covers(std::string_view selector, std::string_view pattern) {
  // Segment by segment, without allocating (this runs per private event per subscriber).
  bool grant_more = true;
  bool asked_more = true;
  while (grant_more) {
    auto grant = next_segment(selector, grant_more);
    if (grant == "**")
      return asked_more; // one or more further segments, whatever they are (`**` included)
    if (!asked_more)
      return false;
    if (!segment_covers(grant, next_segment(pattern, asked_more)))
      return false;
  }
  return !asked_more;
}

bool grants_cover(const std::vector<std::string>& selectors, std::string_view pattern) {
  return std::any_of(selectors.begin(), selectors.end(),
                     [&](const std::string& s) { return selector_covers(s, pattern); });
}

bool may_publish(const principal& who, std::string_view topic) {
  return grants_cover(who.publish, topic);
}

bool may_subscribe(const principal& who, std::string_view pattern) {
  return grants_cover(who.subscribe, pattern);
}

bool may_see(const principal& who, std::string_view topic, const event_access& rules) {
  if (!rules.restricted())
    return true;
  if (!who.authenticated())
    return false;
  if (rules.is_private && !grants_cover(who.subscribe, topic))
    return false;
  if (rules.audience.empty())
    return true;
  for (auto& a : rules.audience) {
    std::string_view v{a};
    if (v.substr(0, 4) == "sub:" && v.substr(4) == who.sub)
      return true;
    if (v.substr(0, 5) == "role:"
        && std::find(who.roles.begin(), who.roles.end(), v.substr(5)) != who.roles.end())
      return true;
  }
  return false;
}

bool may_use_session(const principal& who, const std::string& owner) {
  if (who.admin)
    return true;
  if (owner.empty())
    return !who.authenticated(); // a session made without a token is open to tokenless callers
  return who.authenticated() && who.sub == owner;
}

} // namespace herald

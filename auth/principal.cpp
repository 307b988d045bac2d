#include "auth/principal.hpp"

#include <algorithm>

namespace herald {
namespace {

/// The '/'-separated segments of a valid pattern (views into it).
std::vector<std::string_view> segments(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    auto slash = s.find('/');
    out.push_back(s.substr(0, slash));
    if (slash == std::string_view::npos)
      return out;
    s.remove_prefix(slash + 1);
  }
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
  auto grant = segments(selector);
  auto asked = segments(pattern);
  bool open_tail = grant.back() == "**"; // matches one or more further segments
  std::size_t fixed = open_tail ? grant.size() - 1 : grant.size();
  if (open_tail ? asked.size() <= fixed : asked.size() != fixed)
    return false;
  for (std::size_t i = 0; i < fixed; ++i)
    if (!segment_covers(grant[i], asked[i]))
      return false;
  // Past the fixed part an open tail covers anything, `**` included (it matches >= 1 segment,
  // and the request has at least one segment there).
  return true;
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

#pragma once
// Who may see an event: the access rules a publisher puts on it, stored with it and carried to
// every path that delivers it (live fan-out, replay, GET /v1/events, durable sessions).
//
//   private   only subscribers whose own verified token's `subscribe` grants cover the topic
//   audience  only subscribers whose token has one of these roles ("role:kitchen") or this
//             subject ("sub:42")
// Both together: a subscriber must pass both. An event with neither is public.

#include <string>
#include <vector>

namespace herald {

struct event_access {
  bool is_private = false;
  std::vector<std::string> audience; // "role:<role>" or "sub:<subject>"

  bool restricted() const { return is_private || !audience.empty(); }
};

} // namespace herald

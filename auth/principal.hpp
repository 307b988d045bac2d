#pragma once
// Who is asking, and the one place that decides what they may do.
//
// A principal comes from a verified token (its `sub`, `herald.publish`, `herald.subscribe`,
// `herald.admin`, `herald.roles` and `exp`), from `auth.anonymous` (a request without a token on
// a hub with keys), or is the development principal of a hub without keys on loopback, which may
// do everything except see private or targeted events (those need a verified token).
//
// Grants are topic selectors in the subscription grammar (storage/topic_pattern.hpp): exact
// topics, `*` (one segment) and a trailing `**` (one or more segments). A requested pattern is
// covered by a grant only if every topic it can match is matched by the grant.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/access.hpp"

namespace herald {

struct principal {
  enum class origin { anonymous, token, development };

  origin from = origin::anonymous;
  std::string sub;                // the token's subject; empty when anonymous
  std::vector<std::string> roles; // herald.roles
  std::vector<std::string> publish;   // selectors this principal may publish to
  std::vector<std::string> subscribe; // selectors this principal may read
  bool admin = false;                 // operator actions and every durable session
  std::int64_t expires_at = 0;        // the token's exp (seconds since the Unix epoch); 0: none
  /// The `mercure` claim, for Mercure's protocol (net/mercure_api.cpp): Mercure topic selectors
  /// (storage/mercure.hpp) this principal may publish to and receive private updates of, and
  /// its `payload` (JSON text, shown in subscription events; empty: none). A token with a
  /// `mercure` claim may omit `sub`; such a token grants nothing on /v1.
  std::vector<std::string> mercure_publish;
  std::vector<std::string> mercure_subscribe;
  std::string mercure_payload;

  bool authenticated() const { return from == origin::token; }
  /// The name rate limits and logs use: "sub:<sub>", or "" without a subject (the caller uses
  /// the client's address).
  std::string limit_key() const {
    return authenticated() && !sub.empty() ? "sub:" + sub : std::string{};
  }

  static principal development();
  static principal anonymous(std::vector<std::string> publish,
                             std::vector<std::string> subscribe);
};

using principal_ptr = std::shared_ptr<const principal>;

/// True when every topic `pattern` can match is matched by `selector` (both valid patterns).
bool selector_covers(std::string_view selector, std::string_view pattern);

/// True when one of `selectors` covers `pattern`.
bool grants_cover(const std::vector<std::string>& selectors, std::string_view pattern);

bool may_publish(const principal& who, std::string_view topic);
bool may_subscribe(const principal& who, std::string_view pattern);

/// May `who` receive an event of `topic` with access rules `rules`? Decided once per event per
/// subscription; public events cost one branch.
bool may_see(const principal& who, std::string_view topic, const event_access& rules);

/// May `who` use the durable session owned by `owner` (empty: created without a token)?
bool may_use_session(const principal& who, const std::string& owner);

} // namespace herald

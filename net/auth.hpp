#pragma once
// Authentication as middleware, and the HTTP side of authorization.
//
// auth_middleware::before finds the request's token (in this order: `Authorization: Bearer`, the
// cookie auth.cookie_name, the query parameter `access_token` unless auth.query_token is off),
// verifies it with the hub's keys (auth/tokens.hpp) and puts the principal on the request; a
// request without a token gets the anonymous principal (auth.anonymous), or the development
// principal on a hub without keys. A missing or bad token where one is needed is 401 with
// `WWW-Authenticate: Bearer` and a precise code; a cookie-authenticated request that changes
// state must come from an Origin listed in cors.allowed_origins (403 csrf_origin).
//
// What a principal may do is decided in auth/principal.hpp; the helpers here turn a refusal
// into the HTTP answer (401 when no token was given and one would help, else 403 forbidden).

#include <optional>
#include <string>
#include <vector>

#include "net/router.hpp"

namespace herald {

class auth_middleware : public middleware {
public:
  std::optional<http_response> before(hub_context& hub, route_request& r) override;
  /// Counts refusals (401, 403) for /v1/stats.
  void after(hub_context& hub, const http_request& req, http_head& res) override;
};

/// 401 with `code` and `message`, and the WWW-Authenticate challenge RFC 6750 asks for.
http_response unauthorized(const http_request& req, std::string_view code,
                           std::string_view message);

/// 401 for a request without a verified token, 403 forbidden for one with a token: the answer to
/// a request its principal may not make. `what` says what was refused.
http_response forbidden(const route_request& r, const std::string& what);

/// The refusal of publishing `events` (every topic must be granted: all or nothing), or nullopt.
std::optional<http_response> refuse_publish(const route_request& r,
                                            const std::vector<event_draft>& events);

/// The refusal of reading `patterns` (each must be covered by a subscribe grant), or nullopt.
std::optional<http_response> refuse_subscribe(const route_request& r,
                                              const std::vector<std::string>& patterns);

/// The refusal of an operator action (needs herald.admin), or nullopt.
std::optional<http_response> refuse_unless_admin(const route_request& r);

} // namespace herald

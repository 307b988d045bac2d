#include "net/auth.hpp"

#include <algorithm>
#include <chrono>

#include "auth/tokens.hpp"
#include "net/header_text.hpp"
#include "net/http_responses.hpp"
#include "net/hub_context.hpp"

namespace herald {
namespace {

std::string_view sv(boost::beast::string_view v) {
  return {v.data(), v.size()};
}

/// The value of cookie `name` in the request's Cookie headers, if any.
std::optional<std::string> cookie(const http_request& req, std::string_view name) {
  for (auto it = req.find(http::field::cookie); it != req.end() && it->name() == http::field::cookie;
       ++it) {
    auto rest = sv(it->value());
    while (!rest.empty()) {
      auto semi = rest.find(';');
      auto pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      auto eq = pair.find('=');
      if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
        auto value = trim(pair.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
          value = value.substr(1, value.size() - 2);
        return std::string{value};
      }
    }
  }
  return std::nullopt;
}

bool changes_state(http::verb v) {
  return v == http::verb::post || v == http::verb::put || v == http::verb::delete_
         || v == http::verb::patch;
}


std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

enum class token_source { none, header, cookie, query };

} // namespace

http_response unauthorized(const http_request& req, std::string_view code,
                           std::string_view message) {
  auto res = error_response(req, http::status::unauthorized, code, message);
  if (code == "token_missing")
    res.set(http::field::www_authenticate, "Bearer realm=\"herald\"");
  else
    res.set(http::field::www_authenticate,
            "Bearer realm=\"herald\", error=\"invalid_token\", error_description=\""
              + std::string{code} + "\"");
  return res;
}

std::optional<http_response> auth_middleware::before(hub_context& hub, route_request& r) {
  auto& cfg = hub.cfg;
  bool mercure = r.matched != nullptr && r.matched->auth == route_auth::mercure;
  // The query token is taken off the parameters in any case: handlers never see it, and it is
  // never logged. Mercure's clients call it `authorization`.
  std::string_view query_name = mercure ? "authorization" : "access_token";
  std::optional<std::string> query_token;
  auto& params = r.target.params;
  for (auto it = params.begin(); it != params.end();) {
    if (it->first == query_name) {
      query_token = std::move(it->second);
      it = params.erase(it);
    } else {
      ++it;
    }
  }
  auto keys = std::atomic_load(&hub.keys);
  if (keys == nullptr || keys->empty()) {
    // No keys: nobody can present a verifiable token; everyone is the hub's anonymous principal.
    r.who = hub.anonymous;
    return std::nullopt;
  }
  std::string token;
  auto source = token_source::none;
  if (auto auth = sv(r.req[http::field::authorization]); !auth.empty()) {
    auto space = auth.find(' ');
    if (space == std::string_view::npos || !iequals(auth.substr(0, space), "Bearer"))
      return unauthorized(r.req, "token_malformed",
                          "the Authorization header must be 'Bearer <token>'");
    token = std::string{trim(auth.substr(space + 1))};
    source = token_source::header;
  } else if (mercure && query_token) {
    // Mercure's precedence: the header, then the query parameter, then the cookie.
    token = std::move(*query_token);
    source = token_source::query;
  } else if (auto c = cookie(r.req, mercure ? std::string_view{"mercureAuthorization"}
                                            : std::string_view{cfg.auth_cookie_name})) {
    token = std::move(*c);
    source = token_source::cookie;
  } else if (query_token) {
    if (!cfg.auth_query_token)
      return unauthorized(r.req, "query_token_disabled",
                          "tokens in the query string are turned off on this hub "
                          "(auth.query_token); send an Authorization header or a cookie");
    token = std::move(*query_token);
    source = token_source::query;
  }
  if (source == token_source::none) {
    r.who = hub.anonymous;
    return std::nullopt;
  }
  if (token.empty())
    return unauthorized(r.req, "token_malformed", "the token is empty");
  auto now = unix_now();
  principal_ptr who;
  if (auto* conn = r.conn; conn != nullptr && conn->token_keys == keys && conn->token == token
                           && conn->token_principal != nullptr
                           && (conn->token_principal->expires_at == 0
                               || now < conn->token_principal->expires_at)) {
    // The token this connection presented before, under the same keys, not yet expired: its
    // signature and claims were checked then (a keep-alive publisher sends it every time).
    who = conn->token_principal;
  } else {
    auto verified = keys->verify(token, now);
    if (auto* no = std::get_if<token_refusal>(&verified)) {
      if (r.matched != nullptr && r.matched->auth == route_auth::page) {
        r.token_refused = *no;
        r.who = hub.anonymous;
        return std::nullopt;
      }
      return unauthorized(r.req, no->code, no->message);
    }
    who = std::make_shared<const principal>(std::get<principal>(std::move(verified)));
    if (conn != nullptr) {
      conn->token = token;
      conn->token_keys = keys;
      conn->token_principal = who;
    }
  }
  if (source == token_source::cookie && changes_state(r.req.method())) {
    // A browser attaches cookies to cross-site requests: state changes need an allowed Origin
    // (Mercure's publishers: one of mercure.publish_origins).
    auto origin = sv(r.req[http::field::origin]);
    auto live = hub.settings();
    auto& allowed = mercure ? cfg.mercure_publish_origins : live->cors_allowed_origins;
    bool ok = !origin.empty()
              && std::any_of(allowed.begin(), allowed.end(),
                             [&](const std::string& o) {
                               return o == origin || (mercure && o == "*");
                             });
    if (!ok)
      return error_response(r.req, http::status::forbidden, "csrf_origin",
                            mercure ? "a Mercure publish authenticated by cookie must come from "
                                      "an Origin listed in mercure.publish_origins"
                                    : "a request authenticated by cookie that changes state must "
                                      "come from an Origin listed in cors.allowed_origins");
  }
  r.who = std::move(who);
  return std::nullopt;
}

void auth_middleware::after(hub_context& hub, const http_request&, http_head& res) {
  if (res.result() == http::status::unauthorized)
    ++hub.stats.auth_failures;
  else if (res.result() == http::status::forbidden)
    ++hub.stats.forbidden;
}

http_response forbidden(const route_request& r, const std::string& what) {
  if (!r.who->authenticated() && r.who->from != principal::origin::development)
    return unauthorized(r.req, "token_missing", what + " needs a token");
  return error_response(r.req, http::status::forbidden, "forbidden",
                        "the token does not grant " + what);
}

std::optional<http_response> refuse_publish(const route_request& r,
                                            const std::vector<event_draft>& events) {
  for (auto& ev : events)
    if (!may_publish(*r.who, ev.topic))
      return forbidden(r, "publishing to '" + ev.topic + "'");
  return std::nullopt;
}

std::optional<http_response> refuse_subscribe(const route_request& r,
                                              const std::vector<std::string>& patterns) {
  for (auto& p : patterns)
    if (!may_subscribe(*r.who, p))
      return forbidden(r, "reading '" + p + "'");
  return std::nullopt;
}

std::optional<http_response> refuse_unless_admin(const route_request& r) {
  if (r.who->admin)
    return std::nullopt;
  return forbidden(r, "operator access (herald.admin)");
}

} // namespace herald

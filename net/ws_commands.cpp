// The commands of a WebSocket connection (net/ws_protocol.hpp): each becomes the HTTP request it
// stands for and goes through the router with the connection's credentials; a stream answer
// becomes one of the connection's subscriptions. The socket side (framing, reading, writing,
// closing) is ws_session.cpp.
#include "net/ws_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <spdlog/spdlog.h>

#include "net/http_responses.hpp"
#include "uri/uri.hpp"

namespace herald {

namespace net = boost::asio;
using tcp = net::ip::tcp;

template <class Stream>
void basic_ws_session<Stream>::on_message(std::string_view text) {
  auto& cfg = hub_.cfg;
  auto parsed = parse_ws_message(text, cfg.limits_max_json_depth,
                                 cfg.limits_max_topics_per_subscription);
  if (auto* no = std::get_if<ws_refusal>(&parsed)) {
    ++hub_.stats.websocket_refusals;
    return send(render_ws_error(no->req, no->code, no->message));
  }
  auto& m = std::get<ws_message>(parsed);
  std::visit(
    [&](auto& cmd) {
      using T = std::decay_t<decltype(cmd)>;
      if constexpr (std::is_same_v<T, ws_subscribe>)
        subscribe(m.req, cmd);
      else if constexpr (std::is_same_v<T, ws_attach>)
        attach(m.req, cmd);
      else if constexpr (std::is_same_v<T, ws_unsubscribe>)
        unsubscribe(m.req, cmd);
      else if constexpr (std::is_same_v<T, ws_publish>)
        publish(m.req, cmd);
      else if constexpr (std::is_same_v<T, ws_ack>)
        ack(m.req, cmd);
      else
        authenticate(m.req, cmd);
    },
    m.command);
}

// -- commands -----------------------------------------------------------------------------------

template <class Stream>
http_request basic_ws_session<Stream>::make_request(http::verb method, std::string target,
                                                       std::string body) const {
  http_request req{method, target, 11};
  if (!bearer_.empty())
    req.set(http::field::authorization, "Bearer " + bearer_);
  else if (!cookie_.empty())
    req.set(http::field::cookie, cookie_);
  if (!origin_.empty())
    req.set(http::field::origin, origin_);
  if (method == http::verb::post) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
  }
  return req;
}

template <class Stream>
void basic_ws_session<Stream>::subscribe(const std::string& reqid, const ws_subscribe& s) {
  std::string target = "/v1/subscribe";
  char sep = '?';
  for (auto& t : s.topics) {
    target.append(1, sep).append("topic=").append(uri::percent_encode(t));
    sep = '&';
  }
  auto req = make_request(http::verb::get, std::move(target));
  if (!s.last_event_id.empty())
    req.set("Last-Event-ID", s.last_event_id);
  route(std::move(req), reqid, s.sub);
}

template <class Stream>
void basic_ws_session<Stream>::attach(const std::string& reqid, const ws_attach& a) {
  auto req = make_request(http::verb::get,
                          "/v1/sessions/" + uri::percent_encode(a.session) + "/events");
  if (!a.last_event_id.empty())
    req.set("Last-Event-ID", a.last_event_id);
  route(std::move(req), reqid, a.sub);
}

template <class Stream>
void basic_ws_session<Stream>::unsubscribe(const std::string& reqid, const ws_unsubscribe& u) {
  if (subs_.find(u.sub) == subs_.end())
    return send(render_ws_reply(reqid, u.sub, 404,
                                error_body("unknown_subscription",
                                           "this connection has no subscription '" + u.sub
                                             + "'")));
  remove_subscription(u.sub, close_reason::client_closed);
  send(render_ws_reply(reqid, u.sub, 200, "{}"));
}

template <class Stream>
void basic_ws_session<Stream>::publish(const std::string& reqid, ws_publish& p) {
  route(make_request(http::verb::post, "/v1/publish", std::move(p.body)), reqid, {});
}

template <class Stream>
void basic_ws_session<Stream>::ack(const std::string& reqid, ws_ack& a) {
  route(make_request(http::verb::post, "/v1/sessions/" + uri::percent_encode(a.session) + "/ack",
                     std::move(a.body)),
        reqid, {});
}

template <class Stream>
void basic_ws_session<Stream>::authenticate(const std::string& reqid, const ws_auth& a) {
  // Checked now, so the client hears at once whether its new token is good; later commands
  // carry it (and the auth middleware reuses this verification while the token is valid).
  auto keys = std::atomic_load(&hub_.keys);
  if (keys == nullptr || keys->empty())
    return send(render_ws_reply(reqid, {}, 200, R"({"expires_at":null})"));
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  auto verified = keys->verify(a.token, now);
  if (auto* no = std::get_if<token_refusal>(&verified)) {
    ++hub_.stats.auth_failures;
    return send(render_ws_reply(reqid, {}, 401, error_body(no->code, no->message)));
  }
  auto who = std::make_shared<const principal>(std::get<principal>(std::move(verified)));
  conn_.token = a.token;
  conn_.token_keys = keys;
  conn_.token_principal = who;
  bearer_ = a.token;
  cookie_.clear();
  send(render_ws_reply(reqid, {}, 200,
                       who->expires_at > 0
                         ? R"({"expires_at":)" + std::to_string(who->expires_at) + "}"
                         : std::string{R"({"expires_at":null})"}));
}

template <class Stream>
void basic_ws_session<Stream>::route(http_request req, std::string reqid, std::string sub) {
  if (!sub.empty()) {
    if (subs_.count(sub) != 0)
      return send(render_ws_reply(reqid, sub, 409,
                                  error_body("subscription_exists",
                                             "this connection already has a subscription '"
                                               + sub + "'; unsubscribe first")));
    if (subs_.size() >= hub_.cfg.websocket_max_subscriptions)
      return send(render_ws_reply(
        reqid, sub, 429,
        error_body("too_many_subscriptions",
                   "a connection may hold at most "
                     + std::to_string(hub_.cfg.websocket_max_subscriptions)
                     + " subscriptions (websocket.max_subscriptions)")));
  }
  bool counted = sub.empty();
  if (counted)
    ++in_flight_;
  auto self = this->shared_from_this();
  hub_.routes->handle(
    hub_, std::move(req), conn_,
    [self, reqid, sub, counted](http_response res) {
      // Possibly from an actor's thread: back to the connection's.
      net::dispatch(self->stream_.get_executor(), [self, reqid, sub, counted, res = std::move(res)] {
        self->answered(reqid, sub, counted, res);
      });
    },
    [&](stream_order order) {
      if (order.start.transport != stream_transport::sse || !order.start.spawn)
        return send(render_ws_reply(reqid, sub, 400,
                                    error_body("invalid_message", "not a subscription")));
      add_subscription(sub, reqid, std::move(order.start));
    });
}

template <class Stream>
void basic_ws_session<Stream>::answered(const std::string& reqid, const std::string& sub,
                                           bool counted, const http_response& res) {
  if (counted)
    --in_flight_;
  if (closed_)
    return;
  send(render_ws_reply(reqid, sub, res.result_int(), res.body()));
  do_read();
}

template <class Stream>
void basic_ws_session<Stream>::add_subscription(std::string name, std::string reqid,
                                                   stream_start start) {
  auto s = std::make_shared<subscription>();
  s->name = std::move(name);
  s->prefix = ws_sub_prefix(json_string(s->name));
  s->req = std::move(reqid);
  s->serial = ++serials_;
  std::weak_ptr<shard_writer> weak = this->shared_from_this();
  s->queue = std::make_shared<outbound_queue>(hub_.cfg.limits_slow_consumer_bytes,
                                              [weak, shard = &shard_] { shard->wake(weak); },
                                              hub_.outbound_bytes);
  s->leases = std::move(start.leases);
  s->actor = start.spawn(s->queue, id_ + "/" + std::to_string(s->serial));
  if (start.expires_at > 0)
    arm_expiry(*s, start.expires_at);
  ++hub_.stats.websocket_subscriptions;
  spdlog::info("event=websocket_subscribed conn={} sub={} {}", id_, json_string(s->name),
               start.what);
  subs_.emplace(s->name, std::move(s));
}

template <class Stream>
void basic_ws_session<Stream>::arm_expiry(subscription& s, std::int64_t expires_at) {
  s.expiry = std::make_unique<net::system_timer>(stream_.get_executor());
  auto at = std::chrono::system_clock::time_point{std::chrono::seconds(expires_at)};
  s.expiry->expires_at(std::max(at, std::chrono::system_clock::now()));
  s.expiry->async_wait([weak = this->weak_from_this(), name = s.name,
                        serial = s.serial](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_)
      return;
    auto it = self->subs_.find(name);
    if (it == self->subs_.end() || it->second->serial != serial)
      return;
    // The subscription ends; the socket stays for a fresh token ("auth") and a resubscribe.
    ++self->hub_.stats.token_expiries;
    it->second->queue->close_after_flush(
      close_reason::token_expired,
      {stream_item::make_notice("herald.token_expired", R"({"reason":"token_expired"})")});
  });
}

template <class Stream>
void basic_ws_session<Stream>::remove_subscription(const std::string& name, close_reason why) {
  auto it = subs_.find(name);
  if (it == subs_.end())
    return;
  auto& s = *it->second;
  s.queue->mark_closed(why);
  caf::anon_send_exit(s.actor, caf::exit_reason::user_shutdown);
  if (s.expiry)
    s.expiry->cancel();
  --hub_.stats.websocket_subscriptions;
  subs_.erase(it);
}

// The members defined here, for both kinds of connection (the class is instantiated in
// ws_session.cpp).
#define HERALD_WS_COMMANDS(Stream)                                                             \
  template void basic_ws_session<Stream>::on_message(std::string_view);                        \
  template http_request basic_ws_session<Stream>::make_request(http::verb, std::string,         \
                                                               std::string) const;             \
  template void basic_ws_session<Stream>::subscribe(const std::string&, const ws_subscribe&);  \
  template void basic_ws_session<Stream>::attach(const std::string&, const ws_attach&);        \
  template void basic_ws_session<Stream>::unsubscribe(const std::string&,                      \
                                                      const ws_unsubscribe&);                  \
  template void basic_ws_session<Stream>::publish(const std::string&, ws_publish&);            \
  template void basic_ws_session<Stream>::ack(const std::string&, ws_ack&);                    \
  template void basic_ws_session<Stream>::authenticate(const std::string&, const ws_auth&);     \
  template void basic_ws_session<Stream>::route(http_request, std::string, std::string);       \
  template void basic_ws_session<Stream>::answered(const std::string&, const std::string&,     \
                                                   bool, const http_response&);                \
  template void basic_ws_session<Stream>::add_subscription(std::string, std::string,           \
                                                           stream_start);                      \
  template void basic_ws_session<Stream>::arm_expiry(subscription&, std::int64_t);             \
  template void basic_ws_session<Stream>::remove_subscription(const std::string&, close_reason);

HERALD_WS_COMMANDS(tcp::socket)
HERALD_WS_COMMANDS(tls_stream)
#undef HERALD_WS_COMMANDS

} // namespace herald

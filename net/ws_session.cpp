#include "net/ws_session.hpp"

#include <chrono>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <spdlog/spdlog.h>

#include "net/http_responses.hpp"
#include "net/sse_stream.hpp"
#include "uri/uri.hpp"

namespace herald {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

write_shard& shard_of(const net::any_io_executor& ex) {
  return write_shard::of(static_cast<net::io_context&>(net::query(ex, net::execution::context)));
}

std::string_view sv(beast::string_view s) {
  return {s.data(), s.size()};
}

/// The value of `access_token` in the upgrade's query string, if any (browsers cannot set
/// headers on a WebSocket).
std::string query_token(const http_request& req) {
  auto target = uri::parse_request_target(sv(req.target()));
  if (!target)
    return {};
  if (auto* t = target->param("access_token"))
    return *t;
  return {};
}

/// 1001 and its reason for a connection told to go away.
std::string going_away(std::string_view why, std::uint64_t retry_ms) {
  return std::string{why} + "; retry_ms=" + std::to_string(retry_ms);
}

} // namespace

template <class NextLayer>
void basic_ws_session<NextLayer>::start(hub_context& hub, NextLayer next,
                                        std::shared_ptr<net::ssl::context> tls,
                                        stream_order order, std::string client_ip) {
  auto s = std::make_shared<basic_ws_session>(hub, std::move(next), std::move(tls),
                                              std::move(client_ip));
  s->accept(std::move(order));
}

template <class NextLayer>
basic_ws_session<NextLayer>::basic_ws_session(hub_context& hub, NextLayer next,
                                              std::shared_ptr<net::ssl::context> tls,
                                              std::string client_ip)
  : hub_(hub), shard_(shard_of(next.get_executor())), hub_alive_(hub.alive),
    tls_ctx_(std::move(tls)), ws_(std::move(next)), id_(random_connection_id()) {
  conn_.client_ip = std::move(client_ip);
  ++hub_.stats.websockets;
}

template <class NextLayer>
basic_ws_session<NextLayer>::~basic_ws_session() {
  // Normally finished already; this covers an io_context torn down under the connection. If the
  // hub is gone too, there is nothing left to release.
  if (closed_ || !hub_alive_->load())
    return;
  for (auto& [name, s] : subs_) {
    s->queue->mark_closed(close_reason::shutdown);
    caf::anon_send_exit(s->actor, caf::exit_reason::user_shutdown);
    --hub_.stats.websocket_subscriptions;
  }
  hub_.websockets.remove(this);
  --hub_.stats.open_connections;
  --hub_.stats.websockets;
}

template <class NextLayer>
void basic_ws_session<NextLayer>::accept(stream_order order) {
  auto& cfg = hub_.cfg;
  auto& req = order.req;
  // The credentials every command carries: the upgrade's (the auth middleware accepted them).
  if (auto auth = sv(req[http::field::authorization]); !auth.empty()) {
    auto space = auth.find(' ');
    bearer_ = std::string{auth.substr(space == std::string_view::npos ? auth.size() : space + 1)};
  } else if (auto cookie = sv(req[http::field::cookie]); !cookie.empty()) {
    cookie_ = std::string{cookie};
  } else {
    bearer_ = query_token(req);
  }
  origin_ = std::string{sv(req[http::field::origin])};
  hub_.websockets.add(this, this->weak_from_this());

  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout limits;
  limits.handshake_timeout = std::chrono::seconds(cfg.limits_header_timeout_seconds);
  limits.idle_timeout = std::chrono::seconds(2 * cfg.websocket_ping_seconds);
  limits.keep_alive_pings = true;
  ws_.set_option(limits);
  websocket::permessage_deflate deflate;
  deflate.server_enable = cfg.websocket_compression;
  ws_.set_option(deflate);
  ws_.read_message_max(0); // the session bounds messages itself (and answers, not closes)
  ws_.text(true);
  ws_.set_option(websocket::stream_base::decorator(
    [finish = std::move(order.finish), id = id_](websocket::response_type& res) {
      res.set(http::field::server, "herald/" HERALD_VERSION);
      res.set("Herald-Connection-Id", id);
      finish(res);
    }));
  ws_.async_accept(req, [self = this->shared_from_this()](beast::error_code ec) {
    if (ec)
      return self->finish(close_reason::rejected);
    spdlog::info("event=websocket_opened conn={} ip={}", self->id_, self->conn_.client_ip);
    self->do_read();
  });
}

// -- reading ------------------------------------------------------------------------------------

template <class NextLayer>
bool basic_ws_session<NextLayer>::may_read() const {
  return !closed_ && !closing_ && in_flight_ < hub_.cfg.limits_max_pipelined_requests
         && out_bytes_ < hub_.cfg.limits_max_body_bytes;
}

template <class NextLayer>
void basic_ws_session<NextLayer>::do_read() {
  if (reading_ || !may_read())
    return;
  reading_ = true;
  constexpr std::size_t chunk = 16 * 1024;
  ws_.async_read_some(in_.prepare(chunk),
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                        // reading_ stays set while the message is handled: an answer given
                        // meanwhile must not start a read into in_ under on_read's feet.
                        self->on_read(ec, n);
                      });
}

template <class NextLayer>
void basic_ws_session<NextLayer>::on_read(beast::error_code ec, std::size_t n) {
  if (ec) // the peer closed (websocket::error::closed), went away or stopped answering pings
    return finish(close_reason::client_closed);
  if (closed_)
    return;
  message_bytes_ += n;
  if (!oversized_ && message_bytes_ > hub_.cfg.websocket_max_message_bytes) {
    // Read on and drop the rest: the message is refused, the connection goes on.
    oversized_ = true;
    in_.clear();
  }
  if (!oversized_)
    in_.commit(n);
  if (ws_.is_message_done()) {
    ++hub_.stats.websocket_messages_in;
    if (oversized_) {
      ++hub_.stats.websocket_refusals;
      send(render_ws_error({}, "message_too_big",
                           "a message may have at most "
                             + std::to_string(hub_.cfg.websocket_max_message_bytes)
                             + " bytes (websocket.max_message_bytes)"));
    } else if (ws_.got_binary()) {
      ++hub_.stats.websocket_refusals;
      send(render_ws_error({}, "binary_message",
                           "binary messages are not part of the protocol; send JSON text"));
    } else {
      auto data = in_.cdata();
      on_message({static_cast<const char*>(data.data()), data.size()});
    }
    in_.clear();
    message_bytes_ = 0;
    oversized_ = false;
  }
  reading_ = false;
  do_read();
}

template <class NextLayer>
void basic_ws_session<NextLayer>::on_message(std::string_view text) {
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

template <class NextLayer>
http_request basic_ws_session<NextLayer>::make_request(http::verb method, std::string target,
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

template <class NextLayer>
void basic_ws_session<NextLayer>::subscribe(const std::string& reqid, const ws_subscribe& s) {
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

template <class NextLayer>
void basic_ws_session<NextLayer>::attach(const std::string& reqid, const ws_attach& a) {
  auto req = make_request(http::verb::get,
                          "/v1/sessions/" + uri::percent_encode(a.session) + "/events");
  if (!a.last_event_id.empty())
    req.set("Last-Event-ID", a.last_event_id);
  route(std::move(req), reqid, a.sub);
}

template <class NextLayer>
void basic_ws_session<NextLayer>::unsubscribe(const std::string& reqid, const ws_unsubscribe& u) {
  if (subs_.find(u.sub) == subs_.end())
    return send(render_ws_reply(reqid, u.sub, 404,
                                error_body("unknown_subscription",
                                           "this connection has no subscription '" + u.sub
                                             + "'")));
  remove_subscription(u.sub, close_reason::client_closed);
  send(render_ws_reply(reqid, u.sub, 200, "{}"));
}

template <class NextLayer>
void basic_ws_session<NextLayer>::publish(const std::string& reqid, ws_publish& p) {
  route(make_request(http::verb::post, "/v1/publish", std::move(p.body)), reqid, {});
}

template <class NextLayer>
void basic_ws_session<NextLayer>::ack(const std::string& reqid, ws_ack& a) {
  route(make_request(http::verb::post, "/v1/sessions/" + uri::percent_encode(a.session) + "/ack",
                     std::move(a.body)),
        reqid, {});
}

template <class NextLayer>
void basic_ws_session<NextLayer>::authenticate(const std::string& reqid, const ws_auth& a) {
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

template <class NextLayer>
void basic_ws_session<NextLayer>::route(http_request req, std::string reqid, std::string sub) {
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
      net::dispatch(self->ws_.get_executor(), [self, reqid, sub, counted, res = std::move(res)] {
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

template <class NextLayer>
void basic_ws_session<NextLayer>::answered(const std::string& reqid, const std::string& sub,
                                           bool counted, const http_response& res) {
  if (counted)
    --in_flight_;
  if (closed_)
    return;
  send(render_ws_reply(reqid, sub, res.result_int(), res.body()));
  do_read();
}

template <class NextLayer>
void basic_ws_session<NextLayer>::add_subscription(std::string name, std::string reqid,
                                                   stream_start start) {
  auto s = std::make_shared<subscription>();
  s->name = std::move(name);
  s->prefix = ws_sub_prefix(json_string(s->name));
  s->req = std::move(reqid);
  s->serial = ++serials_;
  std::weak_ptr<shard_writer> weak = this->shared_from_this();
  s->queue = std::make_shared<outbound_queue>(hub_.cfg.limits_slow_consumer_bytes,
                                              [weak, shard = &shard_] { shard->wake(weak); });
  s->leases = std::move(start.leases);
  s->actor = start.spawn(s->queue, id_ + "/" + std::to_string(s->serial));
  if (start.expires_at > 0)
    arm_expiry(*s, start.expires_at);
  ++hub_.stats.websocket_subscriptions;
  spdlog::info("event=websocket_subscribed conn={} sub={} {}", id_, json_string(s->name),
               start.what);
  subs_.emplace(s->name, std::move(s));
}

template <class NextLayer>
void basic_ws_session<NextLayer>::arm_expiry(subscription& s, std::int64_t expires_at) {
  s.expiry = std::make_unique<net::system_timer>(ws_.get_executor());
  auto at = std::chrono::system_clock::time_point{std::chrono::seconds(expires_at)};
  s.expiry->expires_at(std::max(at, std::chrono::system_clock::now()));
  s.expiry->async_wait([weak = this->weak_from_this(), name = s.name,
                        serial = s.serial](beast::error_code ec) {
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

template <class NextLayer>
void basic_ws_session<NextLayer>::remove_subscription(const std::string& name, close_reason why) {
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

// -- writing ------------------------------------------------------------------------------------

template <class NextLayer>
void basic_ws_session<NextLayer>::send(std::string message) {
  if (closed_)
    return;
  out_bytes_ += message.size();
  out_.push_back(std::move(message));
  write();
}

template <class NextLayer>
void basic_ws_session<NextLayer>::write() {
  if (closed_ || pumping_)
    return;
  if (writing_) {
    // A stalled write never completes: a slow-consumer verdict must not wait for it.
    for (auto& [name, s] : subs_)
      if (s->queue->aborted() && s->queue->reason() == close_reason::slow_consumer)
        return finish(close_reason::slow_consumer);
    return;
  }
  pumping_ = true;
  bool started = pump();
  pumping_ = false;
  if (started || closed_)
    return;
  if (closing_ && !close_sent_) {
    close_sent_ = true;
    ws_.async_close(close_reason_, [self = this->shared_from_this()](beast::error_code) {
      self->finish(close_reason::client_closed);
    });
  }
}

template <class NextLayer>
bool basic_ws_session<NextLayer>::pump() {
  if (closed_)
    return false;
  if (!out_.empty()) {
    message_ = std::move(out_.front());
    out_.pop_front();
    out_bytes_ -= message_.size();
    write_message({net::buffer(message_)}, nullptr, false);
    return true;
  }
  if (closing_ || subs_.empty())
    return false;
  // Subscriptions take turns, a message each, starting after the one written last.
  std::vector<sub_ptr> order;
  order.reserve(subs_.size());
  for (auto it = subs_.upper_bound(turn_); it != subs_.end(); ++it)
    order.push_back(it->second);
  for (auto it = subs_.begin(); it != subs_.end() && it->first <= turn_; ++it)
    order.push_back(it->second);
  for (auto& s : order) {
    if (auto it = subs_.find(s->name); it == subs_.end() || it->second != s)
      continue; // removed during an earlier one's turn
    if (pump(s))
      return true;
    if (closed_ || !out_.empty())
      return pump();
  }
  return false;
}

template <class NextLayer>
bool basic_ws_session<NextLayer>::pump(const sub_ptr& sp) {
  auto& s = *sp;
  for (;;) {
    while (s.next < s.batch.size()) {
      auto& item = *s.batch[s.next++];
      bool last = s.next == s.batch.size();
      if (item.kind == item_kind::retry)
        s.retry_ms = item.retry_ms;
      auto& tail = ws_frame_tail(item);
      if (tail.empty()) {
        if (last)
          batch_written(s);
        continue;
      }
      turn_ = s.name;
      write_message({net::buffer(s.prefix), net::buffer(tail)}, sp, last);
      return true;
    }
    s.batch.clear();
    s.next = 0;
    auto r = s.queue->take(s.batch);
    switch (r.kind) {
      case outbound_queue::take_kind::idle:
        return false;
      case outbound_queue::take_kind::items:
        s.taken_bytes = r.bytes;
        s.events = r.events;
        if (!s.confirmed) {
          // The subscription's actor accepted it: the reply goes before its first message.
          s.confirmed = true;
          send(render_ws_reply(s.req, s.name, 200, "{}"));
          return false;
        }
        continue;
      case outbound_queue::take_kind::reject: {
        auto res = error_response(http_request{}, r.error);
        auto reply = render_ws_reply(s.req, s.name, res.result_int(), res.body());
        remove_subscription(s.name, close_reason::rejected);
        send(std::move(reply));
        return false;
      }
      case outbound_queue::take_kind::close:
        ended(s, r.reason);
        return false;
    }
  }
}

template <class NextLayer>
void basic_ws_session<NextLayer>::ended(subscription& s, close_reason why) {
  if (!s.confirmed && why != close_reason::shutdown && why != close_reason::slow_consumer) {
    // Ended before it started (e.g. its token expired meanwhile): the command's answer says so.
    auto expired = why == close_reason::token_expired;
    auto reply = render_ws_reply(
      s.req, s.name, expired ? 401 : 503,
      expired ? error_body("token_expired", "the token expired before the subscription started")
              : error_body(to_string(why), "the subscription ended before it started"));
    remove_subscription(s.name, why);
    return send(std::move(reply));
  }
  switch (why) {
    case close_reason::shutdown:
    case close_reason::max_age:
      // The connection goes, with the retry hint the queue gave.
      return begin_close(websocket::close_code::going_away,
                         going_away(to_string(why), s.retry_ms ? s.retry_ms
                                                                : hub_.cfg.sse_retry_ms));
    case close_reason::slow_consumer:
      return finish(why);
    default: {
      auto message = render_ws_ended(json_string(s.name), to_string(why));
      remove_subscription(s.name, why);
      send(std::move(message));
    }
  }
}

template <class NextLayer>
void basic_ws_session<NextLayer>::batch_written(subscription& s) {
  s.queue->written(s.taken_bytes);
  hub_.stats.events_delivered += s.events;
  s.taken_bytes = 0;
  s.events = 0;
}

template <class NextLayer>
void basic_ws_session<NextLayer>::write_message(std::vector<net::const_buffer> buffers, sub_ptr sub,
                                                bool last_of_batch) {
  writing_ = true;
  std::size_t bytes = 0;
  for (auto& b : buffers)
    bytes += b.size();
  // `sub` (its prefix and its batch) stays alive until the write completes, even if the client
  // unsubscribes meanwhile; message_ is not touched while writing_.
  ws_.async_write(buffers, [self = this->shared_from_this(), sub = std::move(sub), last_of_batch,
                            bytes](beast::error_code ec, std::size_t) {
    self->writing_ = false;
    if (ec)
      return self->finish(close_reason::write_error);
    ++self->messages_out_;
    self->bytes_out_ += bytes;
    if (auto it = self->subs_.find(sub ? sub->name : std::string{});
        last_of_batch && it != self->subs_.end() && it->second == sub)
      self->batch_written(*sub);
    self->write();
    self->do_read();
  });
}

template <class NextLayer>
void basic_ws_session<NextLayer>::begin_close(std::uint16_t code, std::string reason) {
  if (closing_ || closed_)
    return;
  closing_ = true;
  close_reason_ = websocket::close_reason{static_cast<websocket::close_code>(code), reason};
  write();
}

template <class NextLayer>
void basic_ws_session<NextLayer>::go_away(std::uint64_t retry_ms) {
  net::post(ws_.get_executor(), [self = this->shared_from_this(), retry_ms] {
    // A subscription hears of shutdown through its queue; a connection without one is told here.
    if (self->closed_ || self->closing_ || !self->subs_.empty())
      return;
    self->send(R"({"op":"shutdown","data":{"reason":"shutdown","retry_ms":)"
               + std::to_string(retry_ms) + "}}");
    self->begin_close(websocket::close_code::going_away, going_away("shutdown", retry_ms));
  });
}

template <class NextLayer>
void basic_ws_session<NextLayer>::finish(close_reason why) {
  if (closed_)
    return;
  closed_ = true;
  while (!subs_.empty())
    remove_subscription(subs_.begin()->first, why);
  out_.clear();
  if (why == close_reason::slow_consumer)
    ++hub_.stats.slow_consumer_disconnects;
  --hub_.stats.websockets;
  beast::error_code ignored;
  auto& sock = beast::get_lowest_layer(ws_).socket();
  sock.shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  sock.close(ignored);
  hub_.websockets.remove(this);
  --hub_.stats.open_connections;
  ++hub_.stats.streams_closed;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - started_)
              .count();
  spdlog::info("event=websocket_closed conn={} duration_ms={} messages={} bytes={} reason={}",
               id_, ms, messages_out_, bytes_out_, to_string(why));
}

template class basic_ws_session<beast::tcp_stream>;
template class basic_ws_session<tls_stream>;

} // namespace herald

#include "net/ws_session.hpp"

#include <chrono>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "net/http_responses.hpp"
#include "net/sse_stream.hpp"
#include "uri/uri.hpp"

namespace herald {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

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

/// The reason of a 1001 close: why, and when to come back.
std::string going_away(std::string_view why, std::uint64_t retry_ms) {
  return std::string{why} + "; retry_ms=" + std::to_string(retry_ms);
}

} // namespace

template <class Stream>
void basic_ws_session<Stream>::start(hub_context& hub, Stream stream,
                                     std::shared_ptr<net::ssl::context> tls, stream_order order,
                                     std::string client_ip) {
  auto s = std::make_shared<basic_ws_session>(hub, std::move(stream), std::move(tls),
                                              std::move(client_ip));
  s->accept(std::move(order));
}

template <class Stream>
basic_ws_session<Stream>::basic_ws_session(hub_context& hub, Stream stream,
                                           std::shared_ptr<net::ssl::context> tls,
                                           std::string client_ip)
  : hub_(hub), shard_(shard_of(stream.get_executor())), hub_alive_(hub.alive),
    tls_ctx_(std::move(tls)), stream_(std::move(stream)), ping_timer_(stream_.get_executor()),
    id_(random_connection_id()), reader_(hub.cfg.websocket_max_message_bytes) {
  conn_.client_ip = std::move(client_ip);
  ++hub_.stats.websockets;
  boost::system::error_code ignored;
  socket().non_blocking(true, ignored);
}

template <class Stream>
basic_ws_session<Stream>::~basic_ws_session() {
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

template <class Stream>
tcp::socket& basic_ws_session<Stream>::socket() {
  if constexpr (is_tls)
    return beast::get_lowest_layer(stream_).socket();
  else
    return stream_;
}

template <class Stream>
void basic_ws_session<Stream>::accept(stream_order order) {
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
  leases_ = std::move(order.start.leases); // the socket holds a stream slot while it is open

  http::response<http::empty_body> head{http::status::switching_protocols, 11};
  head.set(http::field::server, "herald/" HERALD_VERSION);
  head.set(http::field::upgrade, "websocket");
  head.set(http::field::connection, "Upgrade");
  head.set(http::field::sec_websocket_accept,
           ws_accept_key(sv(req[http::field::sec_websocket_key])));
  if (cfg.websocket_compression)
    if (auto agreed = ws_negotiate_deflate(sv(req[http::field::sec_websocket_extensions]))) {
      deflate_ = std::make_unique<ws_deflate>(agreed->first);
      reader_.use_deflate(deflate_.get());
      head.set(http::field::sec_websocket_extensions, agreed->second);
    }
  head.set("Herald-Connection-Id", id_);
  order.finish(head);
  head_ = render_head(head);

  hub_.websockets.add(this, this->weak_from_this());
  spdlog::info("event=websocket_opened conn={} ip={}{}", id_, conn_.client_ip,
               deflate_ ? " deflate=1" : "");
  write();
  arm_ping();
  do_read();
}

// -- reading ------------------------------------------------------------------------------------

template <class Stream>
bool basic_ws_session<Stream>::may_read() const {
  return !closed_ && in_flight_ < hub_.cfg.limits_max_pipelined_requests
         && out_bytes_ < hub_.cfg.limits_max_body_bytes;
}

template <class Stream>
void basic_ws_session<Stream>::do_read() {
  if (reading_ || !may_read())
    return;
  reading_ = true;
  stream_.async_read_some(net::buffer(read_buf_), [self = this->shared_from_this()](
                                                    boost::system::error_code ec, std::size_t n) {
    // reading_ stays set while what was read is handled: an answer given meanwhile must not
    // start another read.
    self->on_read(ec, n);
  });
}

template <class Stream>
void basic_ws_session<Stream>::on_read(boost::system::error_code ec, std::size_t n) {
  if (closed_)
    return;
  if (ec) // the peer went away (or half-closed after our close frame)
    return finish(close_sent_ ? close_reason::shutdown : close_reason::client_closed);
  last_heard_ = std::chrono::steady_clock::now();
  ping_unanswered_ = false;
  reader_.feed(read_buf_.data(), n);
  using kind = ws_frame_reader::kind;
  for (bool more = true; more && !closed_;) {
    switch (reader_.next()) {
      case kind::none:
        more = false;
        break;
      case kind::text:
        ++hub_.stats.websocket_messages_in;
        if (!close_sent_ && !closing_)
          on_message(reader_.payload());
        break;
      case kind::binary:
        ++hub_.stats.websocket_messages_in;
        ++hub_.stats.websocket_refusals;
        send(render_ws_error({}, "binary_message",
                             "binary messages are not part of the protocol; send JSON text"));
        break;
      case kind::too_big:
        ++hub_.stats.websocket_messages_in;
        ++hub_.stats.websocket_refusals;
        send(render_ws_error({}, "message_too_big",
                             "a message may have at most "
                               + std::to_string(hub_.cfg.websocket_max_message_bytes)
                               + " bytes (websocket.max_message_bytes)"));
        break;
      case kind::ping: {
        std::string pong;
        append_ws_header(pong, ws_pong, reader_.payload().size());
        send_control(pong + reader_.payload());
        break;
      }
      case kind::pong:
        break;
      case kind::close:
        // The client closes: answer its close (with its code), then end.
        if (close_sent_)
          return finish(close_reason::client_closed);
        closing_ = true;
        close_frame_ = ws_close_frame(reader_.close_code() == 1005 ? 1000 : reader_.close_code(), "");
        write();
        more = false;
        break;
      case kind::error:
        spdlog::info("event=websocket_protocol_error conn={} code={}", id_, reader_.close_code());
        closing_ = true;
        close_frame_ = ws_close_frame(reader_.close_code(), "protocol error");
        write();
        more = false;
        break;
    }
  }
  reading_ = false;
  do_read();
}

template <class Stream>
void basic_ws_session<Stream>::arm_ping() {
  // Checked every half period: a peer silent for a period gets a ping; one that has also left
  // that ping unanswered and is silent for two periods is closed. A peer is never closed without
  // having been pinged, however late the timer runs.
  auto period = std::chrono::milliseconds(1000 * hub_.cfg.websocket_ping_seconds);
  ping_timer_.expires_after(close_sent_ ? std::chrono::milliseconds(2000) : period / 2);
  ping_timer_.async_wait([weak = this->weak_from_this(), period](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_)
      return;
    if (self->close_sent_) // the client did not answer our close in time
      return self->finish(close_reason::shutdown);
    auto silent = std::chrono::steady_clock::now() - self->last_heard_;
    if (self->ping_unanswered_ && silent >= 2 * period)
      return self->finish(close_reason::timed_out);
    if (!self->ping_unanswered_ && silent >= period) {
      std::string ping;
      append_ws_header(ping, ws_ping, 0);
      self->send_control(std::move(ping));
      self->ping_unanswered_ = true;
    }
    self->arm_ping();
  });
}

// -- writing ------------------------------------------------------------------------------------

template <class Stream>
void basic_ws_session<Stream>::send(std::string message) {
  if (closed_)
    return;
  out_bytes_ += message.size();
  out_.push_back(std::move(message));
  write();
}

template <class Stream>
void basic_ws_session<Stream>::send_control(std::string frame) {
  if (closed_ || close_sent_)
    return;
  out_bytes_ += frame.size(); // a client pinging without reading is bounded like replies
  control_.push_back(std::move(frame));
  write();
}

template <class Stream>
void basic_ws_session<Stream>::write() {
  if (closed_ || gathering_) // (what gather() adds goes into the write it is making)
    return;
  if (writing_) {
    // A stalled write never completes: a slow-consumer verdict must not wait for it.
    for (auto& [name, s] : subs_)
      if (s->queue->aborted() && s->queue->reason() == close_reason::slow_consumer)
        return finish(close_reason::slow_consumer);
    return;
  }
  // Each round takes everything ready; a round the socket takes whole is done at once.
  for (;;) {
    gathering_ = true;
    bool ready = gather();
    gathering_ = false;
    if (closed_)
      return;
    if (!ready) {
      // Taken items with no message of their own (heartbeats: WebSocket pings instead; retry
      // hints) are written by being taken; a queue that was closing may now end.
      if (writing_subs_.empty())
        return;
      written();
      continue;
    }
    write_rest();
    if (closed_ || writing_)
      return;
  }
}

template <class Stream>
void basic_ws_session<Stream>::add_message(std::string_view a, std::string_view b) {
  // Copied into the write's one buffer: a few hundred bytes copied cost less than the three
  // iovecs (header, prefix, shared tail) a message would otherwise take in the kernel.
  if (deflate_) {
    packed_.clear();
    deflate_->compress(a, b, packed_);
    append_ws_header(wire_, ws_text, packed_.size(), true);
    wire_.append(packed_);
  } else {
    append_ws_header(wire_, ws_text, a.size() + b.size());
    wire_.append(a).append(b);
  }
  ++messages_out_;
}

template <class Stream>
bool basic_ws_session<Stream>::gather() {
  wire_.clear();
  writing_subs_.clear();
  if (!head_.empty()) {
    wire_.append(head_);
    std::string{}.swap(head_);
  }
  if (close_sent_)
    return !wire_.empty();
  for (; !control_.empty(); control_.pop_front()) {
    out_bytes_ -= control_.front().size();
    wire_.append(control_.front());
  }
  for (; !out_.empty(); out_.pop_front()) {
    out_bytes_ -= out_.front().size();
    add_message(out_.front(), {});
  }
  if (!closing_ && !subs_.empty()) {
    // Subscriptions take turns going first.
    std::vector<sub_ptr> order;
    order.reserve(subs_.size());
    auto first = subs_.upper_bound(turn_);
    for (auto it = first; it != subs_.end(); ++it)
      order.push_back(it->second);
    for (auto it = subs_.begin(); it != first; ++it)
      order.push_back(it->second);
    turn_ = order.front()->name;
    for (auto& s : order) {
      if (closed_ || closing_)
        break;
      if (auto it = subs_.find(s->name); it != subs_.end() && it->second == s)
        gather(s);
    }
  }
  if (closed_)
    return false;
  if (closing_ && !close_sent_) {
    wire_.append(close_frame_);
    close_sent_ = true;
  }
  return !wire_.empty();
}

template <class Stream>
void basic_ws_session<Stream>::gather(const sub_ptr& sp) {
  auto& s = *sp;
  s.batch.clear();
  auto r = s.queue->take(s.batch);
  switch (r.kind) {
    case outbound_queue::take_kind::idle:
      return;
    case outbound_queue::take_kind::items:
      s.taken_bytes = r.bytes;
      s.events = r.events;
      if (!s.confirmed) {
        // The subscription's actor accepted it: the reply goes before its first message.
        s.confirmed = true;
        add_message(render_ws_reply(s.req, s.name, 200, "{}"), {});
      }
      hub_.metrics->sample_delivery(s.batch, writes_);
      for (auto& item : s.batch) {
        if (item->kind == item_kind::retry)
          s.retry_ms = item->retry_ms;
        if (auto& tail = ws_frame_tail(*item); !tail.empty())
          add_message(s.prefix, tail);
      }
      writing_subs_.push_back(sp);
      return;
    case outbound_queue::take_kind::reject: {
      auto res = error_response(http_request{}, r.error);
      add_message(render_ws_reply(s.req, s.name, res.result_int(), res.body()), {});
      remove_subscription(s.name, close_reason::rejected);
      return;
    }
    case outbound_queue::take_kind::close:
      ended(s, r.reason);
      return;
  }
}

template <class Stream>
void basic_ws_session<Stream>::ended(subscription& s, close_reason why) {
  // (Called while gathering a write: messages go straight into it.)
  auto emit = [&](const std::string& message) { add_message(message, {}); };
  if (!s.confirmed && why != close_reason::shutdown && why != close_reason::slow_consumer) {
    // Ended before it started (e.g. its token expired meanwhile): the command's answer says so.
    auto expired = why == close_reason::token_expired;
    emit(render_ws_reply(
      s.req, s.name, expired ? 401 : 503,
      expired ? error_body("token_expired", "the token expired before the subscription started")
              : error_body(to_string(why), "the subscription ended before it started")));
    return remove_subscription(s.name, why);
  }
  switch (why) {
    case close_reason::shutdown:
    case close_reason::max_age:
      // The connection goes, with the retry hint the queue gave.
      return begin_close(1001, going_away(to_string(why), s.retry_ms ? s.retry_ms
                                                                      : hub_.cfg.sse_retry_ms));
    case close_reason::slow_consumer:
      return finish(why);
    default:
      emit(render_ws_ended(json_string(s.name), to_string(why)));
      remove_subscription(s.name, why);
  }
}

template <class Stream>
void basic_ws_session<Stream>::write_rest() {
  // The socket is non-blocking: it takes what fits now (usually everything), and only the rest
  // waits for it to become writable. (TLS encrypts in its asynchronous write.)
  std::size_t done = 0;
  if constexpr (!is_tls) {
    switch (write_now(stream_, wire_, done)) {
      case write_outcome::all:
        return written();
      case write_outcome::failed:
        return finish(close_reason::write_error);
      case write_outcome::partial:
        break;
    }
  }
  writing_ = true;
  net::async_write(stream_, net::buffer(wire_.data() + done, wire_.size() - done),
                   [self = this->shared_from_this()](boost::system::error_code ec, std::size_t) {
                     self->writing_ = false;
                     if (ec)
                       return self->finish(close_reason::write_error);
                     self->written();
                     self->write();
                   });
}

template <class Stream>
void basic_ws_session<Stream>::written() {
  for (auto& s : writing_subs_) {
    if (auto it = subs_.find(s->name); it != subs_.end() && it->second == s) {
      s->queue->written(s->taken_bytes);
      hub_.stats.events_delivered += s->events;
    }
    s->batch.clear();
  }
  writing_subs_.clear();
  bytes_out_ += wire_.size();
  wire_.clear();
  if (wire_.capacity() > 65536) // a burst's buffer is not kept by an idle connection
    std::string{}.swap(wire_);
  if (close_sent_) {
    // Our close frame is out: half-close, and end when the client closes too (or in 2 s).
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_send, ignored);
    arm_ping();
    return;
  }
  do_read();
}

template <class Stream>
void basic_ws_session<Stream>::begin_close(std::uint16_t code, std::string reason) {
  if (closing_ || closed_)
    return;
  closing_ = true;
  close_frame_ = ws_close_frame(code, reason);
  write();
}

template <class Stream>
void basic_ws_session<Stream>::go_away(std::uint64_t retry_ms) {
  net::post(stream_.get_executor(), [self = this->shared_from_this(), retry_ms] {
    // A subscription hears of shutdown through its queue; a connection without one is told here.
    if (self->closed_ || self->closing_ || !self->subs_.empty())
      return;
    self->send(R"({"op":"shutdown","data":{"reason":"shutdown","retry_ms":)"
               + std::to_string(retry_ms) + "}}");
    self->begin_close(1001, going_away("shutdown", retry_ms));
  });
}

template <class Stream>
void basic_ws_session<Stream>::finish(close_reason why) {
  if (closed_)
    return;
  closed_ = true;
  while (!subs_.empty())
    remove_subscription(subs_.begin()->first, why);
  out_.clear();
  control_.clear();
  leases_.clear();
  ping_timer_.cancel();
  if (why == close_reason::slow_consumer)
    ++hub_.stats.slow_consumer_disconnects;
  boost::system::error_code ignored;
  socket().shutdown(tcp::socket::shutdown_both, ignored);
  socket().close(ignored);
  hub_.websockets.remove(this);
  --hub_.stats.open_connections;
  --hub_.stats.websockets;
  ++hub_.stats.streams_closed;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - started_)
              .count();
  spdlog::info("event=websocket_closed conn={} duration_ms={} messages={} bytes={} reason={}",
               id_, ms, messages_out_, bytes_out_, to_string(why));
}

template class basic_ws_session<tcp::socket>;
template class basic_ws_session<tls_stream>;

} // namespace herald

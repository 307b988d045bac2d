#include "net/http_session.hpp"

#include <unistd.h>

#include <variant>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "net/http_responses.hpp"
#include "net/sse_stream.hpp"
#include "net/ws_session.hpp"

#include <spdlog/spdlog.h>

namespace herald {

namespace beast = boost::beast;
namespace net = boost::asio;

namespace {
constexpr auto idle_timeout = std::chrono::seconds(60);
constexpr std::size_t first_read_bytes = 4096;
} // namespace

namespace {

/// Starts a plain-HTTP stream on `socket`'s io thread, in the transport its route chose.
void launch_plain_stream(hub_context& hub, net::ip::tcp::socket socket, stream_order order,
                         std::string client_ip) {
  if (order.start.transport == stream_transport::websocket)
    ws_session::start(hub, std::move(socket), nullptr, std::move(order), std::move(client_ip));
  else
    sse_stream::start(hub, std::move(socket), std::move(order.start), std::move(order.finish));
}

template <class Stream>
Stream make_stream(net::ip::tcp::socket socket, net::ssl::context* tls) {
  if constexpr (std::is_same_v<Stream, tls_stream>)
    return Stream(std::move(socket), *tls);
  else
    return Stream(std::move(socket));
}

} // namespace

template <class Stream>
basic_http_session<Stream>::basic_http_session(hub_context& hub, const router& routes,
                                               net::ip::tcp::socket socket,
                                               std::shared_ptr<net::ssl::context> tls)
  : hub_(hub), routes_(routes), tls_(std::move(tls)), stream_(make_stream<Stream>(std::move(socket), tls_.get())) {
  boost::system::error_code ec;
  auto peer = lowest().socket().remote_endpoint(ec);
  if (!ec)
    conn_.client_ip = peer.address().to_string();
}

template <class Stream>
void basic_http_session<Stream>::run() {
  net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
    if constexpr (is_tls) {
      // The handshake counts as part of the first request's head.
      self->lowest().expires_after(std::chrono::seconds(self->hub_.cfg.limits_header_timeout_seconds));
      self->stream_.async_handshake(net::ssl::stream_base::server,
                                    [self](beast::error_code ec) {
                                      if (ec) {
                                        spdlog::debug("event=tls_handshake_failed error=\"{}\"",
                                                      ec.message());
                                        return self->lowest().close();
                                      }
                                      self->do_read();
                                    });
    } else {
      self->do_read();
    }
  });
}

template <class Stream>
bool basic_http_session<Stream>::may_read() const {
  // Bounded in requests, in request bytes and in answer bytes not yet taken by the client (a
  // client that sends small reads and never reads the answers holds little).
  return !closed_ && !done_reading_ && !reading_ && !held_
         && answers_.size() < hub_.cfg.limits_max_pipelined_requests
         && unanswered_bytes_ < hub_.cfg.limits_max_body_bytes
         && answer_bytes_ + wire_.size() < hub_.cfg.limits_max_body_bytes;
}

template <class Stream>
bool basic_http_session<Stream>::finished() const {
  return done_reading_ && !reading_ && !writing_ && answers_.empty() && !held_
         && !waiting_stream_;
}

template <class Stream>
void basic_http_session<Stream>::do_read() {
  if (read_loop_)
    return; // called while the loop below hands on a request: the loop reads on
  read_loop_ = true;
  // Until reading must pause (resumed when answers are written) or wait for bytes.
  while (may_read()) {
    reading_ = true;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(hub_.cfg.limits_max_header_bytes));
    parser_->body_limit(hub_.cfg.limits_max_body_bytes);
    if (buffer_.size() == 0) {
      wait_for_request();
      break;
    }
    if (!read_buffered())
      break;
  }
  read_loop_ = false;
}

template <class Stream>
void basic_http_session<Stream>::parse_buffered(bool head_only, beast::error_code& ec) {
  while (buffer_.size() > 0 && !(head_only ? parser_->is_header_done() : parser_->is_done())) {
    auto n = parser_->put(buffer_.data(), ec);
    buffer_.consume(n);
    if (ec == http::error::need_more) {
      ec = {};
      return;
    }
    if (ec || n == 0)
      return;
  }
}

template <class Stream>
bool basic_http_session<Stream>::read_buffered() {
  beast::error_code ec;
  parse_buffered(true, ec);
  if (!ec && !parser_->is_header_done()) {
    read_header(); // the rest of the head through the io loop, under the header timeout
    return false;
  }
  if (!check_head(ec))
    return false;
  if (!parser_->is_done()) {
    // A client that sent its body without waiting for 100 Continue needs none.
    parse_buffered(false, ec);
    if (!ec && !parser_->is_done()) {
      read_rest_of_body();
      return false;
    }
  }
  on_body(ec);
  return true;
}

template <class Stream>
void basic_http_session<Stream>::wait_for_request() {
  // Between requests the connection may idle; the header timeout starts with the first byte.
  // A new connection gets no idle time: its first request must arrive within the header timeout
  // (connections opened and never used are closed then, not after the keep-alive idle time).
  // (Setting a read's expiry leaves a pending write's alone: Beast keeps one timer for each.)
  if (next_seq_ == 0)
    lowest().expires_after(std::chrono::seconds(hub_.cfg.limits_header_timeout_seconds));
  else
    lowest().expires_after(idle_timeout);
  stream_.async_read_some(buffer_.prepare(first_read_bytes),
                          [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                            if (ec == beast::error::timeout && !self->closed_) {
                              // No request began: not a request timeout, and not worth a log
                              // line each (thousands of abandoned connections).
                              spdlog::debug("event=idle_close requests={}", self->next_seq_);
                              return self->close();
                            }
                            if (ec)
                              return self->on_header(ec);
                            self->buffer_.commit(n);
                            self->read_header();
                          });
}

template <class Stream>
void basic_http_session<Stream>::read_header() {
  // The whole head must arrive within limits.header_timeout_seconds: a client trickling its
  // header lines (slowloris) is closed then, however steadily it sends.
  lowest().expires_after(std::chrono::seconds(hub_.cfg.limits_header_timeout_seconds));
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                            self->on_header(ec);
                          });
}

template <class Stream>
void basic_http_session<Stream>::read_body() {
  // Likewise the body, within limits.body_timeout_seconds.
  lowest().expires_after(std::chrono::seconds(hub_.cfg.limits_body_timeout_seconds));
  http::async_read(stream_, buffer_, *parser_,
                   [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                     self->on_body(ec);
                   });
}

template <class Stream>
void basic_http_session<Stream>::on_header(beast::error_code ec) {
  if (check_head(ec))
    read_rest_of_body();
}

template <class Stream>
bool basic_http_session<Stream>::check_head(beast::error_code ec) {
  if (closed_)
    return false;
  if (ec == beast::error::timeout) {
    ++hub_.stats.request_timeouts;
    spdlog::info("event=request_timeout part=header");
    close();
    return false;
  }
  if (ec == http::error::end_of_stream || ec == net::error::eof) {
    // The client sent its last request (it may have half-closed): answer what it sent, then
    // close.
    reading_ = false;
    done_reading_ = true;
    if (finished())
      close();
    return false;
  }
  if (ec == net::error::operation_aborted || ec == net::error::connection_reset) {
    close();
    return false;
  }
  if (ec)
    reading_ = false; // the answer below is the connection's last
  if (ec == http::error::body_limit) { // Content-Length over the limit: known from the headers
    send_and_close(http::status::payload_too_large, "body_too_large",
                   "request body exceeds " + std::to_string(hub_.cfg.limits_max_body_bytes)
                     + " bytes");
    return false;
  }
  if (ec == http::error::header_limit) {
    send_and_close(http::status::request_header_fields_too_large, "headers_too_large",
                   "request headers exceed " + std::to_string(hub_.cfg.limits_max_header_bytes)
                     + " bytes");
    return false;
  }
  if (ec) {
    send_and_close(http::status::bad_request, "malformed_request",
                   "malformed HTTP request: " + ec.message());
    return false;
  }
  if (auto len = parser_->content_length(); len && *len > hub_.cfg.limits_max_body_bytes) {
    reading_ = false;
    send_and_close(http::status::payload_too_large, "body_too_large",
                   "request body exceeds " + std::to_string(hub_.cfg.limits_max_body_bytes)
                     + " bytes");
    return false;
  }
  return true;
}

template <class Stream>
void basic_http_session<Stream>::read_rest_of_body() {
  auto& req = parser_->get();
  if (parser_->is_done())
    return on_body({});
  if (beast::iequals(req[http::field::expect], "100-continue")) {
    if (!answers_.empty() || writing_) {
      // Earlier answers are still due and the interim response may not overtake them: read the
      // body without it (the client sends it after its own short wait).
      return read_body();
    }
    continue_ = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                     req.version());
    writing_ = true;
    http::async_write(stream_, *continue_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        self->writing_ = false;
                        self->continue_.reset();
                        if (ec)
                          return self->close();
                        self->read_body();
                      });
    return;
  }
  read_body();
}

template <class Stream>
void basic_http_session<Stream>::on_body(beast::error_code ec) {
  if (closed_)
    return;
  reading_ = false;
  if (ec == http::error::body_limit)
    return send_and_close(http::status::payload_too_large, "body_too_large",
                          "request body exceeds " + std::to_string(hub_.cfg.limits_max_body_bytes)
                            + " bytes");
  if (ec == beast::error::timeout) {
    ++hub_.stats.request_timeouts;
    spdlog::info("event=request_timeout part=body");
    return close();
  }
  if (ec == http::error::end_of_stream || ec == net::error::eof
      || ec == net::error::connection_reset || ec == net::error::operation_aborted)
    return close();
  if (ec)
    return send_and_close(http::status::bad_request, "malformed_request",
                          "malformed HTTP request: " + ec.message());
  on_request();
}

template <class Stream>
void basic_http_session<Stream>::on_request() {
  auto req = parser_->release();
  parser_.reset();
  if (!answers_.empty() && !routes_.overlaps(req)) {
    held_.emplace(std::move(req)); // its turn comes when the answers before it are ready
    return;
  }
  route(std::move(req));
}

template <class Stream>
void basic_http_session<Stream>::route(http_request req) {
  auto seq = next_seq_++;
  auto body_bytes = req.body().size();
  if (!req.keep_alive())
    done_reading_ = true; // its answer is the connection's last
  auto accept = req[http::field::accept_encoding];
  bool gzip = hub_.cfg.compression_responses && accepts_gzip({accept.data(), accept.size()});
  answers_.push_back(pending_answer{seq, body_bytes, gzip, std::nullopt});
  unanswered_bytes_ += body_bytes;
  auto self = this->shared_from_this();
  routes_.handle(
    hub_, std::move(req), conn_,
    // The answer may come from an actor's thread: hop back onto this session's io thread (or
    // run at once when already on it).
    [self, seq](http_response res) { self->hand_over(seq, std::move(res)); },
    [self](stream_order order) {
      // Not an answer in the line (it is the last request read, and the router calls this at
      // once): the stream's head is written once the answers before it are.
      self->unanswered_bytes_ -= self->answers_.back().body_bytes;
      self->answers_.pop_back();
      self->done_reading_ = true;
      self->waiting_stream_ = std::move(order);
    });
  maybe_start_stream();
  do_read();
}

template <class Stream>
void basic_http_session<Stream>::hand_over(std::uint64_t seq, http_response res) {
  bool first = false;
  {
    std::lock_guard<std::mutex> guard{inbox_mtx_};
    first = inbox_.empty();
    inbox_.emplace_back(seq, std::move(res));
  }
  if (first)
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      self->take_inbox();
    });
}

template <class Stream>
void basic_http_session<Stream>::take_inbox() {
  std::vector<std::pair<std::uint64_t, http_response>> ready;
  {
    std::lock_guard<std::mutex> guard{inbox_mtx_};
    ready.swap(inbox_);
  }
  bool placed = false;
  for (auto& [seq, res] : ready)
    placed = place(seq, std::move(res)) || placed;
  if (placed)
    resume();
}

template <class Stream>
bool basic_http_session<Stream>::place(std::uint64_t seq, http_response res) {
  if (closed_ || answers_.empty() || seq < answers_.front().seq
      || seq - answers_.front().seq >= answers_.size())
    return false; // its connection's line is gone (closed, or cut by an answer that closes it)
  auto& slot = answers_[seq - answers_.front().seq];
  if (slot.res)
    return false;
  if (compress_answer(res, slot.gzip, hub_.cfg.compression_min_bytes,
                      static_cast<int>(hub_.cfg.compression_level)))
    ++hub_.stats.gzip_responses;
  answer_bytes_ += res.body().size();
  slot.res = std::move(res);
  return true;
}

template <class Stream>
void basic_http_session<Stream>::resume() {
  flush();
  maybe_start_stream();
  if (held_ && answers_.empty() && !closed_) {
    auto req = std::move(*held_);
    held_.reset();
    return route(std::move(req)); // reads on after routing it
  }
  do_read();
}

template <class Stream>
void basic_http_session<Stream>::flush() {
  if (writing_ || closed_)
    return;
  wire_.clear();
  bool last = false;
  while (!answers_.empty() && answers_.front().res && !last) {
    auto& a = answers_.front();
    append_response(wire_, *a.res);
    last = !a.res->keep_alive();
    unanswered_bytes_ -= a.body_bytes;
    answer_bytes_ -= a.res->body().size();
    answers_.pop_front();
  }
  if (last) {
    // Nothing after an answer that closes the connection is written (or read).
    done_reading_ = true;
    close_after_write_ = true;
    answers_.clear();
    unanswered_bytes_ = 0;
    answer_bytes_ = 0;
  }
  if (wire_.empty())
    return;
  writing_ = true;
  lowest().expires_after(idle_timeout);
  net::async_write(stream_, net::buffer(wire_),
                   [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                     self->writing_ = false;
                     if (ec || self->close_after_write_)
                       return self->close();
                     if (self->wire_.capacity() > 64 * 1024)
                       std::string{}.swap(self->wire_); // an idle connection keeps little
                     else
                       self->wire_.clear();
                     if (self->finished())
                       return self->close(); // the client's last request is answered
                     self->resume();
                   });
}

template <class Stream>
void basic_http_session<Stream>::maybe_start_stream() {
  if (!waiting_stream_ || closed_ || writing_ || !answers_.empty())
    return;
  auto order = std::move(*waiting_stream_);
  waiting_stream_.reset();
  start_stream(std::move(order));
}

template <class Stream>
void basic_http_session<Stream>::start_stream(stream_order order) {
  auto refuse = [&](std::string_view code, std::string_view message) {
    auto res = error_response(order.req, http::status::service_unavailable, code, message);
    order.finish(res);
    res.keep_alive(false);
    answer_bytes_ += res.body().size();
    answers_.push_back(pending_answer{next_seq_++, 0, false, std::move(res)});
    flush();
  };
  if (hub_.shutting_down.load())
    return refuse("shutting_down", "the hub is shutting down");
  auto open = ++hub_.stats.open_connections;
  if (open > static_cast<std::int64_t>(hub_.settings()->max_connections)) {
    --hub_.stats.open_connections;
    return refuse("connection_limit", "the hub is at its connection limit; retry later");
  }
  closed_ = true; // the socket is the stream's now
  lowest().expires_never();
  if constexpr (is_tls) {
    // (An Asio TLS stream cannot change io_context: it stays on this one.)
    if (order.start.transport == stream_transport::websocket)
      wss_session::start(hub_, std::move(stream_), tls_, std::move(order), conn_.client_ip);
    else
      sse_stream::start(hub_, std::make_unique<tls_stream>(std::move(stream_)), tls_,
                        std::move(order.start), std::move(order.finish));
  } else if (hub_.stream_io.empty()) {
    launch_plain_stream(hub_, stream_.release_socket(), std::move(order), conn_.client_ip);
  } else {
    // Onto a stream io thread: the socket is re-opened there from its descriptor (nothing is
    // pending on it now), so this thread's requests never wait behind fan-out writes.
    auto& io = *hub_.stream_io[hub_.next_stream_io++ % hub_.stream_io.size()];
    beast::error_code ec;
    auto protocol = lowest().socket().local_endpoint(ec).protocol();
    auto fd = ec ? -1 : lowest().socket().release(ec);
    if (ec) {
      --hub_.stats.open_connections;
      spdlog::warn("event=stream_move_failed error=\"{}\"", ec.message());
      return;
    }
    net::post(io, [&hub = hub_, &io, protocol, fd, order = std::move(order),
                   ip = conn_.client_ip]() mutable {
      net::ip::tcp::socket socket{io};
      beast::error_code ec;
      socket.assign(protocol, fd, ec);
      if (ec) {
        ::close(fd);
        --hub.stats.open_connections;
        spdlog::warn("event=stream_move_failed error=\"{}\"", ec.message());
        return;
      }
      launch_plain_stream(hub, std::move(socket), std::move(order), std::move(ip));
    });
  }
}

template <class Stream>
void basic_http_session<Stream>::send_and_close(http::status status, std::string_view code,
                                  std::string_view message) {
  http_request req;
  req.version(11);
  if (parser_)
    req.set(http::field::origin, parser_->get()[http::field::origin]);
  auto res = error_response(req, status, code, message);
  routes_.finisher(hub_, req)(res);
  res.keep_alive(false);
  // After every earlier answer; nothing more is read.
  done_reading_ = true;
  parser_.reset();
  answer_bytes_ += res.body().size();
  answers_.push_back(pending_answer{next_seq_++, 0, false, std::move(res)});
  flush();
}

template <class Stream>
void basic_http_session<Stream>::close() {
  if (closed_)
    return;
  closed_ = true;
  answers_.clear();
  held_.reset();
  waiting_stream_.reset();
  beast::error_code ignored;
  lowest().socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  lowest().close();
}

template class basic_http_session<beast::tcp_stream>;
template class basic_http_session<tls_stream>;

} // namespace herald

#include "net/sse_stream.hpp"

#include <random>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "net/http_responses.hpp"
#include "net/sse_encoding.hpp"

namespace herald {

namespace net = boost::asio;

std::string random_connection_id() {
  static thread_local std::mt19937_64 rng{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64{seq};
  }()};
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

void sse_stream::start(hub_context& hub, tcp::socket socket, stream_start start,
                       head_finisher finish) {
  begin(std::make_shared<sse_stream>(hub, std::move(socket), std::move(finish)),
        std::move(start));
}

void sse_stream::start(hub_context& hub, std::unique_ptr<tls_stream> stream,
                       std::shared_ptr<net::ssl::context> tls, stream_start start,
                       head_finisher finish) {
  begin(std::make_shared<sse_stream>(hub, std::move(stream), std::move(tls), std::move(finish)),
        std::move(start));
}

void sse_stream::begin(std::shared_ptr<sse_stream> s, stream_start start) {
  auto& hub = s->hub_;
  s->what_ = std::move(start.what);
  s->format_ = start.format;
  if (start.gzip)
    s->gzip_ = std::make_unique<gzip_output>(static_cast<int>(hub.cfg.compression_stream_level));
  s->make_head(start.headers);
  std::weak_ptr<sse_stream> weak = s;
  s->queue_ = std::make_shared<outbound_queue>(
    hub.cfg.limits_slow_consumer_bytes, [weak, shard = &s->shard_] { shard->wake(weak); },
    hub.outbound_bytes);
  s->leases_ = std::move(start.leases);
  s->conn_ = start.spawn(s->queue_, std::string{s->id()});
  if (start.expires_at > 0)
    s->end_at(start.expires_at);
  s->do_read();
}

void sse_stream::end_at(std::int64_t expires_at) {
  auto now = std::chrono::system_clock::now();
  auto at = std::chrono::system_clock::time_point{std::chrono::seconds(expires_at)};
  expiry_.expires_at(std::max(at, now));
  expiry_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->closed_)
      return;
    // The client reconnects with a fresh token and resumes from its Last-Event-ID: the notice
    // has no id, so nothing is skipped.
    ++self->hub_.stats.token_expiries;
    self->queue_->close_after_flush(
      close_reason::token_expired,
      {stream_item::make_notice("herald.token_expired", R"({"reason":"token_expired"})"),
       stream_item::make_retry(self->hub_.cfg.sse_retry_ms)});
  });
}

namespace {

write_shard& shard_of(const net::any_io_executor& ex) {
  return write_shard::of(static_cast<net::io_context&>(net::query(ex, net::execution::context)));
}

} // namespace

sse_stream::sse_stream(hub_context& hub, tcp::socket socket, head_finisher finish)
  : hub_(hub), shard_(shard_of(socket.get_executor())), hub_alive_(hub.alive),
    socket_(std::move(socket)), expiry_(socket_.get_executor()), finish_(std::move(finish)) {
  auto id = random_connection_id();
  std::copy_n(id.data(), id_.size(), id_.begin());
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);
}

sse_stream::sse_stream(hub_context& hub, std::unique_ptr<tls_stream> stream,
                       std::shared_ptr<net::ssl::context> tls, head_finisher finish)
  : hub_(hub), shard_(shard_of(stream->get_executor())), hub_alive_(hub.alive),
    socket_(stream->get_executor()), tls_ctx_(std::move(tls)), tls_(std::move(stream)),
    expiry_(socket_.get_executor()), finish_(std::move(finish)) {
  auto id = random_connection_id();
  std::copy_n(id.data(), id_.size(), id_.begin());
}

void sse_stream::make_head(const std::vector<std::pair<std::string, std::string>>& extra) {
  http::response<http::empty_body> head{http::status::ok, 11};
  head.set(http::field::server, "herald/" HERALD_VERSION);
  head.set(http::field::content_type, "text/event-stream; charset=utf-8");
  head.set(http::field::cache_control, "no-cache, no-store, no-transform");
  head.set("X-Accel-Buffering", "no");
  head.set(http::field::connection, "keep-alive");
  head.set("Herald-Connection-Id", boost::beast::string_view{id_.data(), id_.size()});
  for (auto& [name, value] : extra)
    head.set(name, value);
  if (gzip_) {
    head.set(http::field::content_encoding, "gzip");
    add_vary(head, "Accept-Encoding");
  }
  finish_(head);
  head_ = render_head(head);
}

sse_stream::~sse_stream() {
  // Normally closed already; this covers an io_context torn down under the stream. If the hub is
  // gone too (its actors stopped, its context destroyed), there is nothing left to release.
  if (!closed_ && hub_alive_->load()) {
    queue_->mark_closed(close_reason::shutdown);
    caf::anon_send_exit(conn_, caf::exit_reason::user_shutdown);
    --hub_.stats.open_connections;
  }
}

void sse_stream::write() {
  if (closed_)
    return;
  if (writing_) {
    // A stalled write never completes: a slow-consumer verdict must not wait for it.
    if (queue_->aborted())
      close(queue_->reason());
    return;
  }
  // Each round takes everything queued; a round the socket takes whole is done at once, so the
  // loop ends when the queue is empty (or the socket is full and an asynchronous write waits).
  while (!closed_ && !writing_) {
    batch_.clear();
    auto r = queue_->take(batch_);
    switch (r.kind) {
      case outbound_queue::take_kind::idle:
        return;
      case outbound_queue::take_kind::close:
        if (gzip_ && head_sent_ && !gzip_->stream.finished())
          return end_gzip(r.reason);
        return close(r.reason);
      case outbound_queue::take_kind::reject:
        return write_rejection(r.error);
      case outbound_queue::take_kind::items:
        break;
    }
    buffers_.clear();
    // Each item's SSE frame is built once (by the first stream that writes it) and shared.
    std::size_t frame_bytes = 0;
    for (auto& item : batch_) {
      auto& frame = format_ == sse_format::envelope  ? sse_envelope_frame(*item)
                    : format_ == sse_format::mercure ? sse_mercure_frame(*item)
                                                     : sse_frame(*item);
      buffers_.emplace_back(net::buffer(frame));
      frame_bytes += frame.size();
    }
    if (gzip_) {
      // The shared frames go through this connection's compressor; what goes out is its own.
      gzip_->bytes.clear();
      gzip_->stream.compress(buffers_, gzip_->bytes);
      hub_.stats.gzip_stream_bytes_in += frame_bytes;
      hub_.stats.gzip_stream_bytes_out += gzip_->bytes.size();
      frame_bytes = gzip_->bytes.size();
      buffers_.clear();
      buffers_.emplace_back(net::buffer(gzip_->bytes));
    }
    if (!head_sent_) {
      buffers_.insert(buffers_.begin(), net::buffer(head_));
      head_sent_ = true;
    }
    taken_bytes_ = r.bytes;
    hub_.metrics->sample_delivery(batch_, writes_);
    write_rest(frame_bytes, r.events);
  }
}

void sse_stream::write_rejection(const caf::error& why) {
  http_request req;
  req.version(11);
  auto res = error_response(req, why);
  res.keep_alive(false);
  finish_(res);
  head_ = render_response(res); // the head was never sent: the rejection takes its place
  writing_ = true;
  with_stream([&](auto& stream) {
    net::async_write(stream, net::buffer(head_),
                     [self = shared_from_this()](boost::system::error_code, std::size_t) {
                       self->writing_ = false;
                       self->close(close_reason::rejected);
                     });
  });
}

void sse_stream::write_rest(std::size_t frame_bytes, std::size_t events) {
  // The socket is non-blocking: it takes what fits now (usually everything), and only the rest
  // waits for it to become writable. (TLS encrypts in its asynchronous write.)
  if (!tls_) {
    switch (write_now(socket_, buffers_)) {
      case write_outcome::all:
        return written(frame_bytes, events);
      case write_outcome::failed:
        return close(close_reason::write_error);
      case write_outcome::partial:
        break;
    }
  }
  writing_ = true;
  with_stream([&](auto& stream) {
    net::async_write(stream, buffers_,
                     [self = shared_from_this(), frame_bytes,
                      events](boost::system::error_code ec, std::size_t) {
                       self->writing_ = false;
                       if (ec)
                         return self->close(close_reason::write_error);
                       self->written(frame_bytes, events);
                       self->write();
                     });
  });
}

void sse_stream::end_gzip(close_reason why) {
  gzip_->bytes.clear();
  gzip_->stream.finish(gzip_->bytes);
  hub_.stats.gzip_stream_bytes_out += gzip_->bytes.size();
  bytes_sent_ += gzip_->bytes.size();
  writing_ = true;
  with_stream([&](auto& stream) {
    net::async_write(stream, net::buffer(gzip_->bytes),
                     [self = shared_from_this(), why](boost::system::error_code, std::size_t) {
                       self->writing_ = false;
                       self->close(why);
                     });
  });
}

void sse_stream::written(std::size_t frame_bytes, std::size_t events) {
  batch_.clear();
  // An idle stream keeps only what it needs: the head is sent, and a burst's (or a replay
  // page's) batch capacity is given back.
  if (!head_.empty()) {
    std::string{}.swap(head_);
    finish_ = nullptr;
  }
  if (batch_.capacity() > kept_capacity) {
    std::vector<item_ptr>{}.swap(batch_);
    std::vector<boost::asio::const_buffer>{}.swap(buffers_);
  }
  if (gzip_ && gzip_->bytes.capacity() > 65536)
    std::string{}.swap(gzip_->bytes);
  bytes_sent_ += frame_bytes;
  events_sent_ += events;
  hub_.stats.events_delivered += events;
  queue_->written(taken_bytes_);
}

void sse_stream::do_read() {
  // Clients send nothing on a stream; a read completes only when they go away.
  with_stream([&](auto& stream) {
    stream.async_read_some(net::buffer(read_buf_),
                           [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                             if (ec)
                               return self->close(close_reason::client_closed);
                             self->do_read();
                           });
  });
}

void sse_stream::close(close_reason why) {
  if (closed_)
    return;
  closed_ = true;
  queue_->mark_closed(why);
  expiry_.cancel();
  leases_.clear(); // its stream slots go back now, not when the last handler lets go
  if (why == close_reason::slow_consumer)
    ++hub_.stats.slow_consumer_disconnects;
  boost::system::error_code ignored;
  auto& sock = tls_ ? boost::beast::get_lowest_layer(*tls_).socket() : socket_;
  sock.shutdown(tcp::socket::shutdown_both, ignored);
  sock.close(ignored);
  caf::anon_send_exit(conn_, caf::exit_reason::user_shutdown);
  --hub_.stats.open_connections;
  ++hub_.stats.streams_closed;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - started_)
              .count();
  spdlog::info("event=stream_closed conn={} {} duration_ms={} events={} bytes={} reason={}",
               id(), what_, ms, events_sent_, bytes_sent_, to_string(why));
}

} // namespace herald

#pragma once
// One SSE stream's socket side. Owns the socket (on its io thread), writes what the outbound
// queue holds with one gather write per wake-up (woken through its io thread's write_shard),
// watches the read side for the client going away, and closes exactly once: marks the queue
// closed, sends its connection actor an exit (whose monitors then clean up), releases the
// connection slot and logs one line.

#include <array>
#include <string_view>
#include <functional>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/system_timer.hpp>

#include "net/http_session.hpp"
#include "net/hub_context.hpp"
#include "net/router.hpp"
#include "delivery/outbound_queue.hpp"
#include "net/write_shard.hpp"
#include "net/compression.hpp"

namespace herald {

class sse_stream : public shard_writer, public std::enable_shared_from_this<sse_stream> {
public:
  using tcp = boost::asio::ip::tcp;

  /// Takes over `socket` (whose connection slot was reserved) and starts the stream `start`
  /// describes. `finish` completes its response head (or its refusal) with the middleware.
  static void start(hub_context& hub, tcp::socket socket, stream_start start,
                    head_finisher finish);
  /// The same over TLS: takes over the HTTPS connection's stream (and keeps its context).
  static void start(hub_context& hub, std::unique_ptr<tls_stream> stream,
                    std::shared_ptr<boost::asio::ssl::context> tls, stream_start start,
                    head_finisher finish);

  sse_stream(hub_context& hub, tcp::socket socket, head_finisher finish);
  sse_stream(hub_context& hub, std::unique_ptr<tls_stream> stream,
             std::shared_ptr<boost::asio::ssl::context> tls, head_finisher finish);
  ~sse_stream() override;

  /// Writes what the queue holds (on the io thread; called by the stream's write_shard). The
  /// socket is tried at once; only what it does not take goes through an asynchronous write.
  void write() override;

private:
  /// Batch capacity a stream keeps between writes (a pointer each).
  static constexpr std::size_t kept_capacity = 16;

  static void begin(std::shared_ptr<sse_stream> s, stream_start start);
  /// The response head, with `extra` fields (before any write).
  void make_head(const std::vector<std::pair<std::string, std::string>>& extra);
  /// Calls `f` with the stream bytes go through: the socket, or the TLS stream over it.
  template <class F>
  void with_stream(F&& f) {
    if (tls_)
      f(*tls_);
    else
      f(socket_);
  }

  /// Writes the refusal of a stream that never started, then closes.
  void write_rejection(const caf::error& why);
  /// Writes `buffers_` (a batch of `frame_bytes` with `events` events), at once or not.
  void write_rest(std::size_t frame_bytes, std::size_t events);
  /// A batch of `frame_bytes` (with `events` events) was written.
  void written(std::size_t frame_bytes, std::size_t events);
  void do_read();
  /// Ends the stream at `expires_at` (its token's exp) with herald.token_expired.
  void end_at(std::int64_t expires_at);
  void close(close_reason why);
  /// Writes the end of the gzip member, then closes (a stream the hub ends in order).
  void end_gzip(close_reason why);

  hub_context& hub_;
  write_shard& shard_;
  std::shared_ptr<std::atomic<bool>> hub_alive_;
  tcp::socket socket_; // plain HTTP (unused, never opened, over TLS)
  std::shared_ptr<boost::asio::ssl::context> tls_ctx_;
  std::unique_ptr<tls_stream> tls_; // HTTPS
  boost::asio::system_timer expiry_; // the token's exp (wall clock, as exp is)
  std::vector<std::shared_ptr<void>> leases_; // the request's stream slots (rate limits)
  /// The connection id (random_connection_id), kept inline: a heap copy per idle stream adds up.
  std::array<char, 32> id_{};
  std::string_view id() const { return {id_.data(), id_.size()}; }
  head_finisher finish_;         // the middleware's part of the head (freed once it is sent)
  std::shared_ptr<outbound_queue> queue_;
  caf::actor conn_;
  // The response head, written before the first frames (then freed); or, for a stream that
  // never started, its rejection.
  std::string head_;
  std::vector<item_ptr> batch_;
  std::size_t taken_bytes_ = 0; // the queue's measure of batch_ (its size hints)
  std::vector<boost::asio::const_buffer> buffers_;
  /// compression.streams, when the client accepts gzip: the compressor and a write's bytes.
  struct gzip_output {
    explicit gzip_output(int level) : stream(level) {}
    gzip_stream stream;
    std::string bytes;
  };
  std::unique_ptr<gzip_output> gzip_; // (held apart: most streams are not compressed)
  std::array<char, 16> read_buf_{}; // clients send nothing; a read only sees them go away
  bool head_sent_ = false;
  sse_format format_ = sse_format::plain; // how events look (sse_encoding.hpp)
  bool writing_ = false;
  bool closed_ = false;
  std::uint64_t events_sent_ = 0;
  std::uint32_t writes_ = 0; // batches written (one in 16 samples the delivery lag)
  std::uint64_t bytes_sent_ = 0;
  std::string what_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

/// A fresh random 128-bit connection id, as 32 hex digits.
std::string random_connection_id();

} // namespace herald

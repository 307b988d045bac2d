#pragma once
// The streams (SSE and WebSocket) of one io thread that have something to write.
//
// A committed batch wakes every stream it matches. Posting one handler per stream would cost a
// queue operation, a wake of the io thread and a handler call per delivery; instead a woken
// stream is listed here, and one handler per io thread drains the whole list: the fan-out of a
// batch costs one post per io thread, and each stream then writes what its queue holds.
//
// One write_shard per io_context (an Asio service, so it lives and dies with its io_context).
// Its io_context must be run by exactly one thread: the drain calls into streams directly.
// Thread-safety: wake() from any thread; the drain runs on the io thread.

#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/buffer.hpp>
#include <string>

namespace herald {

/// A stream's socket side, as the write_shard sees it: something to call on its io thread.
class shard_writer {
public:
  virtual ~shard_writer() = default;
  /// Writes what the stream's queues hold (on its io thread).
  virtual void write() = 0;
};

/// What a write attempted at once on a non-blocking socket did.
enum class write_outcome { all, partial, failed };

/// Writes what the non-blocking `socket` takes now of `buffers`, dropping what was written from
/// their front (partial: the rest waits for an asynchronous write).
write_outcome write_now(boost::asio::ip::tcp::socket& socket,
                        std::vector<boost::asio::const_buffer>& buffers);

/// The same for one buffer, `bytes`: `done` says how much of it went out.
write_outcome write_now(boost::asio::ip::tcp::socket& socket, const std::string& bytes,
                        std::size_t& done);

class write_shard : public boost::asio::execution_context::service {
public:
  using key_type = write_shard;
  static boost::asio::execution_context::id id;

  explicit write_shard(boost::asio::execution_context& ctx);

  /// The write_shard of `ioc` (created on first use).
  static write_shard& of(boost::asio::io_context& ioc);

  /// Lists `s`, whose write() then runs on the io thread unless it is gone by then. The first
  /// wake since the last drain posts the drain.
  void wake(std::weak_ptr<shard_writer> s);

private:
  void shutdown() override;
  void drain();

  boost::asio::io_context& ioc_;
  std::mutex mtx_;
  std::vector<std::weak_ptr<shard_writer>> woken_;
  std::vector<std::weak_ptr<shard_writer>> draining_; // the drain's list, reused (io thread only)
  bool posted_ = false;
};

} // namespace herald

#pragma once
// Rate and resource limits per principal (its `sub`) or, for requests without a token, per
// client address: token buckets for publish requests/s, published events/s and new
// connections/s per address, and counters of concurrent streams per principal and per address.
// Past a limit a request gets 429 with Retry-After and a JSON error; a stream is refused before
// any SSE byte. Every limit is off when its rate (or maximum) is 0.
//
// Threads: any io thread (and the acceptor's). Each table is split into shards, each behind its
// own mutex; idle buckets (full again) are dropped as the table grows, so the tables stay as big
// as the set of recently active clients.
//
// SIGHUP changes the limits in place (rate_limits::apply): rates, bursts and maximums are atomics
// read by every check, buckets keep their tokens (capped by the new burst at their next take),
// and streams are counted even while their maximum is 0, so a maximum set by a reload counts
// the streams already open. A lowered maximum closes nothing: new streams wait until under it.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "config/config.hpp"
#include "net/router.hpp"

namespace herald {

class token_buckets {
public:
  using clock = std::chrono::steady_clock;

  /// `rate` tokens per second, at most `burst` held (0: twice the rate). Rate 0: unlimited.
  token_buckets(std::uint64_t rate, std::uint64_t burst);

  /// New figures (as the constructor takes them), for every take from now on.
  void set(std::uint64_t rate, std::uint64_t burst);

  bool enabled() const { return rate_.load(std::memory_order_acquire) > 0; }

  /// Takes `n` tokens from `key`'s bucket. Nullopt when taken; else the whole seconds to wait.
  std::optional<std::uint64_t> take(const std::string& key, double n,
                                    clock::time_point now = clock::now());

private:
  struct bucket {
    double tokens = 0;
    clock::time_point at;
  };
  struct shard {
    std::mutex mtx;
    std::unordered_map<std::string, bucket> buckets;
    clock::time_point swept; // at most one sweep a second, however many keys a client invents
  };
  static constexpr std::size_t shard_count = 16;
  static constexpr std::size_t sweep_above = 4096; // buckets per shard before idle ones go

  std::atomic<double> rate_;
  std::atomic<double> burst_;
  std::array<shard, shard_count> shards_;
};

/// Concurrent streams per key, each held by a lease (released when the lease goes).
class stream_counts {
public:
  explicit stream_counts(std::uint64_t max) : max_(max) {}

  void set_max(std::uint64_t max) { max_.store(max, std::memory_order_relaxed); }

  /// A lease on one of `key`'s streams, or null when `key` is at its maximum (0: none). A lease
  /// keeps the counts it belongs to alive: a stream the io_context destroys after the hub
  /// context went still releases its slot safely.
  std::shared_ptr<void> acquire(const std::string& key);

private:
  struct counts {
    std::mutex mtx;
    std::unordered_map<std::string, std::uint64_t> by_key;
  };
  std::atomic<std::uint64_t> max_;
  std::shared_ptr<counts> counts_ = std::make_shared<counts>();
};

struct rate_limits {
  explicit rate_limits(const config& cfg);

  /// Takes `cfg`'s rate.* figures (a reload; any thread).
  void apply(const config& cfg);

  token_buckets publish_requests;
  token_buckets publish_events;
  token_buckets connections;
  stream_counts streams_per_principal;
  stream_counts streams_per_ip;
};

/// The key a request is limited by: "sub:<sub>" with a token, else "ip:<address>".
std::string limit_key(const route_request& r);

/// 429 too_many_requests with Retry-After.
http_response too_many(const http_request& req, std::uint64_t retry_after_s,
                       std::string_view message);

/// Publish requests/s (publish routes) and concurrent streams (stream routes), before the handler.
class rate_limit_middleware : public middleware {
public:
  std::optional<http_response> before(hub_context& hub, route_request& r) override;
  void after(hub_context& hub, const http_request& req, http_head& res) override;
};

} // namespace herald

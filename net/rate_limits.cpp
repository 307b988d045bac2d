#include "net/rate_limits.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include "net/http_responses.hpp"
#include "net/hub_context.hpp"

namespace herald {

token_buckets::token_buckets(std::uint64_t rate, std::uint64_t burst)
  : rate_(static_cast<double>(rate)),
    burst_(static_cast<double>(burst > 0 ? burst : 2 * rate)) {
  // nop
}

void token_buckets::set(std::uint64_t rate, std::uint64_t burst) {
  // Burst first, published by the rate's release: a take that sees the new rate sees the new
  // burst (never the 0 of a limit that was off).
  burst_.store(static_cast<double>(burst > 0 ? burst : 2 * rate), std::memory_order_relaxed);
  rate_.store(static_cast<double>(rate), std::memory_order_release);
}

std::optional<std::uint64_t> token_buckets::take(const std::string& key, double n,
                                                 clock::time_point now) {
  auto rate = rate_.load(std::memory_order_acquire);
  auto burst = burst_.load(std::memory_order_relaxed);
  if (rate <= 0 || burst <= 0)
    return std::nullopt;
  auto& sh = shards_[std::hash<std::string>{}(key) % shard_count];
  std::lock_guard<std::mutex> guard{sh.mtx};
  if (sh.buckets.size() > sweep_above && now - sh.swept >= std::chrono::seconds(1)) {
    sh.swept = now;
    // Buckets that refilled completely hold nothing worth keeping.
    for (auto it = sh.buckets.begin(); it != sh.buckets.end();) {
      auto full = it->second.tokens
                  + std::chrono::duration<double>(now - it->second.at).count() * rate;
      it = full >= burst ? sh.buckets.erase(it) : std::next(it);
    }
  }
  auto [it, fresh] = sh.buckets.try_emplace(key, bucket{burst, now});
  auto& b = it->second;
  if (!fresh) {
    b.tokens = std::min(burst,
                        b.tokens + std::chrono::duration<double>(now - b.at).count() * rate);
    b.at = now;
  }
  if (b.tokens >= n) {
    b.tokens -= n;
    return std::nullopt;
  }
  // A request larger than the burst can never pass whole; it waits a full refill.
  auto missing = std::min(n, burst) - b.tokens;
  return static_cast<std::uint64_t>(std::max(1.0, std::ceil(missing / rate)));
}

std::shared_ptr<void> stream_counts::acquire(const std::string& key) {
  auto max = max_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> guard{counts_->mtx};
  auto& n = counts_->by_key[key];
  if (max > 0 && n >= max)
    return nullptr;
  ++n;
  // The lease gives the slot back when the stream (or the refused request) lets it go.
  auto table = counts_;
  return std::shared_ptr<void>(table.get(), [table, key](void*) {
    std::lock_guard<std::mutex> guard{table->mtx};
    auto it = table->by_key.find(key);
    if (it != table->by_key.end() && --it->second == 0)
      table->by_key.erase(it);
  });
}

rate_limits::rate_limits(const config& cfg)
  : publish_requests(cfg.rate_publish_requests_per_second, cfg.rate_publish_requests_burst),
    publish_events(cfg.rate_publish_events_per_second, cfg.rate_publish_events_burst),
    connections(cfg.rate_connections_per_second_per_ip, cfg.rate_connections_burst),
    streams_per_principal(cfg.rate_max_streams_per_principal),
    streams_per_ip(cfg.rate_max_streams_per_ip) {
  // nop
}

void rate_limits::apply(const config& cfg) {
  publish_requests.set(cfg.rate_publish_requests_per_second, cfg.rate_publish_requests_burst);
  publish_events.set(cfg.rate_publish_events_per_second, cfg.rate_publish_events_burst);
  connections.set(cfg.rate_connections_per_second_per_ip, cfg.rate_connections_burst);
  streams_per_principal.set_max(cfg.rate_max_streams_per_principal);
  streams_per_ip.set_max(cfg.rate_max_streams_per_ip);
}

std::string limit_key(const route_request& r) {
  auto key = r.who->limit_key(); // empty without a subject (anonymous, or a Mercure token)
  return key.empty() ? "ip:" + r.client_ip : key;
}

http_response too_many(const http_request& req, std::uint64_t retry_after_s,
                       std::string_view message) {
  auto res = error_response(req, http::status::too_many_requests, "rate_limited", message);
  res.set(http::field::retry_after, std::to_string(retry_after_s));
  return res;
}

std::optional<http_response> rate_limit_middleware::before(hub_context& hub, route_request& r) {
  auto& limits = *hub.limits;
  if (r.matched->limits == route_limits::publish && limits.publish_requests.enabled()) {
    if (auto wait = limits.publish_requests.take(limit_key(r), 1))
      return too_many(r.req, *wait, "over the publish request rate (rate.publish_requests_per_second)");
  }
  if (std::holds_alternative<stream_handler>(r.matched->handler)) {
    // Counted whatever the maximums (a reload may set one; see rate_limits.hpp).
    if (!r.who->limit_key().empty()) {
      auto lease = limits.streams_per_principal.acquire(r.who->limit_key());
      if (!lease)
        return too_many(r.req, 5, "this token's subject holds its maximum of concurrent streams "
                                  "(rate.max_streams_per_principal)");
      r.leases.push_back(std::move(lease));
    }
    {
      auto lease = limits.streams_per_ip.acquire("ip:" + r.client_ip);
      if (!lease)
        return too_many(r.req, 5, "this address holds its maximum of concurrent streams "
                                  "(rate.max_streams_per_ip)");
      r.leases.push_back(std::move(lease));
    }
  }
  return std::nullopt;
}

void rate_limit_middleware::after(hub_context& hub, const http_request&, http_head& res) {
  if (res.result() == http::status::too_many_requests)
    ++hub.stats.rate_limited;
}

} // namespace herald

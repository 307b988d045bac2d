#pragma once
// Prometheus metrics (GET /metrics, text format 0.0.4) through prometheus-cpp (Debian's
// prometheus-cpp-dev): the hub's counters and gauges (hub_stats, read when scraped, so counting
// costs nothing extra on the hot paths), latency histograms fed where the time is known, HTTP
// answers counted by the metrics middleware, RocksDB's figures and the process's own.
//
// Names follow Prometheus conventions (herald_ prefix, units in names, `_total` counters); label
// values come from small fixed sets (transports, reasons, status classes): never a topic, a
// token or a client address.

#include <array>
#include <chrono>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "net/router.hpp"
#include "storage/database.hpp"

namespace herald {

class hub_metrics {
public:
  hub_metrics();

  /// A publish request's time from its handler to its answer (commit included).
  void observe_publish(std::chrono::steady_clock::duration d) {
    publish_->Observe(std::chrono::duration<double>(d).count());
  }
  /// A live event's time from its commit to its write to a socket (sampled by the writers).
  void observe_delivery(std::int64_t committed_ns);
  /// A writer about to write `batch`: one write in 16 (counted in `writes`) observes the
  /// delivery lag of its first live event.
  template <class Items>
  void sample_delivery(const Items& batch, std::uint32_t& writes) {
    if ((writes++ & 15) != 0)
      return;
    for (auto& item : batch)
      if (item->committed_ns != 0)
        return observe_delivery(item->committed_ns);
  }
  /// An HTTP answer's status (the metrics middleware, on every response head).
  void count_response(unsigned status);

  /// The exposition text, with `hub`'s counters and RocksDB's `figures`.
  std::string render(const hub_context& hub, const storage_figures& figures) const;

private:
  prometheus::Registry registry_;
  prometheus::Histogram* publish_ = nullptr;
  prometheus::Histogram* delivery_ = nullptr;
  /// herald_http_responses_total by status class (1xx..5xx) and herald_rejections_total by reason.
  std::array<prometheus::Counter*, 5> by_class_{};
  struct reason_counter {
    unsigned status;
    prometheus::Counter* counter;
  };
  std::array<reason_counter, 7> rejections_{};
};

/// Counts every answer's status (runs on every response head, refusals included).
class metrics_middleware : public middleware {
public:
  void after(hub_context& hub, const http_request& req, http_head& res) override;
};

/// GET /metrics: admin-only unless metrics.public is set.
void handle_metrics(hub_context& hub, route_request& r, respond_fn respond);

/// GET /metrics on the metrics.listen address: whoever reaches that address may scrape.
void handle_metrics_scrape(hub_context& hub, route_request& r, respond_fn respond);

} // namespace herald

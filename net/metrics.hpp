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
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "net/router.hpp"
#include "storage/database.hpp"

namespace herald {

/// The process's own figures, from /proc/self.
struct process_figures {
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double cpu_seconds = 0;        // user and system
  double threads = 0;
  double start_time_seconds = 0; // since the Unix epoch (0: /proc/self/stat unreadable)
  double open_fds = 0;
  double max_fds = 0;
};

process_figures read_process_figures();

/// A latency histogram's cumulative bucket counts (the last bucket is +Inf: the total).
struct bucket_counts {
  std::vector<double> bounds;           // upper bounds in seconds, +Inf last
  std::vector<std::uint64_t> cumulative;
};

/// An HTTP request refused with one of the rejection statuses, as the dashboard lists it.
struct rejection_record {
  std::int64_t at_ms = 0; // wall clock
  unsigned status = 0;
  std::string reason;     // herald_rejections_total's label
  std::string method;
  std::string path;       // never the query (it may hold a token)
};

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
  /// For a rejection status (herald_rejections_total's), keeps the request among the latest
  /// few (`path`: the target without its query). Other statuses are ignored.
  void note_rejection(unsigned status, boost::beast::string_view method, std::string_view path);

  bucket_counts publish_counts() const { return counts_of(*publish_); }
  bucket_counts delivery_counts() const { return counts_of(*delivery_); }
  /// herald_rejections_total by reason, in a fixed order.
  std::vector<std::pair<std::string, std::uint64_t>> rejections() const;
  /// The latest rejections, newest first (at most `recent_rejections_kept`).
  std::vector<rejection_record> recent_rejections() const;
  static constexpr std::size_t recent_rejections_kept = 20;

  /// The exposition text, with `hub`'s counters and RocksDB's `figures`.
  std::string render(const hub_context& hub, const storage_figures& figures) const;

private:
  static bucket_counts counts_of(prometheus::Histogram& h);
  /// The reason label of a rejection status (null: not a rejection).
  const char* reason_of(unsigned status) const;

  prometheus::Registry registry_;
  prometheus::Histogram* publish_ = nullptr;
  prometheus::Histogram* delivery_ = nullptr;
  /// herald_http_responses_total by status class (1xx..5xx) and herald_rejections_total by reason.
  std::array<prometheus::Counter*, 5> by_class_{};
  struct reason_counter {
    unsigned status;
    const char* reason;
    prometheus::Counter* counter;
  };
  std::array<reason_counter, 7> rejections_{};
  mutable std::mutex recent_mtx_;
  std::deque<rejection_record> recent_;
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

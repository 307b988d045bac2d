// pub_load: the publisher driver. C keep-alive connections (one thread each, one request in
// flight per connection) publish batches of B events at a target total rate for a duration, to
// Herald or nginx + nchan. Prints one JSON line: achieved events/s, status counts and the
// publish latency percentiles (request written to response read, per request).
//
//   pub_load --port 8080 --connections 4 --batch 500 --rate 0 --seconds 10 --size 100
//   pub_load --target nchan --port 8090 ...   (one message per request, B pipelined per write)
//
// --rate 0 publishes as fast as the hub answers. Events go to topics T-0 .. T-(K-1) in turn
// (--topics K; just T when K is 1).

#include "bench/bench_util.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace herald_bench;
using clock_type = std::chrono::steady_clock;

struct options {
  int port = 8080;
  int connections = 1;
  int batch = 100;
  long rate = 0; // events per second, all connections together; 0: unpaced
  double seconds = 10;
  int size = 100;
  std::string topic = "bench";
  int topics = 1;
  bool nchan = false;
};

struct totals {
  std::mutex mtx;
  histogram latency; // per request, us
  long events_ok = 0, requests = 0, s2xx = 0, s4xx = 0, s5xx = 0, failed = 0;
};

void connection(const options& o, int index, clock_type::time_point start, totals& out) {
  histogram h;
  long ok = 0, requests = 0, s2 = 0, s4 = 0, s5 = 0, failed = 0;
  int fd = connect_to(o.port, false, index);
  if (fd < 0) {
    std::lock_guard<std::mutex> guard{out.mtx};
    ++out.failed;
    return;
  }
  std::string pad(static_cast<size_t>(o.size), 'x');
  double per_conn_rate = o.rate > 0 ? static_cast<double>(o.rate) / o.connections : 0;
  auto end = start + std::chrono::duration_cast<clock_type::duration>(
                       std::chrono::duration<double>(o.seconds));
  std::string req;
  event_list events;
  long k = index; // event counter, spread over topics across connections
  for (long sent = 0;; sent += o.batch) {
    if (per_conn_rate > 0)
      std::this_thread::sleep_until(start + std::chrono::nanoseconds(static_cast<long long>(
                                              1e9 * static_cast<double>(sent) / per_conn_rate)));
    if (clock_type::now() >= end)
      break;
    events.clear();
    for (int i = 0; i < o.batch; ++i, k += o.connections)
      events.emplace_back(o.topics == 1 ? o.topic : o.topic + "-" + std::to_string(k % o.topics),
                          "{\"t\":" + std::to_string(now_ns()) + ",\"p\":\"" + pad + "\"}");
    int responses = publish_request(o.nchan, events, req, {}, false, publish_shape::array);
    auto t0 = clock_type::now();
    if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
      ++failed;
      break;
    }
    bool read = read_responses(fd, responses, [&](int status, std::string_view) {
      (status / 100 == 2 ? s2 : status / 100 == 4 ? s4 : s5) += 1;
      if (status / 100 == 2)
        ok += o.nchan ? 1 : o.batch;
    });
    if (!read) {
      ++failed;
      break;
    }
    ++requests;
    h.add(std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - t0).count());
  }
  close(fd);
  std::lock_guard<std::mutex> guard{out.mtx};
  out.latency.merge(h);
  out.events_ok += ok;
  out.requests += requests;
  out.s2xx += s2;
  out.s4xx += s4;
  out.s5xx += s5;
  out.failed += failed;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--port") o.port = std::stoi(v);
    else if (k == "--connections") o.connections = std::max(1, std::stoi(v));
    else if (k == "--batch") o.batch = std::max(1, std::stoi(v));
    else if (k == "--rate") o.rate = std::stol(v);
    else if (k == "--seconds") o.seconds = std::stod(v);
    else if (k == "--size") o.size = std::stoi(v);
    else if (k == "--topic") o.topic = v;
    else if (k == "--topics") o.topics = std::max(1, std::stoi(v));
    else if (k == "--target") o.nchan = v == "nchan";
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
  }
  totals t;
  auto start = clock_type::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < o.connections; ++i)
    threads.emplace_back(connection, std::cref(o), i, start, std::ref(t));
  for (auto& th : threads)
    th.join();
  double secs = std::chrono::duration<double>(clock_type::now() - start).count();
  std::printf("{\"connections\":%d,\"batch\":%d,\"target_rate\":%ld,\"size\":%d,\"seconds\":%.3f,"
              "\"events_ok\":%ld,\"events_per_s\":%.0f,\"requests\":%ld,\"status_2xx\":%ld,"
              "\"status_4xx\":%ld,\"status_5xx\":%ld,\"failed\":%ld,\"p50_ms\":%.3f,"
              "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
              o.connections, o.batch, o.rate, o.size, secs, t.events_ok, t.events_ok / secs,
              t.requests, t.s2xx, t.s4xx, t.s5xx, t.failed, t.latency.percentile(0.5),
              t.latency.percentile(0.9), t.latency.percentile(0.99),
              t.latency.percentile(0.999), t.latency.max_us / 1000.0);
  return t.failed == 0 && t.s4xx == 0 && t.s5xx == 0 ? 0 : 1;
}

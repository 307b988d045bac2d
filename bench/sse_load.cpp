// sse_load: N concurrent SSE subscribers against a hub plus one keep-alive publisher.
// Measures delivered events/s and publish-to-delivery latency (the publisher stamps each event
// with CLOCK_REALTIME nanoseconds). epoll, non-blocking, no per-event allocation on the receive
// path. Prints one JSON result line.
//
//   sse_load --port 8080 --subs 1000 --events 20000 --batch 100 --rate 50000 --size 100
//   sse_load --target nchan --port 8090 ...   the same load against nginx + nchan
//
// Targets: herald subscribes at /v1/subscribe?topic=T and publishes arrays of `batch` events per
// POST /v1/publish. nchan subscribes at /sub/T (Accept: text/event-stream) and publishes one
// message per POST /pub/T, `batch` requests pipelined per write (nchan takes one message per
// request), so both publishers make one write per batch.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct options {
  int port = 8080;
  int subs = 100;
  long events = 10000;
  int batch = 100;
  long rate = 10000; // events per second
  int size = 100;    // payload bytes
  std::string topic = "bench";
  int timeout_s = 60;
  bool nchan = false;
  int hold_s = 0; // idle seconds with every subscriber connected, before publishing
};

long long now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int connect_to(int port, bool nonblocking) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    perror("connect");
    std::exit(2);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (nonblocking)
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Latency histogram: 1 us buckets up to 100 ms, then 1 ms buckets up to 100 s.
struct histogram {
  std::vector<uint64_t> fine = std::vector<uint64_t>(100000);
  std::vector<uint64_t> coarse = std::vector<uint64_t>(100000);
  uint64_t count = 0;
  long long max_us = 0;
  void add(long long us) {
    if (us < 0)
      us = 0;
    ++count;
    max_us = std::max(max_us, us);
    if (us < 100000)
      ++fine[us];
    else
      ++coarse[std::min<long long>(us / 1000, 99999)];
  }
  double percentile(double p) const {
    uint64_t want = static_cast<uint64_t>(std::ceil(p * count)), seen = 0;
    for (size_t i = 0; i < fine.size(); ++i)
      if ((seen += fine[i]) >= want)
        return i / 1000.0;
    for (size_t i = 0; i < coarse.size(); ++i)
      if ((seen += coarse[i]) >= want)
        return static_cast<double>(i);
    return max_us / 1000.0;
  }
};

struct subscriber {
  int fd = -1;
  bool head_done = false;
  long events = 0;
  std::string carry; // an incomplete line kept across reads
};

// Scans a received chunk for "data: {"t":<ns>" lines; counts events and records latency.
void scan(subscriber& s, const char* p, size_t n, histogram& h) {
  std::string_view chunk{p, n};
  if (!s.carry.empty()) {
    auto nl = chunk.find('\n');
    if (nl == std::string_view::npos) {
      s.carry.append(chunk);
      return;
    }
    s.carry.append(chunk.substr(0, nl + 1));
    chunk.remove_prefix(nl + 1);
    std::string line;
    line.swap(s.carry);
    scan(s, line.data(), line.size(), h);
  }
  size_t pos = 0;
  while (pos < chunk.size()) {
    auto nl = chunk.find('\n', pos);
    if (nl == std::string_view::npos) {
      s.carry.assign(chunk.substr(pos));
      return;
    }
    auto line = chunk.substr(pos, nl - pos);
    if (line.rfind("data: ", 0) == 0) {
      // The hub re-serializes data with sorted keys: find the stamp anywhere in the line.
      auto at = line.find("\"t\":");
      if (at != std::string_view::npos) {
        long long t = 0;
        for (auto i = at + 4; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i)
          t = t * 10 + (line[i] - '0');
        h.add((now_ns() - t) / 1000);
        ++s.events;
      }
    }
    pos = nl + 1;
  }
}

void publisher(const options& o, std::atomic<long>& sent, std::atomic<long>& status_201,
               std::atomic<long>& status_other) {
  int fd = connect_to(o.port, false);
  std::string pad(static_cast<size_t>(o.size), 'x');
  auto start = std::chrono::steady_clock::now();
  std::string body, req;
  char buf[65536];
  for (long done = 0; done < o.events;) {
    // Pace: batch k may go at start + k*batch/rate.
    auto due = start + std::chrono::nanoseconds(static_cast<long long>(1e9 * done / o.rate));
    std::this_thread::sleep_until(due);
    int n = static_cast<int>(std::min<long>(o.batch, o.events - done));
    auto t = now_ns();
    auto event = "{\"t\":" + std::to_string(t) + ",\"p\":\"" + pad + "\"}";
    int responses = 1;
    if (o.nchan) {
      req.clear();
      for (int i = 0; i < n; ++i)
        req += "POST /pub/" + o.topic + " HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
               "Content-Length: " + std::to_string(event.size()) + "\r\n\r\n" + event;
      responses = n;
    } else {
      body = "[";
      for (int i = 0; i < n; ++i) {
        if (i)
          body += ',';
        body += "{\"topic\":\"" + o.topic + "\",\"data\":" + event + "}";
      }
      body += ']';
      req = "POST /v1/publish HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    }
    if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
      perror("publish write");
      std::exit(2);
    }
    // Read the responses (small, Content-Length framed), in order.
    std::string resp;
    size_t at = 0;
    for (int got = 0; got < responses;) {
      auto he = resp.find("\r\n\r\n", at);
      if (he != std::string::npos) {
        auto head = resp.substr(at, he - at);
        auto cl = head.find("Content-Length: ");
        size_t len = cl == std::string::npos ? 0 : std::strtoul(head.c_str() + cl + 16, nullptr, 10);
        if (resp.size() >= he + 4 + len) {
          bool ok = head.compare(9, 1, "2") == 0; // 201 (herald), 201/202 (nchan)
          (ok ? status_201 : status_other) += o.nchan ? 1 : n;
          at = he + 4 + len;
          ++got;
          continue;
        }
      }
      ssize_t r = read(fd, buf, sizeof(buf));
      if (r <= 0) {
        perror("publish read");
        std::exit(2);
      }
      resp.append(buf, static_cast<size_t>(r));
    }
    done += n;
    sent = done;
  }
  close(fd);
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--port") o.port = std::stoi(v);
    else if (k == "--subs") o.subs = std::stoi(v);
    else if (k == "--events") o.events = std::stol(v);
    else if (k == "--batch") o.batch = std::stoi(v);
    else if (k == "--rate") o.rate = std::stol(v);
    else if (k == "--size") o.size = std::stoi(v);
    else if (k == "--topic") o.topic = v;
    else if (k == "--timeout") o.timeout_s = std::stoi(v);
    else if (k == "--target") o.nchan = v == "nchan";
    else if (k == "--hold") o.hold_s = std::stoi(v);
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
  }
  int ep = epoll_create1(0);
  std::vector<subscriber> subs(static_cast<size_t>(o.subs));
  std::string get = o.nchan ? "GET /sub/" + o.topic
                               + " HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"
                             : "GET /v1/subscribe?topic=" + o.topic + " HTTP/1.1\r\nHost: bench\r\n\r\n";
  for (size_t i = 0; i < subs.size(); ++i) {
    subs[i].fd = connect_to(o.port, true);
    if (write(subs[i].fd, get.data(), get.size()) < 0) { perror("write"); return 2; }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].fd, &ev);
  }
  histogram h;
  std::array<epoll_event, 512> evs{};
  static char buf[1 << 18];
  long errors = 0;
  int heads = 0;
  auto wait_until = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeout_s);
  while (heads < o.subs && std::chrono::steady_clock::now() < wait_until) {
    int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
    for (int i = 0; i < n; ++i) {
      auto& s = subs[evs[i].data.u64];
      ssize_t r = read(s.fd, buf, sizeof(buf));
      if (r <= 0) { ++errors; epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr); continue; }
      if (!s.head_done && std::string_view(buf, static_cast<size_t>(r)).find("\r\n\r\n") != std::string_view::npos) {
        s.head_done = true;
        ++heads;
        if (std::strncmp(buf, "HTTP/1.1 200", 12) != 0) ++errors;
      }
    }
  }
  if (o.hold_s > 0) {
    // Idle: every stream open (for memory per connection); say so on stderr, then wait.
    std::fprintf(stderr, "connected %d\n", heads);
    std::this_thread::sleep_for(std::chrono::seconds(o.hold_s));
  }
  std::atomic<long> sent{0}, ok{0}, other{0};
  auto t0 = std::chrono::steady_clock::now();
  std::thread pub(publisher, std::cref(o), std::ref(sent), std::ref(ok), std::ref(other));
  long want = o.events * o.subs, got = 0;
  wait_until = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeout_s);
  auto last_event = t0;
  while (got < want && std::chrono::steady_clock::now() < wait_until) {
    int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
    for (int i = 0; i < n; ++i) {
      auto& s = subs[evs[i].data.u64];
      for (;;) {
        ssize_t r = read(s.fd, buf, sizeof(buf));
        if (r < 0 && errno == EAGAIN) break;
        if (r <= 0) { ++errors; epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr); break; }
        long before = s.events;
        scan(s, buf, static_cast<size_t>(r), h);
        got += s.events - before;
      }
    }
    if (n > 0) last_event = std::chrono::steady_clock::now();
  }
  pub.join();
  double secs = std::chrono::duration<double>(last_event - t0).count();
  std::printf("{\"subs\":%d,\"events\":%ld,\"batch\":%d,\"target_rate\":%ld,\"size\":%d,"
              "\"published_201\":%ld,\"published_other\":%ld,\"delivered\":%ld,\"expected\":%ld,"
              "\"seconds\":%.3f,\"deliveries_per_s\":%.0f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
              "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"errors\":%ld}\n",
              o.subs, o.events, o.batch, o.rate, o.size, ok.load(), other.load(), got, want, secs,
              got / secs, h.percentile(0.5), h.percentile(0.9), h.percentile(0.99),
              h.percentile(0.999), h.max_us / 1000.0, errors);
  for (auto& s : subs) close(s.fd);
  return got == want && errors == 0 ? 0 : 1;
}

// tls_load: the cost of TLS, measured with one client run twice: over plain TCP and over TLS
// (OpenSSL), so that only the encryption differs. Subscribers are read by one epoll thread
// (non-blocking, TLS records drained to WANT_READ); the publisher is one blocking connection.
//
//   tls_load --port 8443 --tls --ca ca.pem --subs 1000 --events 2000 --rate 1000 --pid PID
//   tls_load --port 8080       --subs 1000 --events 2000 --rate 1000 --pid PID
//   tls_load --port 8443 --tls --ca ca.pem --subs 0 --events 200000 --pipeline 64 --pid PID
//
// Subscribers follow topic `bench`; the publisher sends one event per POST /v1/publish on one
// keep-alive connection, `--pipeline` requests per write, paced to `--rate` events/s (0: as
// fast as the hub answers). Each event carries its send time; subscribers record the delivery
// latency and check the sequence (gaps). With --pid the hub's CPU seconds (utime + stime from
// /proc) over the run are reported. Prints one JSON line.

#include "bench/bench_util.hpp"

#include <fcntl.h>
#include <sys/epoll.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace herald_bench;

struct options {
  int port = 8443;
  bool tls = false;
  std::string ca;
  int subs = 0;
  long events = 10000;
  long rate = 0;
  int pipeline = 64;
  int size = 100;
  long pid = 0;
};

/// One connection: a socket, with TLS over it when asked.
struct conn {
  int fd = -1;
  SSL* ssl = nullptr;

  bool open(const options& o, SSL_CTX* ctx, long source) {
    fd = connect_to(o.port, false, source);
    if (fd < 0)
      return false;
    if (ctx == nullptr)
      return true;
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set1_host(ssl, "localhost");
    return SSL_connect(ssl) == 1;
  }
  bool write_all(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      long n = ssl ? SSL_write(ssl, s.data() + off, static_cast<int>(s.size() - off))
                   : ::write(fd, s.data() + off, s.size() - off);
      if (n <= 0)
        return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  long read_some(char* buf, size_t n) {
    return ssl ? SSL_read(ssl, buf, static_cast<int>(n)) : ::read(fd, buf, n);
  }
  void close() {
    if (ssl)
      SSL_free(ssl);
    if (fd >= 0)
      ::close(fd);
  }
};

double hub_cpu_seconds(long pid) {
  if (pid <= 0)
    return 0;
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  auto rp = stat.rfind(')');
  if (rp == std::string::npos)
    return 0;
  // Fields after the command: state is field 3; utime 14, stime 15.
  std::vector<std::string> f;
  size_t at = rp + 2;
  while (at < stat.size()) {
    auto sp = stat.find(' ', at);
    f.push_back(stat.substr(at, sp - at));
    if (sp == std::string::npos)
      break;
    at = sp + 1;
  }
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return std::string{i + 1 < argc ? argv[++i] : ""}; };
    if (a == "--port") o.port = std::stoi(next());
    else if (a == "--tls") o.tls = true;
    else if (a == "--ca") o.ca = next();
    else if (a == "--subs") o.subs = std::stoi(next());
    else if (a == "--events") o.events = std::stol(next());
    else if (a == "--rate") o.rate = std::stol(next());
    else if (a == "--pipeline") o.pipeline = std::stoi(next());
    else if (a == "--size") o.size = std::stoi(next());
    else if (a == "--pid") o.pid = std::stol(next());
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  SSL_CTX* ctx = nullptr;
  if (o.tls) {
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_load_verify_locations(ctx, o.ca.c_str(), nullptr) != 1) {
      std::fprintf(stderr, "cannot load CA %s\n", o.ca.c_str());
      return 2;
    }
  }
  // Subscribers: connected (TLS handshake included) one by one, then read by one epoll thread.
  struct sub {
    conn c;
    std::string buf;
    long expect = 0;
    bool head = false;
  };
  std::vector<sub> subs(static_cast<size_t>(o.subs));
  int ep = epoll_create1(0);
  for (int s = 0; s < o.subs; ++s) {
    auto& x = subs[static_cast<size_t>(s)];
    if (!x.c.open(o, ctx, s) || !x.c.write_all("GET /v1/subscribe?topic=bench HTTP/1.1\r\nHost: "
                                               "localhost\r\nAccept: text/event-stream\r\n\r\n")) {
      std::fprintf(stderr, "subscriber %d cannot connect\n", s);
      return 1;
    }
    fcntl(x.c.fd, F_SETFL, fcntl(x.c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(s);
    epoll_ctl(ep, EPOLL_CTL_ADD, x.c.fd, &ev);
  }
  std::atomic<long> delivered{0}, gaps{0};
  histogram all;
  const long want = o.events * o.subs;
  std::thread reader([&] {
    std::array<epoll_event, 512> evs{};
    static char chunk[1 << 16];
    // Bounded: stops when everything arrived or nothing came for 10 s.
    auto quiet_until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (delivered < want && std::chrono::steady_clock::now() < quiet_until) {
      int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
      for (int i = 0; i < n; ++i) {
        auto& x = subs[evs[i].data.u64];
        for (;;) { // until the socket (and the TLS buffer) is drained
          long r = x.c.read_some(chunk, sizeof chunk);
          if (r <= 0) {
            if (x.c.ssl ? SSL_get_error(x.c.ssl, static_cast<int>(r)) == SSL_ERROR_WANT_READ
                        : errno == EAGAIN)
              break;
            epoll_ctl(ep, EPOLL_CTL_DEL, x.c.fd, nullptr);
            break;
          }
          quiet_until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          x.buf.append(chunk, static_cast<size_t>(r));
          size_t at = 0;
          if (!x.head) {
            auto he = x.buf.find("\r\n\r\n");
            if (he == std::string::npos)
              continue;
            x.head = true;
            at = he + 4;
          }
          for (;;) {
            // The hub stores data as compact JSON with sorted keys: {"k":..,"p":..,"t":..}.
            auto d = x.buf.find("data: {", at);
            if (d == std::string::npos)
              break;
            auto end = x.buf.find('\n', d);
            if (end == std::string::npos)
              break;
            auto tpos = x.buf.find("\"t\":", d);
            auto kpos = x.buf.find("\"k\":", d);
            long long t = tpos < end ? std::atoll(x.buf.c_str() + tpos + 4) : now_ns();
            long k = kpos < end ? std::atol(x.buf.c_str() + kpos + 4) : -1;
            if (k != x.expect)
              ++gaps;
            x.expect = k + 1;
            all.add((now_ns() - t) / 1000);
            ++delivered;
            at = end + 1;
          }
          x.buf.erase(0, at);
        }
      }
    }
    for (auto& x : subs)
      gaps += o.events - std::min(o.events, x.expect);
  });
  if (o.subs > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // The publisher: one event per request, `pipeline` requests per write.
  conn pub;
  if (!pub.open(o, ctx, -1)) {
    std::fprintf(stderr, "publisher cannot connect\n");
    return 1;
  }
  std::string pad(static_cast<size_t>(std::max(0, o.size - 40)), 'x');
  double cpu0 = hub_cpu_seconds(o.pid);
  auto start = std::chrono::steady_clock::now();
  long sent = 0, ok = 0, failed = 0;
  std::string req;
  while (sent < o.events) {
    if (o.rate > 0) {
      auto due = start + std::chrono::nanoseconds(static_cast<long long>(sent * 1e9 / o.rate));
      std::this_thread::sleep_until(due);
    }
    int n = static_cast<int>(std::min<long>(o.pipeline, o.events - sent));
    if (o.rate > 0) {
      // Paced: what is due now (at least one).
      auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      long due = static_cast<long>(elapsed * o.rate) + 1 - sent;
      n = static_cast<int>(std::max(1L, std::min<long>({due, o.pipeline, o.events - sent})));
    }
    req.clear();
    for (int i = 0; i < n; ++i) {
      std::string body = "{\"topic\":\"bench\",\"data\":{\"t\":" + std::to_string(now_ns())
                         + ",\"k\":" + std::to_string(sent + i) + ",\"p\":\"" + pad + "\"}}";
      req += "POST /v1/publish HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    }
    if (!pub.write_all(req))
      break;
    // Responses, Content-Length framed.
    static std::string rbuf;
    char chunk[65536];
    int got = 0;
    size_t at = 0;
    while (got < n) {
      auto he = rbuf.find("\r\n\r\n", at);
      if (he != std::string::npos) {
        auto cl = rbuf.find("Content-Length: ", at);
        size_t len = cl < he ? std::strtoul(rbuf.c_str() + cl + 16, nullptr, 10) : 0;
        if (rbuf.size() >= he + 4 + len) {
          (std::atoi(rbuf.c_str() + at + 9) == 201 ? ok : failed)++;
          at = he + 4 + len;
          ++got;
          continue;
        }
      }
      long r = pub.read_some(chunk, sizeof chunk);
      if (r <= 0)
        break;
      rbuf.append(chunk, static_cast<size_t>(r));
    }
    rbuf.erase(0, at);
    if (got < n)
      break;
    sent += n;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu = hub_cpu_seconds(o.pid) - cpu0;
  reader.join();
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  pub.close();
  for (auto& x : subs)
    x.c.close();
  std::printf("{\"tls\":%s,\"subs\":%d,\"events\":%ld,\"published_ok\":%ld,\"failed\":%ld,"
              "\"publish_seconds\":%.3f,\"publish_per_s\":%.0f,\"hub_cpu_s\":%.3f,"
              "\"hub_cpu_us_per_event\":%.2f,\"delivered\":%ld,\"gaps\":%ld,"
              "\"deliveries_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
              o.tls ? "true" : "false", o.subs, o.events, ok, failed, secs, ok / secs, cpu,
              ok > 0 ? cpu * 1e6 / ok : 0.0, delivered.load(), gaps.load(),
              delivered.load() / total, all.count ? all.percentile(0.5) : 0.0,
              all.count ? all.percentile(0.99) : 0.0, all.max_us / 1000.0);
  if (ctx)
    SSL_CTX_free(ctx);
  return 0;
}

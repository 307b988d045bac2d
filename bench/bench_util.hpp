#pragma once
// What the benchmark programs share: the wall clock in ns, loopback connections from spread
// source addresses, and a latency histogram.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "uri/uri.hpp"

namespace herald_bench {

inline long long now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/// Connects to 127.0.0.1:port from 127.0.0.(2 + source mod 200) (source < 0: any). -1 on error.
/// A TCP connection to 127.0.0.1:port; `source` >= 0 binds 127.0.0.2 + source mod 200, and
/// `rcvbuf` > 0 sets SO_RCVBUF before connecting (a small window for a client that stops reading).
inline int connect_to(int port, bool nonblocking, long source = -1, int rcvbuf = 0) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  if (rcvbuf > 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (source >= 0) {
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl(0x7f000002u + static_cast<uint32_t>(source % 200));
    if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0) {
      close(fd);
      return -1;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
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
  void merge(const histogram& o) {
    for (size_t i = 0; i < fine.size(); ++i)
      fine[i] += o.fine[i];
    for (size_t i = 0; i < coarse.size(); ++i)
      coarse[i] += o.coarse[i];
    count += o.count;
    max_us = std::max(max_us, o.max_us);
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

/// Events to publish in one write: (topic, JSON data).
using event_list = std::vector<std::pair<std::string, std::string>>;

/// How Herald's publisher sends a write's events: one event per POST, pipelined (how most
/// backends publish, and how nchan is driven), or one POST of an array.
/// single: one JSON event per POST /v1/publish; array: one array per POST; mercure: one form
/// per POST /.well-known/mercure (the data as published, not JSON).
enum class publish_shape { single, array, mercure };


/// The request(s) publishing `events` in one write: one POST /pub/<topic> per event, pipelined,
/// for nchan (it takes one message per request); for herald one POST /v1/publish per event,
/// pipelined (`single`), or one POST of an array. Returns the number of responses to expect.
inline int publish_request(bool nchan, const event_list& events, std::string& req,
                           const std::string& token = {}, bool private_events = false,
                           publish_shape shape = publish_shape::single) {
  req.clear();
  if (nchan) {
    for (auto& [topic, data] : events)
      req += "POST /pub/" + topic + " HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
             "Content-Length: " + std::to_string(data.size()) + "\r\n\r\n" + data;
    return static_cast<int>(events.size());
  }
  auto event_json = [&](const std::string& topic, const std::string& data) {
    return "{\"topic\":\"" + topic + "\",\"data\":" + data
           + (private_events ? ",\"private\":true}" : "}");
  };
  auto post = [&](const std::string& body) {
    req += "POST /v1/publish HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
           + (token.empty() ? std::string{} : "Authorization: Bearer " + token + "\r\n")
           + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  if (shape == publish_shape::single) {
    for (auto& [topic, data] : events)
      post(event_json(topic, data));
    return static_cast<int>(events.size());
  }
  if (shape == publish_shape::mercure) {
    for (auto& [topic, data] : events) {
      auto body = "topic=" + herald::uri::percent_encode(topic) + "&data=" + herald::uri::percent_encode(data)
                  + (private_events ? "&private=on" : "");
      req += "POST /.well-known/mercure HTTP/1.1\r\nHost: bench\r\n"
             "Content-Type: application/x-www-form-urlencoded\r\n"
             + (token.empty() ? std::string{} : "Authorization: Bearer " + token + "\r\n")
             + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    }
    return static_cast<int>(events.size());
  }
  std::string body = "[";
  for (auto& [topic, data] : events) {
    if (body.size() > 1)
      body += ',';
    body += event_json(topic, data);
  }
  body += ']';
  post(body);
  return 1;
}

/// Reads `responses` HTTP responses (Content-Length framed) from the blocking socket `fd` and
/// calls `on_response(status, body)` for each, in order. False if the connection failed.
template <class F>
bool read_responses(int fd, int responses, F on_response) {
  std::string buf;
  char chunk[65536];
  size_t at = 0;
  for (int got = 0; got < responses;) {
    auto he = buf.find("\r\n\r\n", at);
    if (he != std::string::npos) {
      auto head = buf.substr(at, he - at);
      auto cl = head.find("Content-Length: ");
      size_t len = cl == std::string::npos ? 0 : std::strtoul(head.c_str() + cl + 16, nullptr, 10);
      if (buf.size() >= he + 4 + len) {
        int status = head.size() > 12 ? std::atoi(head.c_str() + 9) : 0;
        on_response(status, std::string_view{buf}.substr(he + 4, len));
        at = he + 4 + len;
        ++got;
        continue;
      }
    }
    ssize_t r = read(fd, chunk, sizeof(chunk));
    if (r <= 0)
      return false;
    buf.append(chunk, static_cast<size_t>(r));
  }
  return true;
}

} // namespace herald_bench

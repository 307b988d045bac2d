// sse_load: N concurrent SSE subscribers against a hub plus one keep-alive publisher.
// Measures delivered events/s and publish-to-delivery latency (the publisher stamps each event
// with CLOCK_REALTIME nanoseconds). epoll, non-blocking, no per-event allocation on the receive
// path. Prints one JSON result line.
//
//   sse_load --port 8080 --subs 1000 --events 20000 --batch 100 --rate 50000 --size 100
//   sse_load --target nchan --port 8090 ...   the same load against nginx + nchan
//   sse_load ... --topics 10000               subscriber i follows topic T-(i mod K); event k goes
//                                             to topic T-(k mod K)
//   sse_load ... --replay                     publish first, then connect every subscriber with a
//                                             resume point before the first event: catch-up time
//   sse_load ... --churn 100000 --subs 200    connect/disconnect cycles, --subs at a time
//   sse_load ... --publishers 4               publish from 4 connections (each owns every 4th
//                                             topic, so per-topic order still holds)
//   sse_load ... --token JWT --private 1      herald with keys: subscribe and publish with the
//                                             token; every event "private" (docs/security.md)
//   sse_load ... --seconds 10                 stop publishing after 10 s even if not all
//                                             --events were sent (one topic only); subscribers
//                                             then expect what was sent
//   sse_load ... --shape array                herald: one POST of an array per write, instead
//                                             of one POST per event (the default)
//   sse_load ... --transport ws               subscribers over WebSocket instead of SSE (herald:
//                                             GET /v1/ws and a subscribe message; nchan: its
//                                             websocket subscriber at /ws/T)
//   sse_load ... --transport ws --deflate 1   ... offering permessage-deflate (compressed
//                                             messages are inflated to be checked)
//   sse_load ... --payload json               a realistic order-update object (~330 bytes, its
//                                             values varying per event) instead of --size
//                                             bytes of padding
//   sse_load ... --gzip 1                     SSE subscribers send Accept-Encoding: gzip and
//                                             inflate what they read (compression.streams)
//   sse_load ... --stalled 100                100 of the subscribers (spread evenly) subscribe,
//                                             then never read again (4 KiB receive buffers);
//                                             they are left out of the delivery figures, and
//                                             the result says how many the target closed
//   sse_load ... --transport mercure          herald's Mercure protocol: subscribers at
//                                             /.well-known/mercure?topic=T, one form per POST
//                                             /.well-known/mercure
//
// Every event carries its topic's sequence number: a subscriber that sees one out of order, twice
// or not at all counts a gap. Subscribers bind source addresses 127.0.0.2 to 127.0.0.201 in turn,
// so many connections (and churn's TIME_WAITs) do not run out of ephemeral ports.
//
// Targets: herald subscribes at /v1/subscribe?topic=T and publishes one event per POST
// /v1/publish, `batch` requests pipelined per write (or, with --shape array, one array of `batch`
// events per POST). nchan subscribes at /sub/T (Accept: text/event-stream) and publishes one
// message per POST /pub/T, `batch` requests pipelined per write. Each publisher writes a batch,
// reads every answer, then waits for the next batch's turn (one write per batch, at most `batch`
// requests in flight). The publish latency is each request's time from its write to its answer;
// published_per_s is the events answered 2xx over the time from the first write to the last answer.

#include "bench/bench_util.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace herald_bench;
using clock_type = std::chrono::steady_clock;

struct options {
  int port = 8080;
  int subs = 100;
  long events = 10000;
  int batch = 100;
  long rate = 10000; // events per second
  int size = 100;    // payload bytes
  std::string topic = "bench";
  int topics = 1;    // K: topics T-0 .. T-(K-1), or just T when K is 1
  int timeout_s = 60;
  bool nchan = false;
  int hold_s = 0;    // idle seconds with every subscriber connected, before publishing
  bool replay = false;
  long churn = 0;    // connect/disconnect cycles (0: not the churn mode)
  int publishers = 1; // publishing connections (must divide the number of topics)
  std::string token;  // herald: sent as Authorization: Bearer by subscribers and publishers
  bool private_events = false; // herald: publish every event with "private": true
  publish_shape shape = publish_shape::single;
  int seconds = 0; // > 0: publishing stops after this long (one topic only)
  bool ws = false;  // subscribers over WebSocket
  bool deflate = false; // ... offering permessage-deflate
  bool gzip = false;    // SSE subscribers accept gzip (and inflate their streams)
  bool json_payload = false; // --payload json
  int stalled = 0; // subscribers that stop reading once subscribed

  /// Subscriber i is one of the `stalled` ones, spread evenly over the `subs`.
  bool is_stalled(long i) const {
    return stalled > 0 && (i * stalled) / subs != ((i + 1) * stalled) / subs;
  }

  std::string topic_name(long k) const {
    return topics == 1 ? topic : topic + "-" + std::to_string(k % topics);
  }
  /// Events the publisher sends to topic (k mod K).
  long events_for(long k) const {
    long j = k % topics;
    return events / topics + (j < events % topics ? 1 : 0);
  }
};

struct subscriber {
  int fd = -1;
  bool head_done = false;
  bool live = false;  // subscribed: the response head (SSE, nchan) or the subscribe's reply
  bool done = false;
  bool stalled = false; // --stalled: reads nothing once subscribed
  long events = 0;
  long expected = 0;
  long next_seq = 0;  // the sequence number the next event must carry
  long gaps = 0;      // events out of order, repeated or missing
  clock_type::time_point started;
  std::string carry;  // an incomplete line (SSE) or frame (WebSocket) kept across reads
  std::shared_ptr<z_stream> gunzip; // --gzip: the stream's inflater
  std::uint64_t wire_bytes = 0;     // body bytes read (compressed, with --gzip)
};

/// Inflates one read of a gzipped SSE body (flushed per write: every read inflates whole).
std::string_view inflate_chunk(subscriber& s, std::string_view in, std::string& out) {
  if (!s.gunzip) {
    s.gunzip.reset(new z_stream{}, [](z_stream* z) { inflateEnd(z); delete z; });
    inflateInit2(s.gunzip.get(), 16 + 15);
  }
  out.clear();
  auto* z = s.gunzip.get();
  z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z->avail_in = static_cast<uInt>(in.size());
  char buf[65536];
  do {
    z->next_out = reinterpret_cast<Bytef*>(buf);
    z->avail_out = sizeof(buf);
    if (inflate(z, Z_SYNC_FLUSH) < 0)
      break;
    out.append(buf, sizeof(buf) - z->avail_out);
  } while (z->avail_out == 0 || z->avail_in != 0);
  return out;
}

long number_after(std::string_view line, std::string_view key) {
  auto at = line.find(key);
  if (at == std::string_view::npos)
    return -1;
  long long v = 0;
  for (auto i = at + key.size(); i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i)
    v = v * 10 + (line[i] - '0');
  return static_cast<long>(v);
}

// One event's text (an SSE data line, or a WebSocket message): a stamp ("t", ns) and a sequence
// number ("s"); counts it, checks its order and (unless replaying) records its latency.
void count_event(subscriber& s, std::string_view text, histogram* h) {
  long long t = number_after(text, "\"t\":");
  if (t < 0)
    return;
  if (h)
    h->add((now_ns() - t) / 1000);
  long seq = number_after(text, "\"s\":");
  if (seq != s.next_seq)
    ++s.gaps;
  s.next_seq = seq + 1;
  ++s.events;
}

// Scans received WebSocket bytes for complete frames (a server's frames are not masked) and
// counts the events in their text messages. Frames are read where they lie in the read buffer;
// only a frame cut by the read's end is carried to the next.
void scan_ws(subscriber& s, const char* p, size_t n, histogram* h) {
  std::string_view b{p, n};
  std::string joined;
  if (!s.carry.empty()) {
    joined = s.carry;
    joined.append(p, n);
    s.carry.clear();
    b = joined;
  }
  size_t pos = 0;
  for (;;) {
    if (b.size() - pos < 2)
      break;
    auto b1 = static_cast<unsigned char>(b[pos + 1]) & 0x7f;
    size_t head = 2;
    uint64_t len = b1;
    if (b1 == 126) {
      if (b.size() - pos < 4)
        break;
      len = (static_cast<unsigned char>(b[pos + 2]) << 8) | static_cast<unsigned char>(b[pos + 3]);
      head = 4;
    } else if (b1 == 127) {
      if (b.size() - pos < 10)
        break;
      len = 0;
      for (int i = 0; i < 8; ++i)
        len = (len << 8) | static_cast<unsigned char>(b[pos + 2 + i]);
      head = 10;
    }
    if (b.size() - pos < head + len)
      break;
    if ((static_cast<unsigned char>(b[pos]) & 0x0f) == 1) {
      auto text = b.substr(pos + head, len);
      std::string inflated;
      if ((static_cast<unsigned char>(b[pos]) & 0x40) != 0) {
        // permessage-deflate without server context takeover: each message inflates alone.
        thread_local z_stream z{};
        thread_local bool ready = inflateInit2(&z, -15) == Z_OK;
        if (!ready)
          break;
        inflateReset(&z);
        std::string in{text};
        in.append("\x00\x00\xff\xff", 4);
        z.next_in = reinterpret_cast<Bytef*>(in.data());
        z.avail_in = static_cast<uInt>(in.size());
        char out[65536];
        do {
          z.next_out = reinterpret_cast<Bytef*>(out);
          z.avail_out = sizeof(out);
          if (inflate(&z, Z_SYNC_FLUSH) < 0)
            break;
          inflated.append(out, sizeof(out) - z.avail_out);
        } while (z.avail_out == 0);
        text = inflated;
      }
      if (!s.live && text.find("\"op\":\"reply\"") != std::string_view::npos)
        s.live = text.find("\"status\":200") != std::string_view::npos;
      count_event(s, text, h);
    }
    pos += head + len;
  }
  s.carry.assign(b.substr(pos));
}

/// A client's text frame (masked, as RFC 6455 requires of clients).
std::string ws_text_frame(const std::string& text) {
  std::string f;
  f.push_back(static_cast<char>(0x81));
  if (text.size() < 126) {
    f.push_back(static_cast<char>(0x80 | text.size()));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(text.size() >> 8));
    f.push_back(static_cast<char>(text.size() & 0xff));
  }
  const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
  f.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < text.size(); ++i)
    f.push_back(static_cast<char>(text[i] ^ mask[i % 4]));
  return f;
}


// Scans a received chunk for "data: {...}" lines with a stamp ("t", ns) and a sequence number
// ("s"); counts events, checks their order and (unless replaying) records latency.
void scan(subscriber& s, const char* p, size_t n, histogram* h) {
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
    if (line.rfind("data: ", 0) == 0)
      count_event(s, line, h); // (the fields are found anywhere in the line)
    pos = nl + 1;
  }
}

struct publish_result {
  std::atomic<long> ok{0}, other{0};
  std::string first_id; // herald: the id of the first event published
  std::mutex mtx;
  histogram latency; // per request: its write to its answer, us
  clock_type::time_point last_answer{};
  std::atomic<long> sent{0};      // events written by every publisher
  std::atomic<int> finished{0};   // publishers done
};

/// A realistic event body for event k: an order update whose values vary from event to event.
std::string order_update(long k) {
  static const char* statuses[] = {"placed", "paid", "packed", "shipped", "delivered"};
  static const char* names[] = {"Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra",
                                "Barbara Liskov", "Donald Knuth", "Frances Allen"};
  auto n = [](long v) { return std::to_string(v); };
  long qty = k % 4 + 1, price = 499 + (k * 37) % 9000;
  return "\"order\":{\"id\":\"ord-" + n(100000 + k) + "\",\"status\":\"" + statuses[k % 5]
         + "\",\"customer\":{\"id\":\"cus-" + n(k % 997) + "\",\"name\":\"" + names[k % 7]
         + "\"},\"items\":[{\"sku\":\"SKU-" + n(k % 53) + "\",\"qty\":" + n(qty)
         + ",\"price_cents\":" + n(price) + "},{\"sku\":\"SKU-" + n((k + 11) % 53)
         + "\",\"qty\":1,\"price_cents\":" + n(price / 3) + "}],\"total_cents\":"
         + n(qty * price + price / 3) + ",\"currency\":\"EUR\",\"warehouse\":\"fra-" + n(k % 3)
         + "\",\"updated_at\":\"2026-12-02T10:" + n(10 + k % 50) + ":" + n(10 + k % 49)
         + ".123Z\"}";
}

/// Publisher `me` of `o.publishers` (each on its own connection) sends events k with
/// k mod publishers == me, in order, at its share of the rate. With several publishers each topic
/// has one (publishers divide the number of topics), so per-topic order is still checked.
void publisher(const options& o, publish_result& res, int me) {
  int fd = connect_to(o.port, false);
  if (fd < 0) {
    perror("publisher connect");
    std::exit(2);
  }
  std::string pad(static_cast<size_t>(o.size), 'x');
  auto start = clock_type::now();
  std::string req;
  event_list events;
  histogram latency;
  const long mine = o.events / o.publishers + (me < o.events % o.publishers ? 1 : 0);
  const double rate = static_cast<double>(o.rate) / o.publishers;
  auto stop = start + std::chrono::seconds(o.seconds);
  for (long done = 0; done < mine;) {
    // Pace: my batch k may go at start + k*batch/(my rate).
    auto due = start + std::chrono::nanoseconds(static_cast<long long>(1e9 * done / rate));
    std::this_thread::sleep_until(due);
    if (o.seconds > 0 && clock_type::now() >= stop)
      break;
    int n = static_cast<int>(std::min<long>(o.batch, mine - done));
    auto t = std::to_string(now_ns());
    events.clear();
    for (long i = done; i < done + n; ++i) {
      long k = i * o.publishers + me; // the event's number among all publishers'
      events.emplace_back(o.topic_name(k), "{\"t\":" + t + ",\"s\":" + std::to_string(k / o.topics)
                                             + (o.json_payload ? "," + order_update(k)
                                                               : ",\"p\":\"" + pad + "\"")
                                             + "}");
    }
    int responses = publish_request(o.nchan, events, req, o.token, o.private_events, o.shape);
    auto written = clock_type::now();
    if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
      perror("publish write");
      std::exit(2);
    }
    bool read = read_responses(fd, responses, [&](int status, std::string_view body) {
      bool ok = status / 100 == 2; // 201 (herald), 201/202 (nchan)
      (ok ? res.ok : res.other) += responses == n ? 1 : n;
      latency.add(std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now()
                                                                        - written)
                    .count());
      if (ok && !o.nchan && res.first_id.empty() && o.shape != publish_shape::mercure) {
        bool single = o.shape == publish_shape::single;
        auto q = body.find(single ? "\"id\":\"" : "[\"");
        std::size_t skip = single ? 6 : 2;
        if (q != std::string_view::npos)
          res.first_id = std::string{body.substr(q + skip, body.find('"', q + skip) - q - skip)};
      }
    });
    if (!read) {
      perror("publish read");
      std::exit(2);
    }
    done += n;
    res.sent += n;
  }
  ++res.finished;
  close(fd);
  std::lock_guard<std::mutex> guard{res.mtx};
  res.latency.merge(latency);
  res.last_answer = std::max(res.last_answer, clock_type::now());
}

/// The id just before `id` ("<epoch>-<pos>"): a resume point that replays `id` and all after.
std::string id_before(const std::string& id) {
  auto dash = id.rfind('-');
  long pos = std::stol(id.substr(dash + 1));
  return id.substr(0, dash + 1) + std::to_string(pos - 1);
}

constexpr const char* ws_upgrade_headers =
  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

std::string subscribe_request(const options& o, long i, const std::string& last_event_id) {
  if (o.ws && o.nchan)
    return "GET /ws/" + o.topic_name(i) + " HTTP/1.1\r\nHost: bench\r\n" + ws_upgrade_headers
           + "\r\n";
  if (o.ws) // the subscribe message follows the 101
    return std::string{"GET /v1/ws HTTP/1.1\r\nHost: bench\r\n"} + ws_upgrade_headers
           + (o.deflate ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "")
           + (o.token.empty() ? "" : "Authorization: Bearer " + o.token + "\r\n") + "\r\n";
  if (o.nchan) // /replay/ is nchan's location whose new subscribers start at the oldest message
    return "GET /" + std::string(o.replay ? "replay" : "sub") + "/" + o.topic_name(i)
           + " HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n";
  if (o.shape == publish_shape::mercure)
    return "GET /.well-known/mercure?topic=" + o.topic_name(i) + " HTTP/1.1\r\nHost: bench\r\n"
           + (o.token.empty() ? "" : "Authorization: Bearer " + o.token + "\r\n") + "\r\n";
  return "GET /v1/subscribe?topic=" + o.topic_name(i) + " HTTP/1.1\r\nHost: bench\r\n"
         + (o.gzip ? "Accept-Encoding: gzip\r\n" : "")
         + (last_event_id.empty() ? "" : "Last-Event-ID: " + last_event_id + "\r\n")
         + (o.token.empty() ? "" : "Authorization: Bearer " + o.token + "\r\n") + "\r\n";
}

/// Connect/disconnect cycles, `o.subs` at a time: each connects, subscribes, waits for the
/// response head (a 200 is a success) and closes. Prints one JSON line.
int churn(const options& o) {
  int ep = epoll_create1(0);
  std::vector<int> fds(static_cast<size_t>(o.subs), -1);
  std::vector<std::string> got(fds.size());
  long started = 0, ok = 0, failed = 0;
  auto open_one = [&](size_t slot) {
    int fd = connect_to(o.port, true, started);
    long k = started++;
    if (fd < 0) {
      ++failed;
      return;
    }
    auto get = subscribe_request(o, k, "");
    if (write(fd, get.data(), get.size()) != static_cast<ssize_t>(get.size())) {
      ++failed;
      close(fd);
      return;
    }
    fds[slot] = fd;
    got[slot].clear();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = slot;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  };
  auto t0 = clock_type::now();
  auto deadline = t0 + std::chrono::seconds(o.timeout_s);
  for (size_t i = 0; i < fds.size() && started < o.churn; ++i)
    open_one(i);
  std::array<epoll_event, 512> evs{};
  char buf[4096];
  while (ok + failed < o.churn && clock_type::now() < deadline) {
    int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
    for (int i = 0; i < n; ++i) {
      auto slot = static_cast<size_t>(evs[i].data.u64);
      ssize_t r = read(fds[slot], buf, sizeof(buf));
      if (r > 0) {
        got[slot].append(buf, static_cast<size_t>(r));
        if (got[slot].find("\r\n\r\n") == std::string::npos)
          continue;
        (got[slot].rfind("HTTP/1.1 200", 0) == 0 ? ok : failed) += 1;
      } else {
        ++failed;
      }
      epoll_ctl(ep, EPOLL_CTL_DEL, fds[slot], nullptr);
      close(fds[slot]);
      fds[slot] = -1;
      if (started < o.churn)
        open_one(slot);
    }
  }
  double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  std::printf("{\"cycles\":%ld,\"concurrency\":%d,\"ok\":%ld,\"failed\":%ld,\"seconds\":%.3f,"
              "\"cycles_per_s\":%.0f}\n",
              o.churn, o.subs, ok, failed, secs, (ok + failed) / secs);
  for (int fd : fds)
    if (fd >= 0)
      close(fd);
  return ok == o.churn ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--replay") { o.replay = true; continue; }
    if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", k.c_str()); return 2; }
    std::string v = argv[++i];
    if (k == "--port") o.port = std::stoi(v);
    else if (k == "--subs") o.subs = std::stoi(v);
    else if (k == "--events") o.events = std::stol(v);
    else if (k == "--batch") o.batch = std::stoi(v);
    else if (k == "--token") o.token = v;
    else if (k == "--private") o.private_events = v == "1" || v == "true";
    else if (k == "--rate") o.rate = std::stol(v);
    else if (k == "--size") o.size = std::stoi(v);
    else if (k == "--topic") o.topic = v;
    else if (k == "--topics") o.topics = std::max(1, std::stoi(v));
    else if (k == "--timeout") o.timeout_s = std::stoi(v);
    else if (k == "--target") o.nchan = v == "nchan";
    else if (k == "--hold") o.hold_s = std::stoi(v);
    else if (k == "--churn") o.churn = std::stol(v);
    else if (k == "--publishers") o.publishers = std::max(1, std::stoi(v));
    else if (k == "--seconds") o.seconds = std::stoi(v);
    else if (k == "--shape") o.shape = v == "array" ? publish_shape::array : publish_shape::single;
    else if (k == "--transport") {
      o.ws = v == "ws";
      if (v == "mercure") // /.well-known/mercure: form publishes, Mercure's SSE
        o.shape = publish_shape::mercure;
    }
    else if (k == "--deflate") o.deflate = v == "1" || v == "true";
    else if (k == "--gzip") o.gzip = v == "1" || v == "true";
    else if (k == "--payload") o.json_payload = v == "json";
    else if (k == "--stalled") o.stalled = std::stoi(v);
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
  }
  if (o.churn > 0)
    return churn(o);
  if (o.ws && (o.replay || o.churn > 0)) {
    std::fprintf(stderr, "--transport ws is for live fan-out (no --replay or --churn)\n");
    return 2;
  }
  if (o.stalled < 0 || o.stalled >= o.subs || (o.stalled > 0 && o.replay)) {
    std::fprintf(stderr, "--stalled must be below --subs (and is for live fan-out)\n");
    return 2;
  }
  if (o.seconds > 0 && (o.topics != 1 || o.replay)) {
    std::fprintf(stderr, "--seconds needs one topic and no --replay\n");
    return 2;
  }
  if (o.topics % o.publishers != 0 || (o.replay && o.publishers != 1)) {
    std::fprintf(stderr, "--publishers must divide --topics (and be 1 with --replay)\n");
    return 2;
  }
  publish_result pub_res;
  std::string resume;
  auto t0 = clock_type::now();
  if (o.replay) {
    // Everything is published before anyone subscribes.
    publisher(o, pub_res, 0);
    if (!o.nchan) {
      if (pub_res.first_id.empty()) {
        std::fprintf(stderr, "no id in the publish responses\n");
        return 2;
      }
      resume = id_before(pub_res.first_id);
    }
  }
  int ep = epoll_create1(0);
  std::vector<subscriber> subs(static_cast<size_t>(o.subs));
  long errors = 0;
  long want = 0;
  if (o.replay)
    t0 = clock_type::now();
  for (size_t i = 0; i < subs.size(); ++i) {
    auto& s = subs[i];
    s.stalled = o.is_stalled(static_cast<long>(i));
    s.expected = s.stalled ? 0 : o.events_for(static_cast<long>(i));
    want += s.expected;
    s.started = clock_type::now();
    s.fd = connect_to(o.port, true, static_cast<long>(i), s.stalled ? 4096 : 0);
    auto get = subscribe_request(o, static_cast<long>(i), resume);
    if (s.fd < 0 || write(s.fd, get.data(), get.size()) < 0) {
      std::fprintf(stderr, "subscriber %zu: cannot connect (%s)\n", i, std::strerror(errno));
      return 2;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, s.fd, &ev);
  }
  histogram h, catchup;
  std::array<epoll_event, 512> evs{};
  static char buf[1 << 18];
  int heads = 0;
  long got = 0;
  auto live = [&] {
    int n = 0;
    for (auto& s : subs)
      n += s.live ? 1 : 0;
    return n;
  };
  auto read_ready = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto& s = subs[evs[i].data.u64];
      // Level-triggered: one read per wake-up unless it filled the buffer.
      for (;;) {
        ssize_t r = read(s.fd, buf, sizeof(buf));
        if (r < 0 && errno == EAGAIN)
          break;
        if (r <= 0) {
          ++errors;
          epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
          break;
        }
        std::string_view chunk{buf, static_cast<size_t>(r)};
        if (s.stalled && s.live) // (a read that raced its removal from epoll)
          break;
        if (!s.head_done) {
          auto he = chunk.find("\r\n\r\n");
          if (he == std::string_view::npos)
            continue; // (heads fit in one read on loopback)
          s.head_done = true;
          s.live = !o.ws || o.nchan;
          ++heads;
          if (chunk.rfind(o.ws ? "HTTP/1.1 101" : "HTTP/1.1 200", 0) != 0)
            ++errors;
          chunk.remove_prefix(he + 4);
          if (o.ws && !o.nchan) {
            auto sub = ws_text_frame(R"({"op":"subscribe","sub":"s","topics":[")"
                                     + o.topic_name(static_cast<long>(evs[i].data.u64)) + "\"]}");
            if (write(s.fd, sub.data(), sub.size()) < 0)
              ++errors;
          }
        }
        long before = s.events;
        s.wire_bytes += chunk.size();
        std::string inflated;
        if (o.gzip && !o.ws && !chunk.empty())
          chunk = inflate_chunk(s, chunk, inflated);
        if (o.ws)
          scan_ws(s, chunk.data(), chunk.size(), &h);
        else
          scan(s, chunk.data(), chunk.size(), o.replay ? nullptr : &h);
        got += s.events - before;
        if (s.stalled && s.live) { // subscribed: from here on it reads nothing
          epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
          break;
        }
        if (!s.done && s.events >= s.expected) {
          s.done = true;
          catchup.add(std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now()
                                                                            - s.started)
                        .count());
        }
        if (static_cast<size_t>(r) < sizeof(buf))
          break;
      }
    }
  };
  auto wait_until = clock_type::now() + std::chrono::seconds(o.timeout_s);
  if (!o.replay) {
    while (live() < o.subs && clock_type::now() < wait_until)
      read_ready(epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100));
    if (o.hold_s > 0) {
      // Idle: every stream open (for memory per connection); say so on stderr, then wait.
      std::fprintf(stderr, "connected %d\n", heads);
      std::this_thread::sleep_for(std::chrono::seconds(o.hold_s));
    }
    t0 = clock_type::now();
  }
  std::vector<std::thread> pubs;
  for (int j = 0; !o.replay && j < o.publishers; ++j)
    pubs.emplace_back(publisher, std::cref(o), std::ref(pub_res), j);
  wait_until = clock_type::now() + std::chrono::seconds(o.timeout_s);
  auto last_event = t0;
  // Publishing may stop early (--seconds): then each subscriber expects what was sent.
  bool cut = false;
  while (got < want && clock_type::now() < wait_until) {
    int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
    read_ready(n);
    if (n > 0)
      last_event = clock_type::now();
    if (!cut && o.seconds > 0 && pub_res.finished.load() == o.publishers) {
      cut = true;
      want = 0;
      for (auto& s : subs)
        want += s.expected = pub_res.sent.load();
    }
  }
  for (auto& p : pubs)
    p.join();
  long gaps = 0;
  for (auto& s : subs)
    gaps += s.gaps + (s.events < s.expected ? 1 : 0);
  double secs = std::chrono::duration<double>(last_event - t0).count();
  std::printf("{\"subs\":%d,\"topics\":%d,\"events\":%ld,\"batch\":%d,\"target_rate\":%ld,"
              "\"size\":%d,\"published_201\":%ld,\"published_other\":%ld,\"delivered\":%ld,"
              "\"expected\":%ld,\"seconds\":%.3f,\"deliveries_per_s\":%.0f,",
              o.subs, o.topics, o.events, o.batch, o.rate, o.size, pub_res.ok.load(),
              pub_res.other.load(), got, want, secs, got / secs);
  if (o.replay)
    std::printf("\"catchup_p50_ms\":%.3f,\"catchup_p99_ms\":%.3f,\"catchup_max_ms\":%.3f,",
                catchup.percentile(0.5), catchup.percentile(0.99), catchup.max_us / 1000.0);
  else
    std::printf("\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
                "\"max_ms\":%.3f,",
                h.percentile(0.5), h.percentile(0.9), h.percentile(0.99), h.percentile(0.999),
                h.max_us / 1000.0);
  double pub_secs = std::chrono::duration<double>(pub_res.last_answer - t0).count();
  std::printf("\"shape\":\"%s\",\"published_per_s\":%.0f,\"pub_p50_ms\":%.3f,"
              "\"pub_p99_ms\":%.3f,\"pub_max_ms\":%.3f,",
              o.nchan || o.shape == publish_shape::single ? "single"
              : o.shape == publish_shape::mercure         ? "mercure"
                                                          : "array",
              pub_secs > 0 ? pub_res.ok.load() * 1.0 / pub_secs : 0.0,
              pub_res.latency.percentile(0.5), pub_res.latency.percentile(0.99),
              pub_res.latency.max_us / 1000.0);
  std::uint64_t wire = 0;
  for (auto& s : subs)
    wire += s.wire_bytes;
  if (o.stalled > 0) {
    // Which stalled subscribers did the target close? Drain them for up to 3 s: a closed one
    // ends in EOF (or a reset) once its buffered bytes are read, an open one goes quiet.
    int drain = epoll_create1(0);
    long closed = 0, open = 0;
    for (size_t i = 0; i < subs.size(); ++i) {
      if (!subs[i].stalled)
        continue;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      epoll_ctl(drain, EPOLL_CTL_ADD, subs[i].fd, &ev);
      ++open;
    }
    auto drain_until = clock_type::now() + std::chrono::seconds(3);
    while (open > 0 && clock_type::now() < drain_until) {
      int n = epoll_wait(drain, evs.data(), static_cast<int>(evs.size()), 100);
      for (int i = 0; i < n; ++i) {
        int fd = subs[evs[i].data.u64].fd;
        ssize_t r;
        while ((r = read(fd, buf, sizeof(buf))) > 0) {
        }
        if (r == 0 || errno != EAGAIN) {
          epoll_ctl(drain, EPOLL_CTL_DEL, fd, nullptr);
          ++closed;
          --open;
        }
      }
    }
    close(drain);
    std::printf("\"stalled\":%d,\"stalled_closed\":%ld,", o.stalled, closed);
  }
  std::printf("\"wire_bytes\":%llu,\"gaps\":%ld,\"errors\":%ld}\n",
              static_cast<unsigned long long>(wire), gaps, errors);
  for (auto& s : subs)
    close(s.fd);
  return got == want && errors == 0 && gaps == 0 ? 0 : 1;
}

#include "herald/subscriber.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "http_link.hpp"
#include "uri/uri.hpp"

namespace herald::sdk {
namespace {

using json = nlohmann::json;

/// The end of the JSON string that starts at text[i] (its opening quote), or npos.
std::size_t string_end(std::string_view text, std::size_t i) {
  if (i >= text.size() || text[i] != '"')
    return std::string_view::npos;
  for (++i; i < text.size(); ++i) {
    if (text[i] == '\\')
      ++i;
    else if (text[i] == '"')
      return i + 1;
  }
  return std::string_view::npos;
}

/// Reads an SSE envelope ({"topic":T,["type":Y,]"data":D}, exactly as the hub renders it) into
/// `e`, keeping D's text as sent. False if `text` is not one.
bool unwrap_envelope(std::string_view text, event& e) {
  constexpr std::string_view topic_key = "{\"topic\":", type_key = ",\"type\":",
                             data_key = ",\"data\":";
  if (text.substr(0, topic_key.size()) != topic_key || text.empty() || text.back() != '}')
    return false;
  auto at = topic_key.size();
  auto end = string_end(text, at);
  if (end == std::string_view::npos)
    return false;
  auto topic = json::parse(text.substr(at, end - at), nullptr, false);
  if (!topic.is_string())
    return false;
  at = end;
  std::string type;
  if (text.substr(at, type_key.size()) == type_key) {
    at += type_key.size();
    end = string_end(text, at);
    if (end == std::string_view::npos)
      return false;
    auto y = json::parse(text.substr(at, end - at), nullptr, false);
    if (!y.is_string())
      return false;
    type = y.get<std::string>();
    at = end;
  }
  if (text.substr(at, data_key.size()) != data_key)
    return false;
  at += data_key.size();
  e.topic = topic.get<std::string>();
  e.type = std::move(type);
  e.data = std::string{text.substr(at, text.size() - 1 - at)};
  return true;
}

} // namespace

struct subscriber::impl {
  subscriber_options opts;
  hub_address addr;
  detail::http_link link;
  std::function<void(const event&)> on_event;
  std::function<void(const std::string&)> on_gap;
  std::function<void(const std::string&, const std::string&)> on_notice;
  std::function<void(stream_state, const std::string&)> on_state;

  std::atomic<bool> stopping{false};
  std::mutex wait_mtx;
  std::condition_variable wait_cv;
  mutable std::mutex id_mtx;
  std::string last_id;
  long long server_retry_ms = -1;
  std::mt19937_64 rng{std::random_device{}()};
  std::thread thread;

  std::mutex ack_mtx;
  std::unique_ptr<detail::http_link> ack_link;

  // SSE parsing state (one frame at a time).
  std::string buf, f_event, f_data, f_id;
  bool has_data = false, has_id = false;

  explicit impl(subscriber_options o)
    : opts(std::move(o)), addr(hub_address::parse(opts.url, opts.creds)), link(addr) {
    last_id = opts.last_event_id;
  }

  std::string target() const {
    if (opts.transport == stream_transport::websocket)
      return "/v1/ws";
    if (!opts.session.empty())
      return "/v1/sessions/" + uri::percent_encode(opts.session) + "/events?envelope=1";
    if (!opts.path.empty())
      return opts.path;
    std::string q = "?envelope=1";
    for (auto& t : opts.topics)
      q += "&topic=" + uri::percent_encode(t);
    return "/v1/subscribe" + q;
  }

  /// Whether the stream's events come in the envelope form (topic streams and sessions).
  bool enveloped() const { return opts.path.empty(); }

  void state(stream_state s, const std::string& why) {
    if (on_state)
      on_state(s, why);
  }

  /// A durable session's redelivery notice ({"id","topic","type","delivery","data"}, the same
  /// on SSE and WebSocket) to on_event.
  void redelivered(const json& d) {
    if (!d.is_object() || !on_event)
      return;
    event e;
    e.id = d.value("id", "");
    e.type = d.contains("type") && d["type"].is_string() ? d["type"].get<std::string>()
                                                         : std::string{};
    e.topic = d.value("topic", "");
    e.delivery = d.value("delivery", 2u);
    e.data = d.contains("data") ? d["data"].dump() : std::string{"null"};
    on_event(e);
  }

  void dispatch() {
    if (has_id) {
      std::lock_guard<std::mutex> lock{id_mtx};
      last_id = f_id;
    }
    if (!has_data) // an empty frame (or only an id): nothing to deliver
      return;
    if (f_event == "herald.redelivery") {
      redelivered(json::parse(f_data, nullptr, false));
    } else if (f_event == "herald.gap") {
      if (on_gap)
        on_gap(f_data);
    } else if (f_event.rfind("herald.", 0) == 0) {
      if (on_notice)
        on_notice(f_event, f_data);
    } else if (on_event) {
      event e;
      {
        std::lock_guard<std::mutex> lock{id_mtx};
        e.id = last_id;
      }
      if (!enveloped() || !unwrap_envelope(f_data, e)) {
        e.type = f_event;
        e.data = f_data;
      }
      on_event(e);
    }
  }

  void line(std::string_view l) {
    if (l.empty()) {
      dispatch();
      f_event.clear();
      f_data.clear();
      has_data = has_id = false;
      return;
    }
    if (l.front() == ':')
      return; // a comment (heartbeat)
    auto colon = l.find(':');
    auto field = l.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
      value = l.substr(colon + 1);
      if (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
    }
    if (field == "event") {
      f_event = std::string{value};
    } else if (field == "data") {
      if (has_data)
        f_data.push_back('\n');
      f_data.append(value);
      has_data = true;
    } else if (field == "id") {
      f_id = std::string{value};
      has_id = true;
    } else if (field == "retry") {
      char* end = nullptr;
      std::string v{value};
      auto ms = std::strtoll(v.c_str(), &end, 10);
      if (end != v.c_str() && *end == '\0' && ms >= 0)
        server_retry_ms = ms;
    }
  }

  void feed(const std::string& chunk) {
    buf.append(chunk);
    std::size_t start = 0;
    for (;;) {
      auto nl = buf.find_first_of("\r\n", start);
      if (nl == std::string::npos)
        break;
      line(std::string_view{buf}.substr(start, nl - start));
      // \r\n counts as one line end; a lone \r too (only when the next byte is here).
      if (buf[nl] == '\r' && nl + 1 < buf.size() && buf[nl + 1] == '\n')
        ++nl;
      else if (buf[nl] == '\r' && nl + 1 == buf.size())
        break; // wait for the next byte to know
      start = nl + 1;
      if (stopping)
        break;
    }
    buf.erase(0, start);
  }

  /// A refused stream's answer as text: "HTTP 403 forbidden: <the hub's message>" (its JSON
  /// error body, read within a second when it has a Content-Length of at most 64 KiB).
  std::string refusal(int status, const std::map<std::string, std::string>& head) {
    error e;
    e.status = status;
    auto it = head.find("content-length");
    std::size_t n = it == head.end() ? 0 : std::strtoul(it->second.c_str(), nullptr, 10);
    if (n > 0 && n <= 65536) {
      std::string body;
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (body.size() < n && std::chrono::steady_clock::now() < deadline) {
        std::string chunk;
        bool timed_out = false;
        bool ok = link.read_some(chunk, std::chrono::milliseconds(200), timed_out);
        body += chunk;
        if (!ok && !timed_out)
          break;
      }
      detail::read_error_body(body, e);
    }
    return e.to_string();
  }

  void reset_parser() {
    buf.clear();
    f_event.clear();
    f_data.clear();
    has_data = has_id = false;
  }

  /// Sleeps (interruptibly) before the next attempt.
  void back_off(unsigned failures) {
    long long base = server_retry_ms >= 0 ? server_retry_ms : opts.initial_backoff.count();
    base = std::max<long long>(base, 1);
    long long ceiling = std::min<long long>(opts.max_backoff.count(),
                                            base << std::min(failures, 16u));
    std::uniform_int_distribution<long long> pick{ceiling / 2, ceiling};
    std::unique_lock<std::mutex> lock{wait_mtx};
    wait_cv.wait_for(lock, std::chrono::milliseconds(pick(rng)), [&] { return stopping.load(); });
  }

  void run() {
    unsigned failures = 0;
    while (!stopping) {
      state(stream_state::connecting, target());
      std::map<std::string, std::string> headers, head;
      {
        std::lock_guard<std::mutex> lock{id_mtx};
        if (!last_id.empty())
          headers["Last-Event-ID"] = last_id;
      }
      std::string err;
      if (opts.token_provider) {
        auto fresh = opts.token_provider();
        link.set_token(fresh);
        std::lock_guard<std::mutex> lock{ack_mtx};
        addr.creds.token = fresh;
        if (ack_link)
          ack_link->set_token(fresh);
      }
      std::string why;
      int status = 0;
      if (opts.transport == stream_transport::websocket) {
        status = run_websocket(err, why, failures);
        if (status == -1)
          return;
        if (status == 101)
          continue; // ran; reconnect after its back-off (or stop)
      } else {
        status = link.open_stream(target(), headers, opts.connect_timeout, head, err);
      }
      if (status == 200) {
        failures = 0;
        state(stream_state::connected, "");
        reset_parser();
        std::string chunk;
        for (;;) {
          bool timed_out = false;
          chunk.clear();
          bool ok = link.read_some(chunk, opts.heartbeat_timeout, timed_out);
          if (!chunk.empty())
            feed(chunk);
          if (!ok || stopping) {
            why = stopping ? "stopped" : timed_out ? "heartbeat timeout" : "connection closed";
            break;
          }
        }
      } else if (status == 204 || (status >= 400 && status < 500 && status != 408 && status != 429)) {
        // Final: the hub says stop (204: finished; 404: no such stream; 4xx: a bad request).
        state(stream_state::stopped, opts.transport == stream_transport::websocket
                                       ? "HTTP " + std::to_string(status)
                                       : refusal(status, head));
        return;
      } else {
        why = status == 0                                       ? err
              : opts.transport == stream_transport::websocket ? "HTTP " + std::to_string(status)
                                                               : refusal(status, head);
      }
      if (stopping)
        break;
      state(stream_state::disconnected, why);
      back_off(failures++);
    }
    state(stream_state::stopped, "stopped");
  }

  /// One WebSocket connection: subscribes (or attaches) from the last id and delivers until it
  /// ends. Returns 101 if it ran (its end reported and backed off, unless stopping), -1 if the
  /// hub refused the subscription for good (reported as stopped), else the upgrade's refusal
  /// status (0: `err` says why) for the caller's handling. The connection is left to the next
  /// attempt's connect, which closes it (a close() posted now would hit that new connection).
  int run_websocket(std::string& err, std::string& why, unsigned& failures) {
    int status = link.open_websocket(target(), opts.connect_timeout, err);
    if (status != 101)
      return status;
    json cmd;
    if (!opts.session.empty())
      cmd = {{"op", "attach"}, {"req", "start"}, {"sub", "s"}, {"session", opts.session}};
    else
      cmd = {{"op", "subscribe"}, {"req", "start"}, {"sub", "s"}, {"topics", opts.topics}};
    {
      std::lock_guard<std::mutex> lock{id_mtx};
      if (!last_id.empty())
        cmd["last_event_id"] = last_id;
    }
    bool final_refusal = false;
    if (!link.write_message(cmd.dump(), opts.connect_timeout)) {
      why = "connection closed";
    } else {
      std::string text;
      for (;;) {
        bool timed_out = false;
        if (!link.read_message(text, opts.heartbeat_timeout, timed_out) || stopping) {
          why = stopping ? "stopped" : timed_out ? "heartbeat timeout" : "connection closed";
          break;
        }
        auto m = json::parse(text, nullptr, false);
        if (!m.is_object())
          continue;
        auto op = m.value("op", "");
        if (op == "reply") {
          int st = m.value("status", 0);
          if (st == 200) {
            failures = 0;
            state(stream_state::connected, "");
            continue;
          }
          why = "HTTP " + std::to_string(st);
          final_refusal = st >= 400 && st < 500 && st != 408 && st != 429;
          break;
        }
        if (op == "event") {
          event e;
          e.id = m.value("id", "");
          e.topic = m.value("topic", "");
          e.type = m.value("type", "");
          e.data = m["data"].dump();
          {
            std::lock_guard<std::mutex> lock{id_mtx};
            last_id = e.id;
          }
          if (on_event)
            on_event(e);
        } else if (op == "redelivery") {
          redelivered(m["data"]);
        } else if (op == "gap") {
          if (on_gap)
            on_gap(m["data"].dump());
        } else if (op == "ended") {
          why = "ended: " + m.value("reason", "");
          break;
        } else if (op == "error") {
          why = "refused: " + m["error"].value("code", "");
          final_refusal = true;
          break;
        } else if (on_notice && m.contains("data")) {
          // shutdown, token_expired, session_replaced, ...: as their SSE notices are named.
          on_notice("herald." + op, m["data"].dump());
        }
      }
    }
    if (stopping)
      return 101;
    if (final_refusal) {
      state(stream_state::stopped, why);
      return -1;
    }
    state(stream_state::disconnected, why);
    back_off(failures++);
    return 101;
  }

  void post_ack(const json& body) {
    std::lock_guard<std::mutex> lock{ack_mtx};
    if (opts.session.empty())
      throw std::logic_error("ack needs a durable session (subscriber_options::session)");
    if (!ack_link)
      ack_link = std::make_unique<detail::http_link>(addr);
    auto r = ack_link->request("POST", "/v1/sessions/" + uri::percent_encode(opts.session) + "/ack",
                               body.dump(), std::chrono::milliseconds(10000));
    if (r.status != 200)
      throw request_failed(detail::error_of(r));
  }
};

subscriber::subscriber(subscriber_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {
  auto& o = impl_->opts;
  if (o.transport == stream_transport::websocket && !o.path.empty())
    throw std::invalid_argument("a WebSocket subscriber follows topics or a session, not a path");
}

subscriber::~subscriber() {
  stop();
  if (impl_->thread.joinable())
    impl_->thread.join();
}

void subscriber::on_event(std::function<void(const event&)> fn) {
  impl_->on_event = std::move(fn);
}

void subscriber::on_gap(std::function<void(const std::string&)> fn) {
  impl_->on_gap = std::move(fn);
}

void subscriber::on_notice(std::function<void(const std::string&, const std::string&)> fn) {
  impl_->on_notice = std::move(fn);
}

void subscriber::on_state(std::function<void(stream_state, const std::string&)> fn) {
  impl_->on_state = std::move(fn);
}

void subscriber::run() {
  impl_->run();
}

void subscriber::start() {
  impl_->thread = std::thread([this] { impl_->run(); });
}

void subscriber::stop() {
  impl_->stopping = true;
  impl_->link.close();
  std::lock_guard<std::mutex> lock{impl_->wait_mtx};
  impl_->wait_cv.notify_all();
}

std::string subscriber::last_event_id() const {
  std::lock_guard<std::mutex> lock{impl_->id_mtx};
  return impl_->last_id;
}

void subscriber::ack(const std::vector<std::string>& ids) {
  impl_->post_ack(json{{"ids", ids}});
}

void subscriber::ack_through(const std::string& id) {
  impl_->post_ack(json{{"through", id}});
}

} // namespace herald::sdk

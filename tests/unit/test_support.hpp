#pragma once
// Shared helpers for the unit suites: temporary data directories and reading queues as text.

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "net/http_responses.hpp"
#include "delivery/outbound_queue.hpp"
#include "net/sse_encoding.hpp"

namespace herald::test {

/// A request reply as the HTTP layer renders it: (status, body).
/// A principal that may do everything (the development hub's): sessions and streams in tests.
inline principal_ptr operator_principal() {
  return std::make_shared<const principal>(principal::development());
}

inline std::pair<int, std::string> rendered(const request_reply& reply) {
  return {static_cast<int>(http_status(reply)), reply_body(reply)};
}

/// The HTTP status a refusal renders to.
inline int status_of(const caf::error& err) {
  return static_cast<int>(http_status(err));
}

/// A fresh directory under the system temp dir, removed with the object.
class temp_dir {
public:
  temp_dir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path()
            / ("herald-unit-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }

private:
  std::filesystem::path path_;
};

/// Plays the socket writer: takes everything queued, marks it written, returns it as SSE text.
inline std::string drain(outbound_queue& q, outbound_queue::take_result* last = nullptr) {
  std::string out;
  for (;;) {
    std::vector<item_ptr> batch;
    auto r = q.take(batch);
    if (last)
      *last = r;
    if (r.kind != outbound_queue::take_kind::items)
      return out;
    for (auto& f : batch)
      out += sse_frame(*f);
    q.written(r.bytes);
  }
}

/// The ids ("id: ..." lines) in an SSE text, in order.
inline std::vector<std::string> ids_in(const std::string& sse) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while ((pos = sse.find("id: ", pos)) != std::string::npos) {
    if (pos == 0 || sse[pos - 1] == '\n') {
      auto eol = sse.find('\n', pos);
      out.push_back(sse.substr(pos + 4, eol - pos - 4));
    }
    pos += 4;
  }
  return out;
}

} // namespace herald::test

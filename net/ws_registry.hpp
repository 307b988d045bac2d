#pragma once
// The open WebSocket connections of the hub, so that shutdown can reach the ones that have no
// subscription (a subscription hears of shutdown through its queue, as an SSE stream does).
// Thread-safe: sockets add and remove themselves from their io threads; shutdown runs on main's.

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace herald {

/// What shutdown needs of a WebSocket connection.
class ws_endpoint {
public:
  virtual ~ws_endpoint() = default;
  /// Tells the client to go away (close 1001 with a retry hint) once what it was sent is
  /// written. Callable from any thread (it posts to the connection's io thread).
  virtual void go_away(std::uint64_t retry_ms) = 0;
};

class ws_registry {
public:
  void add(const ws_endpoint* key, std::weak_ptr<ws_endpoint> ep) {
    std::lock_guard<std::mutex> guard{mtx_};
    open_.emplace(key, std::move(ep));
  }

  void remove(const ws_endpoint* key) {
    std::lock_guard<std::mutex> guard{mtx_};
    open_.erase(key);
  }

  /// Asks every open connection to go away.
  void go_away_all(std::uint64_t retry_ms) {
    std::vector<std::shared_ptr<ws_endpoint>> live;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      for (auto& [key, weak] : open_)
        if (auto ep = weak.lock())
          live.push_back(std::move(ep));
    }
    for (auto& ep : live)
      ep->go_away(retry_ms);
  }

private:
  std::mutex mtx_;
  std::unordered_map<const ws_endpoint*, std::weak_ptr<ws_endpoint>> open_;
};

} // namespace herald

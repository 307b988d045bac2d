#include "herald/admin.hpp"

#include <mutex>

#include "http_link.hpp"

namespace herald::sdk {

struct admin_client::impl {
  detail::http_link link;
  std::chrono::milliseconds timeout;
  std::mutex mtx;

  impl(const std::string& url, std::chrono::milliseconds t, credentials creds)
    : link(hub_address::parse(url, std::move(creds))), timeout(t) {
  }

  nlohmann::json call(const std::string& method, const std::string& target,
                      const std::string& body) {
    std::lock_guard<std::mutex> lock{mtx};
    auto r = link.request(method, target, body, timeout);
    if (r.status / 100 != 2)
      throw request_failed(detail::error_of(r));
    return nlohmann::json::parse(r.body, nullptr, false);
  }
};

admin_client::admin_client(std::string url, std::chrono::milliseconds timeout, credentials creds)
  : impl_(std::make_unique<impl>(url, timeout, std::move(creds))) {
}

admin_client::~admin_client() = default;

nlohmann::json admin_client::backup(const std::string& dir) {
  return impl_->call("POST", "/v1/admin/backup", nlohmann::json{{"dir", dir}}.dump());
}

nlohmann::json admin_client::stats() {
  return impl_->call("GET", "/v1/stats", {});
}

} // namespace herald::sdk

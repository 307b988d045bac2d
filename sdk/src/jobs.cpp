#include "herald/jobs.hpp"

#include <mutex>
#include <random>
#include <thread>

#include "http_link.hpp"

namespace herald::sdk {

struct job_client::impl {
  detail::http_link link;
  std::chrono::milliseconds give_up_after;
  std::mutex mtx;
  std::mt19937_64 rng{std::random_device{}()};

  impl(const std::string& url, std::chrono::milliseconds g, credentials creds)
    : link(hub_address::parse(url, std::move(creds))), give_up_after(g) {
  }

  nlohmann::json call(const std::string& method, const std::string& id, const std::string& body) {
    std::lock_guard<std::mutex> lock{mtx};
    auto start = std::chrono::steady_clock::now();
    for (unsigned n = 0;; ++n) {
      auto r = link.request(method, "/v1/jobs/" + id, body, std::chrono::seconds(10));
      if (r.status == 200)
        return nlohmann::json::parse(r.body, nullptr, false);
      auto delay = detail::backoff(n, r.retry_after, std::chrono::milliseconds(100),
                                   std::chrono::milliseconds(5000), rng);
      if (!detail::retryable(r) || std::chrono::steady_clock::now() + delay - start > give_up_after)
        throw request_failed(detail::error_of(r));
      std::this_thread::sleep_for(delay);
    }
  }
};

job_client::job_client(std::string url, std::chrono::milliseconds give_up_after,
                       credentials creds)
  : impl_(std::make_unique<impl>(url, give_up_after, std::move(creds))) {
}

job_client::~job_client() = default;

nlohmann::json job_client::update(const std::string& id, const nlohmann::json& update) {
  return impl_->call("PUT", id, update.dump());
}

nlohmann::json job_client::get(const std::string& id) {
  return impl_->call("GET", id, {});
}

} // namespace herald::sdk

#include "net/cors.hpp"

#include <algorithm>

#include "net/http_responses.hpp"
#include "net/hub_context.hpp"

namespace herald {

void cors_middleware::after(hub_context& hub, const http_request& req, http_head& res) {
  auto origin = req[http::field::origin];
  auto live = hub.settings();
  auto& allowed = live->cors_allowed_origins;
  if (origin.empty() || allowed.empty())
    return;
  std::string o{origin.data(), origin.size()};
  bool listed = std::find(allowed.begin(), allowed.end(), o) != allowed.end();
  bool any = std::find(allowed.begin(), allowed.end(), "*") != allowed.end();
  if (!listed && !any)
    return;
  res.set(http::field::access_control_allow_origin, listed ? o : std::string{"*"});
  if (listed) {
    add_vary(res, "Origin");
    // A listed origin may send the visitor's cookie (EventSource's withCredentials, Mercure's
    // mercureAuthorization): never granted to "*".
    res.set(http::field::access_control_allow_credentials, "true");
  }
  res.set(http::field::access_control_expose_headers,
          "Herald-Connection-Id, Retry-After, Last-Event-ID");
  if (req.method() == http::verb::options && res.result() == http::status::no_content) {
    res.set(http::field::access_control_allow_methods, res[http::field::allow]);
    res.set(http::field::access_control_allow_headers,
            "Content-Type, Content-Encoding, Last-Event-ID, Authorization, Cache-Control");
    res.set(http::field::access_control_max_age, "600");
  }
}

} // namespace herald

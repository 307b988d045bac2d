#pragma once
// herald::sdk::admin_client: operators' requests to a hub (an admin token's, herald.admin).
//
//   herald::sdk::admin_client admin{"http://127.0.0.1:8080", std::chrono::seconds(60), creds};
//   auto copy = admin.backup("/var/backups/herald/2026-12-02");  // {"dir","log_head",...}

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "herald/client.hpp"

namespace herald::sdk {

class admin_client {
public:
  explicit admin_client(std::string url,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60),
                        credentials creds = {});
  ~admin_client();

  /// POST /v1/admin/backup: a consistent copy of the hub's data in `dir`, a new directory on the
  /// hub's machine (absolute). Returns the hub's answer, or throws request_failed. Not retried: a
  /// backup that failed half-way leaves its directory, which the next attempt may not reuse.
  nlohmann::json backup(const std::string& dir);

  /// GET /v1/stats.
  nlohmann::json stats();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace herald::sdk

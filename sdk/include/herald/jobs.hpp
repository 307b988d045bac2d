#pragma once
// herald::sdk::job_client: for workers that report a job's progress to the hub, which pushes it
// to every viewer (GET /v1/jobs/{id}/events). Retries on connection errors, 5xx, 408 and 429 like the
// publisher; job updates are idempotent snapshots, so a retry is harmless.
//
//   herald::sdk::job_client jobs{"http://127.0.0.1:8080"};
//   jobs.update("import-7", {{"state", "active"}, {"progress", 40}, {"message", "rows"}});
//   jobs.update("import-7", {{"state", "completed"}, {"result", {{"rows", 1200}}}});

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "herald/client.hpp"

namespace herald::sdk {

class job_client {
public:
  explicit job_client(std::string url,
                      std::chrono::milliseconds give_up_after = std::chrono::seconds(30),
                      credentials creds = {});
  ~job_client();

  /// PUT /v1/jobs/{id}: the job's new snapshot, or throws request_failed.
  nlohmann::json update(const std::string& id, const nlohmann::json& update);

  /// GET /v1/jobs/{id}: the snapshot, or throws request_failed (404 for an unknown job).
  nlohmann::json get(const std::string& id);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace herald::sdk

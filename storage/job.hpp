#pragma once
// Jobs: the state machine of a job's progress, as reported by workers and shown to viewers.
//
// A snapshot is a JSON object:
//   {"id", "state", "progress", "message", "data", "result", "error", "version",
//    "created", "updated"}   (times in ms since the Unix epoch)
// States: waiting, active (running states); completed, failed, cancelled (terminal), and
// expired, which the hub assigns to a job with no update for too long (terminal).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace herald {

struct job_error {
  bool conflict;    // false: the update is invalid; true: the job's state refuses it
  std::string code;
  std::string message;
  std::uint64_t current_version = 0; // with a version_conflict
};

/// Nullopt when `id` is a valid job id (1 to 128 of [A-Za-z0-9_.-]), else the reason.
std::optional<std::string> validate_job_id(std::string_view id);

bool is_terminal_state(std::string_view state);

/// Applies a worker's update (the PUT body) to `current` (null for a new job). An `upstream`
/// object (see docs/api.md) must name an http URL on one of `allowed_hosts` ("*": any).
std::variant<nlohmann::json, job_error>
apply_job_update(const nlohmann::json& current, const std::string& id,
                 const nlohmann::json& update, std::int64_t now_ms,
                 const std::vector<std::string>& allowed_hosts = {});

/// The update an upstream status document implies for `snapshot` (through the job's
/// `upstream.map` and `upstream.states`), or nullopt when nothing changed.
std::optional<nlohmann::json> upstream_update(const nlohmann::json& snapshot,
                                              const nlohmann::json& status_doc);

/// The snapshot a job gets when the hub expires it.
nlohmann::json expire_job(const nlohmann::json& current, std::int64_t now_ms);

/// The SSE event type of a snapshot change: job.snapshot, job.update, job.<terminal state>.
std::string job_event_type(const nlohmann::json& snapshot, bool first);

} // namespace herald

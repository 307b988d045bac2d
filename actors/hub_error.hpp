#pragma once
// The errors of Herald's domain: one enum (the kind, which decides how a transport answers), plus
// the client-visible code and message carried in the error's context. Actors return them; each
// transport renders them once (net/http_error.cpp for HTTP). Registered with CAF under the
// category "herald", so `sys.render(err)` reads "herald: not_found session_not_found: ...".

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>

namespace herald {

enum class hub_errc : std::uint8_t {
  invalid_request = 1, // the request breaks a rule; nothing changed
  not_found,           // no such session, job, ...
  conflict,            // the resource's state forbids it (version, deleting, limit, ...)
  topic_full,          // a topic is at its subscriber limit; retry later
  shutting_down,       // the hub stops; retry elsewhere or later
  unavailable,         // the actor that serves it is gone or restarting; retry
  storage_failure,     // RocksDB failed; nothing was acknowledged
  finished,            // a job stream has nothing more to say: stop reconnecting
  internal,            // a bug or an unexpected error
  forbidden,           // the principal may not do this (another subject's session, ...)
  last = forbidden,    // the highest code (keep it the last one)
};

const char* to_string(hub_errc x);

/// An error of kind `x` with the client-visible `code`, a `message`, and (for conflicts on a
/// version) the current version.
caf::error hub_error(hub_errc x, std::string code, std::string message,
                     std::optional<std::uint64_t> current_version = std::nullopt);

/// An error of kind `x` whose code is the kind's name.
caf::error make_error(hub_errc x);

/// True when `err` is a Herald error of kind `x`.
bool is(const caf::error& err, hub_errc x);

/// The parts of a Herald error (or of any other error, rendered as `internal`).
struct error_parts {
  hub_errc kind = hub_errc::internal;
  std::string code;
  std::string message;
  std::optional<std::uint64_t> current_version;
};
error_parts parts_of(const caf::error& err);

/// Registers the "herald" error category so the actor system can render these errors.
void add_hub_error_category(caf::actor_system_config& cfg);

} // namespace herald

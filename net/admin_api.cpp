#include "net/admin_api.hpp"

#include <chrono>
#include <filesystem>

#include <caf/event_based_actor.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "net/auth.hpp"
#include "net/http_responses.hpp"
#include "net/hub_context.hpp"
#include "storage/event_id.hpp"

namespace herald {

namespace {

using json = nlohmann::json;

http_response refuse(const http_request& req, http::status status, std::string_view code,
                     std::string_view message) {
  return error_response(req, status, code, message);
}

/// Sessions keep their cursors in memory between checkpoints: they write them first, so that the
/// copy has every session as it is now; then the checkpoint, on the reader's storage thread.
/// (Its state comes as spawn arguments: CAF 0.17 binds a reference to a null tuple when a
/// function-based actor is spawned without any, which UBSan reports.)
void backup_steps(caf::event_based_actor* self, caf::actor registry, reader_handle reader,
                  backup_request_ptr job) {
  self->request(registry, std::chrono::seconds(30), checkpoint_atom::value)
    .then([=](bool) { self->send(reader, backup_atom::value, job); },
          [=](caf::error& err) {
            job->done("durable sessions could not write their cursors: " + to_string(err), 0);
          });
}

} // namespace

void handle_backup(hub_context& hub, route_request& r, respond_fn respond) {
  if (auto refused = refuse_unless_admin(r))
    return respond(std::move(*refused));
  auto doc = json::parse(r.req.body(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return respond(refuse(r.req, http::status::bad_request, "invalid_json",
                          "the body must be a JSON object {\"dir\": \"/absolute/path\"}"));
  for (auto it = doc.begin(); it != doc.end(); ++it)
    if (it.key() != "dir")
      return respond(refuse(r.req, http::status::bad_request, "unknown_field",
                            "unknown field '" + it.key().substr(0, 64) + "'"));
  auto dir = doc.value("dir", json{});
  if (!dir.is_string() || dir.get<std::string>().empty() || dir.get<std::string>().size() > 4096
      || dir.get<std::string>().find('\0') != std::string::npos)
    return respond(refuse(r.req, http::status::bad_request, "invalid_dir",
                          "'dir' must be a path of at most 4096 bytes"));
  std::filesystem::path path{dir.get<std::string>()};
  if (!path.is_absolute())
    return respond(refuse(r.req, http::status::bad_request, "invalid_dir",
                          "'dir' must be an absolute path on the hub's machine"));
  std::error_code ec;
  if (std::filesystem::exists(path, ec) || ec)
    return respond(refuse(r.req, http::status::conflict, "exists",
                          "'" + path.string() + "' exists: a backup goes to a new directory"));
  if (!std::filesystem::is_directory(path.parent_path(), ec))
    return respond(refuse(r.req, http::status::bad_request, "invalid_dir",
                          "the parent of '" + path.string() + "' is not a directory"));
  auto started = std::chrono::steady_clock::now();
  auto head = r.head;
  auto epoch = hub.log->epoch();
  auto job = std::make_shared<backup_request>();
  job->dir = path.string();
  job->done = [respond, head, started, epoch, dir = job->dir](std::optional<std::string> err,
                                                             std::uint64_t at) {
    if (err) {
      spdlog::error("event=backup_failed dir=\"{}\" error=\"{}\"", dir, *err);
      return respond(error_response(*head, http::status::internal_server_error, "backup_failed",
                                    *err));
    }
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now()
                                                        - started)
                .count();
    spdlog::info("event=backup_written dir=\"{}\" log_head={} duration_ms={:.0f}", dir,
                 format_event_id(epoch, at), ms);
    respond(json_response(*head, http::status::created,
                          json{{"dir", dir},
                               {"log_head", format_event_id(epoch, at)},
                               {"duration_ms", static_cast<std::int64_t>(ms)}}
                            .dump()));
  };
  hub.sys.spawn(backup_steps, hub.session_registry, hub.reader, std::move(job));
}

} // namespace herald

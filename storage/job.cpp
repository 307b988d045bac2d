#include "storage/job.hpp"

#include <algorithm>

#include "uri/uri.hpp"

namespace herald {

using json = nlohmann::json;

std::optional<std::string> validate_job_id(std::string_view id) {
  if (id.empty() || id.size() > 128)
    return std::string{"job id must be 1 to 128 characters"};
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      return std::string{"job id may only contain letters, digits and '_', '-', '.'"};
  return std::nullopt;
}

bool is_terminal_state(std::string_view s) {
  return s == "completed" || s == "failed" || s == "cancelled" || s == "expired";
}

namespace {

std::optional<std::string> validate_upstream(const json& up,
                                             const std::vector<std::string>& allowed_hosts) {
  if (up.is_null())
    return std::nullopt;
  if (!up.is_object())
    return std::string{"'upstream' must be an object or null"};
  for (auto it = up.begin(); it != up.end(); ++it)
    if (it.key() != "url" && it.key() != "map" && it.key() != "states"
        && it.key() != "interval_ms")
      return "unknown field 'upstream." + it.key() + "'";
  auto url = up.find("url");
  if (url == up.end() || !url->is_string())
    return std::string{"'upstream.url' is required (http://host[:port]/path)"};
  const auto& u = url->get_ref<const std::string&>();
  // The same parser as the poller's, so the host checked here is the host it connects to.
  std::string why;
  auto parsed = uri::parse_url(u, &why);
  if (!parsed)
    return "'upstream.url': " + why;
  if (parsed->secure())
    return std::string{"'upstream.url' must be an http:// URL"};
  const auto& host = parsed->host;
  bool allowed = std::any_of(allowed_hosts.begin(), allowed_hosts.end(),
                             [&](const std::string& h) { return h == "*" || h == host; });
  if (!allowed)
    return "upstream host '" + host + "' is not allowed (jobs.upstream_allowed_hosts)";
  auto map = up.find("map");
  if (map == up.end() || !map->is_object() || map->empty())
    return std::string{"'upstream.map' must map job fields to JSON pointers"};
  for (auto it = map->begin(); it != map->end(); ++it) {
    static const char* fields[] = {"state", "progress", "message", "data", "result", "error"};
    if (std::none_of(std::begin(fields), std::end(fields),
                     [&](const char* f) { return it.key() == f; }))
      return "'upstream.map' has unknown job field '" + it.key() + "'";
    if (!it->is_string() || (!it->get_ref<const std::string&>().empty()
                             && it->get_ref<const std::string&>().front() != '/'))
      return "'upstream.map." + it.key() + "' must be a JSON pointer such as \"/status\"";
  }
  if (auto st = up.find("states"); st != up.end()) {
    if (!st->is_object())
      return std::string{"'upstream.states' must map upstream values to job states"};
    for (auto it = st->begin(); it != st->end(); ++it)
      if (!it->is_string() || (*it != "waiting" && *it != "active" && *it != "completed"
                               && *it != "failed" && *it != "cancelled"))
        return "'upstream.states." + it.key() + "' must be a job state";
  }
  if (auto iv = up.find("interval_ms"); iv != up.end())
    if (!iv->is_number_unsigned() || iv->get<std::uint64_t>() < 100
        || iv->get<std::uint64_t>() > 60000)
      return std::string{"'upstream.interval_ms' must be from 100 to 60000"};
  return std::nullopt;
}

} // namespace

std::optional<json> upstream_update(const json& snapshot, const json& doc) {
  auto& up = snapshot["upstream"];
  json update = json::object();
  for (auto it = up["map"].begin(); it != up["map"].end(); ++it) {
    json::json_pointer ptr{it->get<std::string>()};
    if (!doc.contains(ptr))
      continue;
    json value = doc.at(ptr);
    if (it.key() == "state") {
      auto key = value.is_string() ? value.get<std::string>() : value.dump();
      if (auto st = up.find("states"); st != up.end() && st->contains(key))
        value = (*st)[key];
    }
    if (snapshot.value(it.key(), json{}) != value)
      update[it.key()] = std::move(value);
  }
  if (update.empty())
    return std::nullopt;
  return update;
}

std::variant<json, job_error> apply_job_update(const json& current, const std::string& id,
                                               const json& update, std::int64_t now_ms,
                                               const std::vector<std::string>& allowed_hosts) {
  auto bad = [](std::string code, std::string msg) {
    return job_error{false, std::move(code), std::move(msg)};
  };
  if (!update.is_object())
    return bad("invalid_body", "the body must be a JSON object");
  static const char* fields[] = {"state",  "progress", "message",          "data",
                                 "result", "error",    "expected_version", "upstream"};
  for (auto it = update.begin(); it != update.end(); ++it)
    if (std::none_of(std::begin(fields), std::end(fields),
                     [&](const char* f) { return it.key() == f; }))
      return bad("unknown_field", "unknown field '" + it.key() + "'");
  json next = current.is_null() ? json{{"id", id},           {"state", "waiting"},
                                       {"progress", 0},      {"message", ""},
                                       {"data", nullptr},    {"result", nullptr},
                                       {"error", nullptr},   {"version", 0},
                                       {"created", now_ms}, {"updated", now_ms}}
                                : current;
  std::uint64_t version = next["version"].get<std::uint64_t>();
  if (auto ev = update.find("expected_version"); ev != update.end()) {
    if (!ev->is_number_unsigned() && !(ev->is_number_integer() && ev->get<std::int64_t>() >= 0))
      return bad("invalid_version", "'expected_version' must be a non-negative integer");
    if (ev->get<std::uint64_t>() != version)
      return job_error{true, "version_conflict",
                       "expected version " + std::to_string(ev->get<std::uint64_t>())
                         + ", the job is at version " + std::to_string(version),
                       version};
  }
  if (is_terminal_state(next["state"].get<std::string>()))
    return job_error{true, "job_terminal",
                     "the job is " + next["state"].get<std::string>()
                       + "; a terminal job accepts no update",
                     version};
  if (auto st = update.find("state"); st != update.end()) {
    static const char* states[] = {"waiting", "active", "completed", "failed", "cancelled"};
    if (!st->is_string()
        || std::none_of(std::begin(states), std::end(states),
                        [&](const char* s) { return *st == s; }))
      return bad("invalid_state",
                 "'state' must be one of waiting, active, completed, failed, cancelled");
    next["state"] = *st;
  }
  if (auto p = update.find("progress"); p != update.end()) {
    if (!p->is_number() || p->get<double>() < 0 || p->get<double>() > 100)
      return bad("invalid_progress", "'progress' must be a number from 0 to 100");
    next["progress"] = *p;
  }
  if (auto m = update.find("message"); m != update.end()) {
    if (!m->is_string() || m->get_ref<const std::string&>().size() > 4096)
      return bad("invalid_message", "'message' must be a string of at most 4096 bytes");
    next["message"] = *m;
  }
  for (const char* f : {"data", "result", "error"})
    if (auto v = update.find(f); v != update.end())
      next[f] = *v;
  if (auto up = update.find("upstream"); up != update.end()) {
    if (auto err = validate_upstream(*up, allowed_hosts))
      return bad("invalid_upstream", *err);
    if (up->is_null())
      next.erase("upstream");
    else
      next["upstream"] = *up;
  }
  if (next["state"] == "completed")
    next["progress"] = 100;
  next["version"] = version + 1;
  next["updated"] = now_ms;
  return next;
}

json expire_job(const json& current, std::int64_t now_ms) {
  json next = current;
  next["state"] = "expired";
  next["error"] = "no update for too long: the hub expired the job";
  next["version"] = current["version"].get<std::uint64_t>() + 1;
  next["updated"] = now_ms;
  return next;
}

std::string job_event_type(const json& snapshot, bool first) {
  auto state = snapshot["state"].get<std::string>();
  if (is_terminal_state(state))
    return "job." + state;
  return first ? "job.snapshot" : "job.update";
}

} // namespace herald

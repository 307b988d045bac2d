#include "storage/session_record.hpp"

#include <tuple>

#include <algorithm>

#include "storage/topic_pattern.hpp"

namespace herald {
namespace {

using json = nlohmann::json;

std::optional<std::string> read_u64(const json& body, const char* key, std::uint64_t lo,
                                    std::uint64_t hi, std::uint64_t& out) {
  auto it = body.find(key);
  if (it == body.end())
    return std::nullopt;
  if (!it->is_number_integer() || it->get<std::int64_t>() < static_cast<std::int64_t>(lo)
      || it->get<std::int64_t>() > static_cast<std::int64_t>(hi))
    return "'" + std::string{key} + "' must be an integer from " + std::to_string(lo) + " to "
           + std::to_string(hi);
  out = it->get<std::uint64_t>();
  return std::nullopt;
}

} // namespace

std::optional<std::string> validate_session_id(std::string_view id) {
  if (id.empty() || id.size() > 128)
    return std::string{"session id must be 1 to 128 characters"};
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'
          || c == ':' || c == '@'))
      return std::string{"session id may only contain letters, digits and '_', '-', '.', ':', '@'"};
  return std::nullopt;
}

std::variant<session_settings, std::string> parse_session_settings(const json& body,
                                                                   const session_settings& current,
                                                                   const session_limits& limits) {
  if (!body.is_object())
    return std::string{"the body must be a JSON object"};
  static constexpr const char* known[] = {"topics",         "ack_wait_seconds", "max_pending",
                                          "max_deliveries", "ttl_seconds",      "start"};
  for (auto it = body.begin(); it != body.end(); ++it)
    if (std::find_if(std::begin(known), std::end(known),
                     [&](const char* k) { return it.key() == k; })
        == std::end(known))
      return "unknown field '" + it.key() + "'";
  session_settings out = current;
  if (auto t = body.find("topics"); t != body.end()) {
    if (!t->is_array() || t->empty())
      return std::string{"'topics' must be a non-empty array of topics or patterns"};
    if (t->size() > limits.max_topics)
      return "at most " + std::to_string(limits.max_topics) + " topics per session";
    out.topics.clear();
    for (auto& p : *t) {
      if (!p.is_string())
        return std::string{"'topics' must contain strings"};
      if (auto err = validate_pattern(p.get_ref<const std::string&>()))
        return "topic '" + p.get<std::string>() + "': " + *err;
      if (std::find(out.topics.begin(), out.topics.end(), p.get<std::string>())
          == out.topics.end())
        out.topics.push_back(p.get<std::string>());
    }
  } else if (out.topics.empty()) {
    return std::string{"'topics' is required when a session is created"};
  }
  std::uint64_t ack_wait_s = out.ack_wait_ms / 1000;
  if (auto err = read_u64(body, "ack_wait_seconds", 1, 86400, ack_wait_s))
    return *err;
  out.ack_wait_ms = ack_wait_s * 1000;
  if (auto err = read_u64(body, "max_pending", 1, 100000, out.max_pending))
    return *err;
  if (auto err = read_u64(body, "max_deliveries", 1, 1000, out.max_deliveries))
    return *err;
  if (auto err = read_u64(body, "ttl_seconds", 1, 90 * 86400, out.ttl_seconds))
    return *err;
  if (auto s = body.find("start"); s != body.end()
                                   && (!s->is_string() || (*s != "head" && *s != "earliest")))
    return std::string{"'start' must be \"head\" or \"earliest\""};
  return out;
}

std::string encode_session(const session_record& r) {
  return json{{"topics", r.settings.topics},
              {"ack_wait_ms", r.settings.ack_wait_ms},
              {"max_pending", r.settings.max_pending},
              {"max_deliveries", r.settings.max_deliveries},
              {"ttl_seconds", r.settings.ttl_seconds},
              {"created_ms", r.created_ms},
              {"last_seen_ms", r.last_seen_ms},
              {"delivered_through", r.delivered_through},
              {"ack_through", r.ack_through},
              {"owner", r.owner},
              {"viewer",
               {{"token", r.viewer.authenticated()},
                {"sub", r.viewer.sub},
                {"roles", r.viewer.roles},
                {"subscribe", r.viewer.subscribe}}},
              {"settings_ms", r.settings_ms},
              {"settings_origin", r.settings_origin}}
    .dump();
}

bool newer_settings(const session_record& a, const session_record& b) {
  return std::tie(a.settings_ms, a.settings_origin) > std::tie(b.settings_ms, b.settings_origin);
}

std::optional<session_record> decode_session(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object())
    return std::nullopt;
  try {
    session_record r;
    r.settings.topics = j.at("topics").get<std::vector<std::string>>();
    r.settings.ack_wait_ms = j.at("ack_wait_ms").get<std::uint64_t>();
    r.settings.max_pending = j.at("max_pending").get<std::uint64_t>();
    r.settings.max_deliveries = j.at("max_deliveries").get<std::uint64_t>();
    r.settings.ttl_seconds = j.at("ttl_seconds").get<std::uint64_t>();
    r.created_ms = j.at("created_ms").get<std::int64_t>();
    r.last_seen_ms = j.at("last_seen_ms").get<std::int64_t>();
    r.delivered_through = j.at("delivered_through").get<std::uint64_t>();
    r.ack_through = j.at("ack_through").get<std::uint64_t>();
    r.owner = j.value("owner", std::string{});
    if (auto v = j.find("viewer"); v != j.end() && v->is_object()) {
      if (v->value("token", false))
        r.viewer.from = principal::origin::token;
      r.viewer.sub = v->value("sub", std::string{});
      r.viewer.roles = v->value("roles", std::vector<std::string>{});
      r.viewer.subscribe = v->value("subscribe", std::vector<std::string>{});
    }
    r.settings_ms = j.value("settings_ms", std::int64_t{0}); // absent in records before it
    r.settings_origin = j.value("settings_origin", std::string{});
    return r;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::string encode_dead_letter(const dead_letter_record& d) {
  return json{{"deliveries", d.deliveries}, {"reason", d.reason}, {"time_ms", d.time_ms}}.dump();
}

std::optional<dead_letter_record> decode_dead_letter(std::uint64_t pos, std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object())
    return std::nullopt;
  try {
    return dead_letter_record{pos, j.at("deliveries").get<std::uint32_t>(),
                              j.at("reason").get<std::string>(), j.at("time_ms").get<std::int64_t>()};
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

} // namespace herald

namespace herald {

std::string encode_session_write(const session_write& w) {
  nlohmann::json doc{{"id", w.id}};
  if (w.erase)
    doc["erase"] = true;
  if (w.attach_ms != 0)
    doc["attach_ms"] = w.attach_ms;
  if (w.record)
    doc["record"] = encode_session(*w.record);
  auto& pp = doc["put_pending"] = nlohmann::json::array();
  for (auto& p : w.put_pending)
    pp.push_back({p.pos, p.deliveries});
  doc["del_pending"] = w.del_pending;
  auto& pd = doc["put_dead"] = nlohmann::json::array();
  for (auto& d : w.put_dead)
    pd.push_back({d.pos, d.deliveries, d.reason, d.time_ms});
  doc["del_dead"] = w.del_dead;
  return doc.dump();
}

std::optional<session_write> decode_session_write(std::string_view text) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("id") || !doc["id"].is_string())
    return std::nullopt;
  try {
    session_write w;
    w.id = doc["id"].get<std::string>();
    w.erase = doc.value("erase", false);
    w.attach_ms = doc.value("attach_ms", std::int64_t{0});
    if (doc.contains("record")) {
      w.record = decode_session(doc["record"].get<std::string>());
      if (!w.record)
        return std::nullopt;
    }
    for (auto& p : doc.at("put_pending"))
      w.put_pending.push_back({p.at(0).get<std::uint64_t>(), p.at(1).get<std::uint32_t>()});
    w.del_pending = doc.at("del_pending").get<std::vector<std::uint64_t>>();
    for (auto& d : doc.at("put_dead"))
      w.put_dead.push_back({d.at(0).get<std::uint64_t>(), d.at(1).get<std::uint32_t>(),
                            d.at(2).get<std::string>(), d.at(3).get<std::int64_t>()});
    w.del_dead = doc.at("del_dead").get<std::vector<std::uint64_t>>();
    return w;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

} // namespace herald

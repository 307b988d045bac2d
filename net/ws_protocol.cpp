#include "net/ws_protocol.hpp"

#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "net/http_api.hpp"
#include "net/http_responses.hpp"

namespace herald {
namespace {

namespace dom = simdjson::dom;

ws_refusal refuse(std::string code, std::string message, std::string req = {}) {
  return ws_refusal{std::move(code), std::move(message), std::move(req)};
}

bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

/// A short name of the client's choosing (a request or subscription id): 1 to 64 bytes, no
/// control characters.
bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && !has_control_char(s);
}

/// The fields a command reads; anything else in the message refuses it (except publish and ack,
/// whose other fields are their HTTP body's, checked by that endpoint).
struct fields {
  std::optional<dom::element> sub, topics, last_event_id, session, token;
};

std::optional<ws_refusal> string_field(const std::optional<dom::element>& e, const char* name,
                                       bool required, std::string& out, const std::string& req) {
  if (!e) {
    if (required)
      return refuse("missing_field", std::string{"'"} + name + "' is required", req);
    return std::nullopt;
  }
  std::string_view v;
  if (e->get(v) != simdjson::SUCCESS)
    return refuse("invalid_field", std::string{"'"} + name + "' must be a string", req);
  out.assign(v);
  return std::nullopt;
}

std::optional<ws_refusal> sub_name(const fields& f, std::string& out, const std::string& req) {
  if (auto err = string_field(f.sub, "sub", true, out, req))
    return err;
  if (!valid_name(out))
    return refuse("invalid_sub",
                  "'sub' must be 1 to 64 bytes without control characters", req);
  return std::nullopt;
}

} // namespace

std::variant<ws_message, ws_refusal> parse_ws_message(std::string_view text, std::size_t max_depth,
                                                       std::size_t max_topics) {
  if (json_deeper_than(text, max_depth))
    return refuse("too_deep", "the message nests arrays and objects deeper than "
                                + std::to_string(max_depth) + " levels");
  thread_local dom::parser parser;
  dom::element doc;
  if (parser.parse(text.data(), text.size()).get(doc) != simdjson::SUCCESS)
    return refuse("malformed_json", "the message is not valid JSON, or has a number outside "
                                    "64-bit integers and doubles");
  dom::object obj;
  if (doc.get(obj) != simdjson::SUCCESS)
    return refuse("invalid_message", "a message must be a JSON object with an \"op\"");
  // op and req first: a refusal names the request when it can.
  std::string op, req;
  bool has_op = false, has_req = false;
  for (auto [key, value] : obj) {
    if (key == "op" || key == "req") {
      bool& seen = key == "op" ? has_op : has_req;
      if (seen)
        return refuse("duplicate_field", "field '" + std::string{key} + "' appears twice");
      seen = true;
      std::string_view v;
      if (value.get(v) != simdjson::SUCCESS)
        return refuse("invalid_field", "'" + std::string{key} + "' must be a string");
      (key == "op" ? op : req).assign(v);
    }
  }
  if (has_req && !valid_name(req))
    return refuse("invalid_req", "'req' must be 1 to 64 bytes without control characters");
  if (!has_op)
    return refuse("missing_field", "'op' is required", req);

  if (op == "publish" || op == "ack") {
    // The rest of the message is the endpoint's body, minified as publish_body keeps `data`.
    std::string body;
    std::string session;
    std::optional<dom::element> events;
    std::size_t others = 0;
    for (auto [key, value] : obj) {
      if (key == "op" || key == "req")
        continue;
      if (op == "ack" && key == "session") {
        std::string_view v;
        if (value.get(v) != simdjson::SUCCESS)
          return refuse("invalid_field", "'session' must be a string", req);
        session.assign(v);
        continue;
      }
      if (op == "publish" && key == "events") {
        events = value;
        continue;
      }
      ++others;
      body.append(body.empty() ? "{" : ",").append(json_string(key)).push_back(':');
      body.append(simdjson::minify(value));
    }
    if (op == "ack") {
      if (session.empty())
        return refuse("missing_field", "'session' is required", req);
      return ws_message{req, ws_ack{std::move(session), body.empty() ? "{}" : body + "}"}};
    }
    if (events) {
      if (others > 0)
        return refuse("invalid_message",
                      "a publish has either the fields of one event or \"events\", not both",
                      req);
      return ws_message{req, ws_publish{simdjson::minify(*events)}};
    }
    return ws_message{req, ws_publish{body.empty() ? "{}" : body + "}"}};
  }

  fields f;
  for (auto [key, value] : obj) {
    if (key == "op" || key == "req")
      continue;
    std::optional<dom::element>* slot = key == "sub"             ? &f.sub
                                        : key == "topics"        ? &f.topics
                                        : key == "last_event_id" ? &f.last_event_id
                                        : key == "session"       ? &f.session
                                        : key == "token"         ? &f.token
                                                                 : nullptr;
    if (slot == nullptr)
      return refuse("unknown_field",
                    "unknown field '" + std::string{key.substr(0, 64)} + "' for op '" + op + "'",
                    req);
    if (*slot)
      return refuse("duplicate_field", "field '" + std::string{key} + "' appears twice", req);
    *slot = value;
  }
  auto only = [&](std::initializer_list<std::optional<dom::element> fields::*> allowed)
    -> std::optional<ws_refusal> {
    const std::pair<std::optional<dom::element> fields::*, const char*> all[] = {
      {&fields::sub, "sub"},         {&fields::topics, "topics"}, {&fields::last_event_id,
                                                                    "last_event_id"},
      {&fields::session, "session"}, {&fields::token, "token"}};
    for (auto& [member, name] : all)
      if ((f.*member).has_value()
          && std::find(allowed.begin(), allowed.end(), member) == allowed.end())
        return refuse("unknown_field",
                      std::string{"unknown field '"} + name + "' for op '" + op + "'", req);
    return std::nullopt;
  };

  if (op == "subscribe") {
    if (auto err = only({&fields::sub, &fields::topics, &fields::last_event_id}))
      return *err;
    ws_subscribe s;
    if (auto err = sub_name(f, s.sub, req))
      return *err;
    dom::array list;
    auto rule = [&] {
      return refuse("invalid_topics",
                    "'topics' must be a list of 1 to " + std::to_string(max_topics)
                      + " topics or patterns (strings)",
                    req);
    };
    if (!f.topics || f.topics->get(list) != simdjson::SUCCESS || list.size() == 0
        || list.size() > max_topics)
      return rule();
    for (auto t : list) {
      std::string_view v;
      if (t.get(v) != simdjson::SUCCESS)
        return rule();
      s.topics.emplace_back(v);
    }
    if (auto err = string_field(f.last_event_id, "last_event_id", false, s.last_event_id, req))
      return *err;
    return ws_message{req, std::move(s)};
  }
  if (op == "attach") {
    if (auto err = only({&fields::sub, &fields::session, &fields::last_event_id}))
      return *err;
    ws_attach a;
    if (auto err = sub_name(f, a.sub, req))
      return *err;
    if (auto err = string_field(f.session, "session", true, a.session, req))
      return *err;
    if (auto err = string_field(f.last_event_id, "last_event_id", false, a.last_event_id, req))
      return *err;
    return ws_message{req, std::move(a)};
  }
  if (op == "unsubscribe") {
    if (auto err = only({&fields::sub}))
      return *err;
    ws_unsubscribe u;
    if (auto err = sub_name(f, u.sub, req))
      return *err;
    return ws_message{req, std::move(u)};
  }
  if (op == "auth") {
    if (auto err = only({&fields::token}))
      return *err;
    ws_auth a;
    if (auto err = string_field(f.token, "token", true, a.token, req))
      return *err;
    return ws_message{req, std::move(a)};
  }
  return refuse("unknown_op",
                "unknown op '" + op.substr(0, 64)
                  + "' (subscribe, attach, unsubscribe, publish, ack, auth)",
                req);
}

std::string render_ws_reply(std::string_view req, std::string_view sub, unsigned status,
                            std::string_view body) {
  std::string out{R"({"op":"reply",)"};
  if (!req.empty())
    out.append(R"("req":)").append(json_string(req)).push_back(',');
  if (!sub.empty())
    out.append(R"("sub":)").append(json_string(sub)).push_back(',');
  out.append(R"("status":)").append(std::to_string(status)).append(R"(,"body":)");
  out.append(body.empty() ? std::string_view{"{}"} : body).push_back('}');
  return out;
}

std::string render_ws_error(std::string_view req, std::string_view code,
                            std::string_view message) {
  std::string out{R"({"op":"error",)"};
  if (!req.empty())
    out.append(R"("req":)").append(json_string(req)).push_back(',');
  out.append(R"("error":{"code":)").append(json_string(code));
  out.append(R"(,"message":)").append(json_string(message)).append("}}");
  return out;
}

std::string render_ws_ended(std::string_view sub_json, std::string_view reason) {
  return ws_sub_prefix(sub_json) + R"("op":"ended","reason":)" + json_string(reason) + "}";
}

std::string ws_sub_prefix(std::string_view sub_json) {
  std::string out{R"({"sub":)"};
  out.append(sub_json).push_back(',');
  return out;
}

std::string render_ws_tail(const stream_item& item) {
  std::string out;
  switch (item.kind) {
    case item_kind::event:
      out.reserve(item.id.size() + item.topic.size() + item.type.size() + item.data.size() + 64);
      out.append(R"("op":"event","id":)").append(json_string(item.id));
      out.append(R"(,"topic":)").append(json_string(item.topic));
      if (!item.type.empty())
        out.append(R"(,"type":)").append(json_string(item.type));
      out.append(R"(,"data":)").append(item.data);
      if (item.ack)
        out.append(R"(,"ack":true)");
      out.push_back('}');
      return out;
    case item_kind::notice: {
      // herald.gap -> "gap"; notices of other families keep their type.
      std::string_view type = item.type;
      if (type.substr(0, 7) == "herald.")
        out.append(R"("op":)").append(json_string(type.substr(7)));
      else
        out.append(R"("op":"notice","type":)").append(json_string(type));
      out.append(R"(,"data":)").append(item.data.empty() ? "{}" : item.data).push_back('}');
      return out;
    }
    case item_kind::retry:
    case item_kind::heartbeat:
      return out;
  }
  return out;
}

const std::string& ws_frame_tail(const stream_item& item) {
  return item.frame(encoding::ws, render_ws_tail);
}

} // namespace herald

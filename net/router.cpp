#include "net/router.hpp"

#include "net/compression.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "net/http_responses.hpp"
#include "net/hub_context.hpp"

namespace herald {

std::optional<http_response> middleware::before(hub_context&, route_request&) {
  return std::nullopt;
}

void middleware::after(hub_context&, const http_request&, http_head&) {
  // nop
}

bool match_pattern(std::string_view pattern, std::string_view path,
                   std::vector<std::string>& params) {
  params.clear();
  // Segment by segment: both start with '/', so splitting on '/' aligns them.
  while (!pattern.empty() && !path.empty()) {
    if (pattern.front() != '/' || path.front() != '/')
      return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    auto p_end = std::min(pattern.find('/'), pattern.size());
    auto s_end = std::min(path.find('/'), path.size());
    auto p_seg = pattern.substr(0, p_end);
    auto raw = path.substr(0, s_end);
    std::optional<std::string> decoded;
    if (raw.find('%') != std::string_view::npos) {
      decoded = uri::percent_decode(raw, false);
      if (!decoded)
        return false;
    }
    std::string_view s_seg = decoded ? std::string_view{*decoded} : raw;
    if (p_seg.size() >= 2 && p_seg.front() == '{' && p_seg.back() == '}') {
      if (s_seg.empty())
        return false;
      params.emplace_back(s_seg);
    } else if (p_seg != s_seg) {
      return false;
    }
    pattern.remove_prefix(p_end);
    path.remove_prefix(s_end);
  }
  return pattern.empty() && path.empty();
}

router::router(std::vector<route> routes, std::vector<std::shared_ptr<middleware>> chain)
  : routes_(std::move(routes)), chain_(std::move(chain)) {
  // nop
}

const route* router::match(http::verb method, std::string_view path,
                           std::vector<std::string>& params,
                           std::vector<http::verb>* allowed) const {
  // The first row with the method whose pattern matches; the methods of every matching pattern
  // only when asked (a request no row answers: 405 or OPTIONS).
  for (auto& r : routes_)
    if (r.method == method && match_pattern(r.pattern, path, params)) {
      if (allowed == nullptr)
        return &r;
      for (auto& other : routes_)
        if (std::vector<std::string> scratch; match_pattern(other.pattern, path, scratch))
          allowed->push_back(other.method);
      return &r;
    }
  params.clear();
  if (allowed != nullptr)
    for (auto& other : routes_)
      if (std::vector<std::string> scratch; match_pattern(other.pattern, path, scratch))
        allowed->push_back(other.method);
  return nullptr;
}

bool router::overlaps(const http_request& req) const {
  std::string_view target{req.target().data(), req.target().size()};
  auto path = target.substr(0, target.find('?'));
  for (auto& r : routes_)
    if (r.pipelining == route_pipelining::overlapping && r.method == req.method()
        && r.pattern == path)
      return true;
  return false;
}

head_finisher router::finisher(hub_context& hub, const http_request& req) const {
  auto entry = std::make_shared<access_entry>();
  std::string_view target{req.target().data(), req.target().size()};
  entry->path = std::string{target.substr(0, std::min<std::size_t>(target.find('?'), 256))};
  return finisher(hub, request_head(req), std::move(entry));
}

head_finisher router::finisher(hub_context& hub, std::shared_ptr<const http_request> head) const {
  return finisher(hub, std::move(head), nullptr);
}

head_finisher router::finisher(hub_context& hub, std::shared_ptr<const http_request> head,
                               std::shared_ptr<access_entry> entry) const {
  // The router outlives every request: it is built once, before the listener starts.
  return [this, &hub, head, entry](http_head& res) {
    for (auto it = chain_.rbegin(); it != chain_.rend(); ++it)
      (*it)->after(hub, *head, res);
    if (entry != nullptr) // the dashboard lists the latest refusals
      hub.metrics->note_rejection(res.result_int(), head->method_string(), entry->path);
    if (hub.settings()->log_access)
      log_access(*head, res, entry.get());
  };
}

void log_access(const http_request& req, const http_head& res, const access_entry* entry) {
  // Unary answers and refusals; a stream's head is not one (streams log their own lines).
  auto status = res.result_int();
  auto ct = res[http::field::content_type];
  std::string_view ctype{ct.data(), ct.size()};
  if (status == 101 || (status == 200 && ctype.rfind("text/event-stream", 0) == 0))
    return;
  std::string_view target{req.target().data(), req.target().size()};
  auto path = target.substr(0, target.find('?')); // never the query: it may hold a token
  if (entry != nullptr && !entry->path.empty())
    path = entry->path;
  std::string who = "anonymous";
  double ms = 0;
  std::string_view route = "-";
  if (entry != nullptr) {
    ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now()
                                                   - entry->started)
           .count();
    if (entry->matched != nullptr)
      route = entry->matched->pattern;
    if (entry->who != nullptr)
      who = entry->who->from == principal::origin::development ? "development"
            : entry->who->sub.empty() ? (entry->who->authenticated() ? "token" : "anonymous")
                                      : "sub:" + entry->who->sub;
  }
  auto method = http::to_string(req.method());
  spdlog::info("event=access method={} route={} path={} status={} duration_ms={:.2f} "
               "principal={}",
               std::string_view{method.data(), method.size()}, route,
               json_string(path.substr(0, 256)), status, ms, json_string(who));
}

namespace {

/// "GET, PUT, OPTIONS": each method once, in table order.
std::string allow_list(const std::vector<http::verb>& methods) {
  std::string out;
  for (std::size_t i = 0; i < methods.size(); ++i) {
    if (std::find(methods.begin(), methods.begin() + i, methods[i]) != methods.begin() + i)
      continue;
    auto name = http::to_string(methods[i]);
    out.append(name.data(), name.size()).append(", ");
  }
  return out + "OPTIONS";
}

} // namespace

void router::handle(hub_context& hub, http_request&& req, connection_context& conn,
                    const respond_fn& respond,
                    const std::function<void(stream_order)>& start_stream) const {
  route_request rr;
  rr.head = request_head(req);
  rr.who = hub.anonymous;
  rr.client_ip = conn.client_ip;
  rr.conn = &conn;
  auto entry = std::make_shared<access_entry>();
  {
    std::string_view target{req.target().data(), req.target().size()};
    entry->path = std::string{target.substr(0, std::min<std::size_t>(target.find('?'), 256))};
  }
  auto finish = finisher(hub, rr.head, entry);
  auto answer = [&respond, &finish](http_response res) {
    finish(res);
    respond(std::move(res));
  };
  auto target = uri::parse_request_target({req.target().data(), req.target().size()});
  if (!target)
    return answer(error_response(req, http::status::bad_request, "invalid_target",
                                 "the request target is not correctly percent-encoded"));
  rr.target = std::move(*target);
  std::string_view raw_target{req.target().data(), req.target().size()};
  auto raw_path = raw_target.substr(0, raw_target.find('?'));
  auto* r = match(req.method(), raw_path, rr.path_params);
  if (r == nullptr) {
    std::vector<http::verb> allowed;
    match(req.method(), raw_path, rr.path_params, &allowed);
    if (allowed.empty())
      return answer(error_response(req, http::status::not_found, "not_found",
                                   "no such endpoint: " + rr.target.path));
    auto allow = allow_list(allowed);
    http_response res;
    if (req.method() == http::verb::options) {
      // A CORS preflight (or a plain OPTIONS): the CORS middleware adds its headers.
      res = http_response{http::status::no_content, req.version()};
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
    } else {
      res = error_response(req, http::status::method_not_allowed, "method_not_allowed",
                           "use " + allow.substr(0, allow.size() - 9) + " for "
                             + rr.target.path);
    }
    res.set(http::field::allow, allow);
    return answer(std::move(res));
  }
  rr.req = std::move(req);
  rr.matched = r;
  entry->matched = r;
  for (auto& m : chain_)
    if (auto early = m->before(hub, rr)) {
      entry->who = rr.who;
      return answer(std::move(*early));
    }
  entry->who = rr.who;
  if (auto* unary = std::get_if<unary_handler>(&r->handler)) {
    // The answer may come later, from an actor's thread; the finisher keeps what it needs.
    return (*unary)(hub, rr, [respond, finish](http_response res) {
      finish(res);
      respond(std::move(res));
    });
  }
  auto started = std::get<stream_handler>(r->handler)(hub, rr);
  if (auto* res = std::get_if<http_response>(&started))
    return answer(std::move(*res));
  auto& start = std::get<stream_start>(started);
  start.expires_at = rr.who->expires_at;
  if (start.transport == stream_transport::sse && hub.cfg.compression_streams) {
    auto accept = rr.req[http::field::accept_encoding];
    start.gzip = accepts_gzip({accept.data(), accept.size()});
  }
  start.leases = std::move(rr.leases);
  start_stream(stream_order{std::move(start), std::move(rr.req), std::move(finish)});
}

} // namespace herald

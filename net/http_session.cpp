#include "net/http_session.hpp"

#include <variant>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "actors/job_viewer.hpp"
#include "actors/session_stream.hpp"
#include "net/session_api.hpp"
#include "net/sse_stream.hpp"

namespace herald {

namespace beast = boost::beast;
namespace net = boost::asio;

namespace {
constexpr auto idle_timeout = std::chrono::seconds(60);
} // namespace

http_session::http_session(hub_context& hub, net::ip::tcp::socket socket)
  : hub_(hub), stream_(std::move(socket)) {
  // nop
}

void http_session::run() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
}

void http_session::do_read() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(hub_.cfg.limits_max_header_bytes));
  parser_->body_limit(hub_.cfg.limits_max_body_bytes);
  stream_.expires_after(idle_timeout);
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            self->on_header(ec);
                          });
}

void http_session::on_header(beast::error_code ec) {
  if (ec == http::error::end_of_stream || ec == net::error::eof
      || ec == beast::error::timeout || ec == net::error::operation_aborted
      || ec == net::error::connection_reset)
    return close();
  if (ec == http::error::body_limit) // Content-Length over the limit: known from the headers
    return send_and_close(http::status::payload_too_large, "body_too_large",
                          "request body exceeds " + std::to_string(hub_.cfg.limits_max_body_bytes)
                            + " bytes");
  if (ec == http::error::header_limit)
    return send_and_close(http::status::request_header_fields_too_large, "headers_too_large",
                          "request headers exceed "
                            + std::to_string(hub_.cfg.limits_max_header_bytes) + " bytes");
  if (ec)
    return send_and_close(http::status::bad_request, "malformed_request",
                          "malformed HTTP request: " + ec.message());
  auto& req = parser_->get();
  if (auto len = parser_->content_length(); len && *len > hub_.cfg.limits_max_body_bytes)
    return send_and_close(http::status::payload_too_large, "body_too_large",
                          "request body exceeds " + std::to_string(hub_.cfg.limits_max_body_bytes)
                            + " bytes");
  if (beast::iequals(req[http::field::expect], "100-continue") && !parser_->is_done()) {
    continue_ = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                     req.version());
    http::async_write(stream_, *continue_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec)
                          return self->close();
                        http::async_read(self->stream_, self->buffer_, *self->parser_,
                                         [self](beast::error_code ec, std::size_t) {
                                           self->on_body(ec);
                                         });
                      });
    return;
  }
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t) {
                     self->on_body(ec);
                   });
}

void http_session::on_body(beast::error_code ec) {
  if (ec == http::error::body_limit)
    return send_and_close(http::status::payload_too_large, "body_too_large",
                          "request body exceeds " + std::to_string(hub_.cfg.limits_max_body_bytes)
                            + " bytes");
  if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout
      || ec == net::error::connection_reset)
    return close();
  if (ec)
    return send_and_close(http::status::bad_request, "malformed_request",
                          "malformed HTTP request: " + ec.message());
  dispatch_request();
}

void http_session::dispatch_request() {
  auto req = parser_->release();
  auto target = parse_target(to_sv(req.target()));
  if (target && target->path == "/v1/subscribe" && req.method() == http::verb::get)
    return start_stream(std::move(req), *target);
  if (auto job = target ? job_events_path(target->path) : std::nullopt;
      job && req.method() == http::verb::get)
    return start_job_stream(std::move(req), *job);
  if (auto sp = target ? parse_session_path(target->path) : std::nullopt;
      sp && sp->rest == "events" && req.method() == http::verb::get)
    return start_session_stream(std::move(req), *target, *sp);
  // The answer may come from an actor's thread: hop back onto this session's io thread.
  handle_request(hub_, std::move(req), [self = shared_from_this()](http_response res) {
    net::post(self->stream_.get_executor(),
              [self, res = std::move(res)]() mutable { self->send(std::move(res)); });
  });
}

void http_session::start_stream(http_request&& req, const request_target& target) {
  auto reply = [&](http_response res) {
    apply_cors(hub_.cfg, req, res);
    send(std::move(res));
  };
  auto parsed = parse_subscription(hub_, req, target);
  if (auto* res = std::get_if<http_response>(&parsed))
    return reply(std::move(*res));
  if (!reserve_stream_slot(req))
    return;
  stream_.expires_never();
  sse_stream::start(hub_, stream_.release_socket(),
                    std::move(std::get<subscription_request>(parsed)),
                    cors_header_lines(hub_.cfg, req));
}

bool http_session::reserve_stream_slot(const http_request& req) {
  auto refuse = [&](std::string_view code, std::string_view message) {
    auto res = error_response(req, http::status::service_unavailable, code, message);
    res.set(http::field::retry_after, "5");
    apply_cors(hub_.cfg, req, res);
    send(std::move(res));
    return false;
  };
  if (hub_.shutting_down.load())
    return refuse("shutting_down", "the hub is shutting down");
  auto open = ++hub_.stats.open_connections;
  if (open > static_cast<std::int64_t>(hub_.cfg.limits_max_connections)) {
    --hub_.stats.open_connections;
    return refuse("connection_limit", "the hub is at its connection limit; retry later");
  }
  return true;
}

void http_session::start_job_stream(http_request&& req, const std::string& id) {
  auto parsed = parse_job_watch(req, id);
  if (auto* res = std::get_if<http_response>(&parsed)) {
    apply_cors(hub_.cfg, req, *res);
    return send(std::move(*res));
  }
  if (!reserve_stream_slot(req))
    return;
  stream_.expires_never();
  auto last_seen = std::get<std::uint64_t>(parsed);
  auto& hub = hub_;
  sse_stream::start(hub_, stream_.release_socket(), "job=" + id, cors_header_lines(hub_.cfg, req),
                    [&hub, id, last_seen](const queue_ptr& q, const std::string&) {
                      return hub.sys.spawn(job_viewer, id, q, last_seen, hub.job_registry,
                                           hub.stream_settings.retry_ms, &hub.stats);
                    });
}

void http_session::start_session_stream(http_request&& req, const request_target& target,
                                        const session_path& p) {
  auto parsed = parse_session_watch(req, target, p);
  if (auto* res = std::get_if<http_response>(&parsed)) {
    apply_cors(hub_.cfg, req, *res);
    return send(std::move(*res));
  }
  if (!reserve_stream_slot(req))
    return;
  stream_.expires_never();
  auto resume = std::get<std::optional<event_id>>(parsed);
  auto& hub = hub_;
  auto id = p.id;
  sse_stream::start(hub_, stream_.release_socket(), "session=" + id,
                    cors_header_lines(hub_.cfg, req),
                    [&hub, id, resume](const queue_ptr& q, const std::string&) {
                      return hub.sys.spawn(session_stream, id, q, resume, hub.session_registry,
                                           hub.stream_settings.retry_ms);
                    });
}

void http_session::send(http_response res) {
  out_ = std::make_shared<http_response>(std::move(res));
  stream_.expires_after(idle_timeout);
  http::async_write(stream_, *out_,
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      bool keep = self->out_->keep_alive();
                      self->out_.reset();
                      if (ec || !keep)
                        return self->close();
                      self->do_read();
                    });
}

void http_session::send_and_close(http::status status, std::string_view code,
                                  std::string_view message) {
  http_request req;
  req.version(11);
  if (parser_)
    req.set(http::field::origin, parser_->get()[http::field::origin]);
  auto res = error_response(req, status, code, message);
  apply_cors(hub_.cfg, req, res);
  res.keep_alive(false);
  send(std::move(res));
}

void http_session::close() {
  beast::error_code ignored;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  stream_.close();
}

} // namespace herald

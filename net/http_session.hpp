#pragma once
// One HTTP connection: reads requests (keep-alive), answers them through the API, and hands the
// socket over to an sse_stream for GET /v1/subscribe. Headers are read before the body so that
// oversize bodies get 413 before they are read and `Expect: 100-continue` is honoured.

#include <memory>
#include <optional>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "net/hub_context.hpp"
#include "net/http_api.hpp"
#include "net/session_api.hpp"

namespace herald {

class http_session : public std::enable_shared_from_this<http_session> {
public:
  http_session(hub_context& hub, boost::asio::ip::tcp::socket socket);
  void run();

private:
  void do_read();
  void on_header(boost::beast::error_code ec);
  void on_body(boost::beast::error_code ec);
  void dispatch_request();
  void start_stream(http_request&& req, const request_target& target);
  void start_job_stream(http_request&& req, const std::string& id);
  void start_session_stream(http_request&& req, const request_target& target,
                            const session_path& p);
  /// Takes a connection slot for a stream, or answers 503 (limit, shutdown) and returns false.
  bool reserve_stream_slot(const http_request& req);
  void send(http_response res);
  void send_and_close(http::status status, std::string_view code, std::string_view message);
  void close();

  hub_context& hub_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http_response> out_;
  std::shared_ptr<http::response<http::empty_body>> continue_;
};

} // namespace herald

#pragma once
// One HTTP connection: reads requests (keep-alive), hands each to the router (net/router.hpp), and
// either writes the answer or hands the socket over to an sse_stream. Headers are read before
// the body so that oversize bodies get 413 before they are read and `Expect: 100-continue` is
// honoured.

#include <memory>
#include <optional>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "net/hub_context.hpp"
#include "net/router.hpp"

namespace herald {

class http_session : public std::enable_shared_from_this<http_session> {
public:
  http_session(hub_context& hub, boost::asio::ip::tcp::socket socket);
  void run();

private:
  void do_read();
  void read_header();
  void read_body();
  void on_header(boost::beast::error_code ec);
  void on_body(boost::beast::error_code ec);
  void on_request();
  /// Takes a connection slot and the socket for a stream the router accepted; or answers 503
  /// (connection limit, shutdown).
  void start_stream(stream_order order);
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

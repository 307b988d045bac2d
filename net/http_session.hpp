#pragma once
// One HTTP connection: reads requests (keep-alive), hands each to the router (net/router.hpp), and
// either writes the answer or hands the socket over to an sse_stream. Headers are read before
// the body so that oversize bodies get 413 before they are read and `Expect: 100-continue` is
// honoured.

#include <memory>
#include <optional>
#include <type_traits>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "net/hub_context.hpp"
#include "net/router.hpp"

namespace herald {

/// The TLS stream of an HTTPS connection (Beast's ssl_stream coalesces gather writes into TLS
/// records of up to 16 KiB).
using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

/// `Stream`: boost::beast::tcp_stream (HTTP) or tls_stream (HTTPS: the handshake first, under the
/// header timeout). Both are instantiated in http_session.cpp.
template <class Stream>
class basic_http_session : public std::enable_shared_from_this<basic_http_session<Stream>> {
public:
  /// `tls`: null for plain HTTP; for HTTPS the context, kept alive by the session and the
  /// stream it may become.
  basic_http_session(hub_context& hub, boost::asio::ip::tcp::socket socket,
                     std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
  void run();

private:
  static constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

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
  boost::beast::tcp_stream& lowest() { return boost::beast::get_lowest_layer(stream_); }

  hub_context& hub_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  Stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http_response> out_;
  std::shared_ptr<http::response<http::empty_body>> continue_;
  std::string client_ip_; // the peer's address, read once (rate limits of tokenless requests)
};

using http_session = basic_http_session<boost::beast::tcp_stream>;
using https_session = basic_http_session<tls_stream>;

} // namespace herald

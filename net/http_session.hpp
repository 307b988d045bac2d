#pragma once
// One HTTP connection: reads requests (keep-alive), hands each to the router (net/router.hpp), and
// either writes the answer or hands the socket over to an sse_stream. Headers are read before
// the body so that oversize bodies get 413 before they are read and `Expect: 100-continue` is
// honoured.
//
// HTTP/1.1 pipelining: the next request is read and handed to the router while earlier ones are
// still being answered (a publish waits for its journal commit), so a publisher sending requests
// back to back on one connection has many in flight, and they commit together. Answers are
// written in request order, every answer that is ready in one write. Only publishes overlap
// (route_pipelining): any other request waits until the requests before it are answered, so a
// read sees the writes sent before it. Reading pauses while
// limits.max_pipelined_requests requests (or request bodies totalling limits.max_body_bytes) are
// unanswered, and while answers totalling limits.max_body_bytes wait for a client that does not
// read them. A stream request ends the reading: its response head follows every earlier answer,
// then the socket is the stream's. An answer that closes the connection (a malformed request,
// `Connection: close`) is the last one read and written.

#include <deque>
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
  basic_http_session(hub_context& hub, const router& routes, boost::asio::ip::tcp::socket socket,
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
  /// Hands a request to the router (its answer takes the next place in the line).
  void route(http_request req);
  /// After an answer or a write: writes what is ready, starts a waiting stream, routes a held
  /// request whose turn came, and reads on if allowed.
  void resume();
  /// Takes a connection slot and the socket for a stream the router accepted; or answers 503
  /// (connection limit, shutdown).
  void start_stream(stream_order order);
  /// The answer to request `seq` is ready (on the io thread).
  void answered(std::uint64_t seq, http_response res);
  /// Writes every ready answer at the front of the line, in order, in one write.
  void flush();
  /// Starts the waiting stream once every earlier answer is written.
  void maybe_start_stream();
  /// Whether another request may be read now (pipelining depth and bytes, and no end of reading).
  bool may_read() const;
  /// Whether the client's last request is read and everything it asked for is answered.
  bool finished() const;
  void send_and_close(http::status status, std::string_view code, std::string_view message);
  void close();
  boost::beast::tcp_stream& lowest() { return boost::beast::get_lowest_layer(stream_); }

  /// A request read and not yet answered on the wire, in request order.
  struct pending_answer {
    std::uint64_t seq;
    std::size_t body_bytes;
    bool gzip;                         // its JSON answer may be gzipped (Accept-Encoding)
    std::optional<http_response> res; // set when the handler answers
  };

  hub_context& hub_;
  const router& routes_; // the listener's endpoints (the hub's, or the metrics address's)
  std::shared_ptr<boost::asio::ssl::context> tls_;
  Stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::empty_body>> continue_;
  connection_context conn_; // the peer's address (read once) and the last token verified
  std::deque<pending_answer> answers_;
  std::uint64_t next_seq_ = 0;        // the sequence number of the next request read
  std::size_t unanswered_bytes_ = 0;  // body bytes of the requests in answers_
  std::size_t answer_bytes_ = 0;      // body bytes of the ready answers in answers_
  std::string wire_;                  // the answers being written
  std::optional<http_request> held_; // an in-turn request read while earlier ones are unanswered
  std::optional<stream_order> waiting_stream_; // a stream request, waiting for earlier answers
  bool reading_ = false;       // a request is being read
  bool writing_ = false;       // wire_ is being written
  bool done_reading_ = false;  // no further request is read on this connection
  bool close_after_write_ = false;
  bool closed_ = false;
};

using http_session = basic_http_session<boost::beast::tcp_stream>;
using https_session = basic_http_session<tls_stream>;

} // namespace herald

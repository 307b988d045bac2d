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
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

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

  /// Reads requests while allowed: those already in the buffer (pipelined behind the last one)
  /// are parsed and handed on at once, without a trip through the io loop for each part; then it
  /// waits for bytes.
  void do_read();
  /// Waits for the first byte of the next request (the idle or the first request's timeout).
  void wait_for_request();
  /// Parses what the buffer holds into the parser: the head (`head_only`) or the whole request.
  void parse_buffered(bool head_only, boost::beast::error_code& ec);
  /// The request begun in the buffer: handed on if it is all there (true), else read on through
  /// the io loop, or the connection refused it (false).
  bool read_buffered();
  void read_header();
  void read_body();
  void on_header(boost::beast::error_code ec);
  /// The head is read (or failed): refuses what must be refused (and ends reading); true to go
  /// on to the body.
  bool check_head(boost::beast::error_code ec);
  /// After the head: the body (after 100 Continue when the client waits for it).
  void read_rest_of_body();
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
  /// On the io thread: puts the answer to request `seq` into its place in the line; false when
  /// its line is gone.
  bool place(std::uint64_t seq, http_response res);
  /// Hands an answer to the io thread (from any thread): see inbox_.
  void hand_over(std::uint64_t seq, http_response res);
  /// On the io thread: places every answer handed over, then writes them.
  void take_inbox();
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
  bool read_loop_ = false;     // do_read is handing on buffered requests
  bool writing_ = false;       // wire_ is being written
  bool done_reading_ = false;  // no further request is read on this connection
  bool close_after_write_ = false;
  bool closed_ = false;
  /// Answers from other threads (a commit answers many publishes of a connection at once): the
  /// first one into an empty inbox wakes the io thread, which takes all that are there then, so
  /// a commit's answers cost one hop and one write instead of one each.
  std::mutex inbox_mtx_;
  std::vector<std::pair<std::uint64_t, http_response>> inbox_;
};

using http_session = basic_http_session<boost::beast::tcp_stream>;
using https_session = basic_http_session<tls_stream>;

} // namespace herald

#pragma once
// One WebSocket connection (GET /v1/ws): many subscriptions on one socket, and publishes, acks
// and token refreshes over it (net/ws_protocol.hpp is the message vocabulary).
//
// A command is a request of the one request pipeline: the session builds the HTTP request it
// stands for (GET /v1/subscribe, POST /v1/publish, ...) with the connection's credentials and
// hands it to the router, so auth, grants, limits, validation and answers are the endpoint's own.
// A subscription is what an SSE stream is (its own outbound queue fed by a connection or session
// actor: log order, gap-free resume with gap notices, the slow-consumer bound); the session
// writes every subscription's queue to the one socket, a message at a time, subscriptions taking
// turns.
//
// Lifetime: the session owns its subscriptions (queue, actor, leases, token timer). Removing one
// marks its queue closed and sends its actor an exit; the actor's monitors clean up the rest.
// Closing the socket removes them all, once, and gives back the connection slot. Runs on one io
// thread (no strand): every member is touched only there; queues wake it through the thread's
// write_shard, shutdown through go_away().
//
// Liveness: Beast's keep-alive pings after websocket.ping_seconds of silence; a peer silent for
// twice that is closed.

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/system_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "delivery/outbound_queue.hpp"
#include "net/http_session.hpp"
#include "net/hub_context.hpp"
#include "net/router.hpp"
#include "net/write_shard.hpp"
#include "net/ws_protocol.hpp"
#include "net/ws_registry.hpp"

namespace herald {

template <class NextLayer>
class basic_ws_session : public shard_writer,
                         public ws_endpoint,
                         public std::enable_shared_from_this<basic_ws_session<NextLayer>> {
public:
  /// Takes over `next` (its connection slot reserved) and answers the upgrade in `order`.
  /// `client_ip`: the peer's address (rate limits of its commands).
  static void start(hub_context& hub, NextLayer next, std::shared_ptr<boost::asio::ssl::context> tls,
                    stream_order order, std::string client_ip);

  basic_ws_session(hub_context& hub, NextLayer next,
                   std::shared_ptr<boost::asio::ssl::context> tls, std::string client_ip);
  ~basic_ws_session() override;

  void write() override;
  void go_away(std::uint64_t retry_ms) override;

private:
  /// One subscription (or durable-session attachment) of the socket.
  struct subscription {
    std::string name;   // the client's "sub"
    std::string prefix; // {"sub":"<name>",  the start of each of its messages
    std::string req;    // the command's "req", for its reply
    std::uint64_t serial = 0;
    std::shared_ptr<outbound_queue> queue;
    caf::actor actor;
    std::vector<std::shared_ptr<void>> leases;
    std::unique_ptr<boost::asio::system_timer> expiry; // its token's exp
    std::vector<item_ptr> batch; // taken from the queue, written a message at a time
    std::size_t next = 0;        // batch[next] is the next to write
    std::size_t taken_bytes = 0;
    std::size_t events = 0;
    std::uint64_t retry_ms = 0; // the last retry hint its queue gave (shutdown, max age)
    bool confirmed = false;     // its 200 reply was sent
  };
  using sub_ptr = std::shared_ptr<subscription>; // a write in flight keeps its own

  void accept(stream_order order);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t n);
  void on_message(std::string_view text);
  /// Whether to read another message (commands in flight and unsent replies are bounded).
  bool may_read() const;

  void subscribe(const std::string& req, const ws_subscribe& s);
  void attach(const std::string& req, const ws_attach& a);
  void unsubscribe(const std::string& req, const ws_unsubscribe& u);
  void publish(const std::string& req, ws_publish& p);
  void ack(const std::string& req, ws_ack& a);
  void authenticate(const std::string& req, const ws_auth& a);

  /// The request a command stands for, with the connection's credentials.
  http_request make_request(http::verb method, std::string target, std::string body = {}) const;
  /// Hands `req` to the router. `sub`: the subscription a stream route starts.
  void route(http_request req, std::string reqid, std::string sub);
  void answered(const std::string& reqid, const std::string& sub, bool counted,
                const http_response& res);
  void add_subscription(std::string name, std::string reqid, stream_start start);
  void arm_expiry(subscription& s, std::int64_t expires_at);
  void remove_subscription(const std::string& name, close_reason why);

  /// Queues a message of the hub's own (replies, errors, endings).
  void send(std::string message);
  /// Starts the next write, if any: own messages first, then each subscription in turn.
  bool pump();
  bool pump(const sub_ptr& s);
  /// A subscription's queue ended with `why` (after its final items were written).
  void ended(subscription& s, close_reason why);
  void batch_written(subscription& s);
  /// Writes one message: `buffers` point into message_, or into `sub`'s prefix and batch.
  void write_message(std::vector<boost::asio::const_buffer> buffers, sub_ptr sub,
                     bool last_of_batch);
  /// Closes with a close frame (`code`, `reason`) once the hub's own messages are written.
  void begin_close(std::uint16_t code, std::string reason);
  /// Ends the connection (once): removes every subscription, closes the socket.
  void finish(close_reason why);

  hub_context& hub_;
  write_shard& shard_;
  std::shared_ptr<std::atomic<bool>> hub_alive_;
  std::shared_ptr<boost::asio::ssl::context> tls_ctx_;
  boost::beast::websocket::stream<NextLayer> ws_;
  connection_context conn_; // the last token verified (commands are requests of this connection)
  std::string id_;
  std::string bearer_;      // the token commands carry (Authorization: Bearer)
  std::string cookie_;      // ... or the upgrade's Cookie header
  std::string origin_;      // the upgrade's Origin (cookie-authenticated state changes check it)
  boost::beast::flat_buffer in_;
  std::size_t message_bytes_ = 0; // of the message being read
  bool oversized_ = false;        // the message being read is over the limit: discarded
  bool reading_ = false;
  std::size_t in_flight_ = 0;     // unary commands not yet answered
  std::deque<std::string> out_;   // the hub's own messages, in order
  std::size_t out_bytes_ = 0;
  std::map<std::string, sub_ptr> subs_;
  std::string turn_;              // the subscription written last (they take turns)
  std::uint64_t serials_ = 0;
  std::string message_;           // the own message being written
  bool writing_ = false;
  bool pumping_ = false;          // pump() runs: send() only queues
  bool closing_ = false;          // a close frame is due once out_ is written
  bool close_sent_ = false;
  boost::beast::websocket::close_reason close_reason_;
  bool closed_ = false;
  std::uint64_t messages_out_ = 0;
  std::uint64_t bytes_out_ = 0;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

using ws_session = basic_ws_session<boost::beast::tcp_stream>;
using wss_session = basic_ws_session<tls_stream>;

} // namespace herald

#pragma once
// One WebSocket connection (GET /v1/ws): many subscriptions on one socket, and publishes, acks
// and token refreshes over it (net/ws_protocol.hpp is the message vocabulary, net/ws_frames.hpp
// the wire).
//
// A command is a request of the one request pipeline: the session builds the HTTP request it
// stands for (GET /v1/subscribe, POST /v1/publish, ...) with the connection's credentials and
// hands it to the router, so auth, grants, limits, validation and answers are the endpoint's own.
// A subscription is what an SSE stream is (its own outbound queue fed by a connection or session
// actor: log order, gap-free resume with gap notices, the slow-consumer bound).
//
// Writing is an SSE stream's: everything ready (the hub's own messages, then each subscription's
// queue in turn) goes out in one gather write of whole frames, tried at once on the non-blocking
// socket; each event's message tail is rendered once per item and shared by every WebSocket
// subscriber (with permessage-deflate, each message is compressed for its connection).
//
// Lifetime: the session owns its subscriptions (queue, actor, leases, token timer). Removing one
// marks its queue closed and sends its actor an exit; the actor's monitors clean up the rest.
// Closing the socket removes them all, once, and gives back the connection slot. Runs on one io
// thread (no strand): every member is touched only there; queues wake it through the thread's
// write_shard, shutdown through go_away().
//
// Liveness: a ping after websocket.ping_seconds without a byte from the client; silent for twice
// that, the connection is closed.

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_timer.hpp>

#include "delivery/outbound_queue.hpp"
#include "net/http_session.hpp"
#include "net/hub_context.hpp"
#include "net/router.hpp"
#include "net/write_shard.hpp"
#include "net/ws_frames.hpp"
#include "net/ws_protocol.hpp"
#include "net/ws_registry.hpp"

namespace herald {

/// `Stream`: a plain TCP socket, or tls_stream (HTTPS). Both are instantiated in ws_session.cpp.
template <class Stream>
class basic_ws_session : public shard_writer,
                         public ws_endpoint,
                         public std::enable_shared_from_this<basic_ws_session<Stream>> {
public:
  /// Takes over `stream` (its connection slot reserved) and answers the upgrade in `order`.
  /// `client_ip`: the peer's address (rate limits of its commands).
  static void start(hub_context& hub, Stream stream, std::shared_ptr<boost::asio::ssl::context> tls,
                    stream_order order, std::string client_ip);

  basic_ws_session(hub_context& hub, Stream stream,
                   std::shared_ptr<boost::asio::ssl::context> tls, std::string client_ip);
  ~basic_ws_session() override;

  void write() override;
  void go_away(std::uint64_t retry_ms) override;

private:
  static constexpr bool is_tls = !std::is_same_v<Stream, boost::asio::ip::tcp::socket>;

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
    std::vector<item_ptr> batch; // taken from its queue, being written
    std::size_t taken_bytes = 0;
    std::size_t events = 0;
    std::uint64_t retry_ms = 0; // the last retry hint its queue gave (shutdown, max age)
    bool confirmed = false;     // its 200 reply was sent
  };
  using sub_ptr = std::shared_ptr<subscription>; // a write in flight keeps its own

  void accept(stream_order order);
  void do_read();
  void on_read(boost::system::error_code ec, std::size_t n);
  void on_message(std::string_view text);
  /// Whether to read on (commands in flight and unsent replies are bounded).
  bool may_read() const;
  void arm_ping();

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
  /// Queues a control frame (pong, ping, close), written before anything else.
  void send_control(std::string frame);
  /// Gathers everything ready into buffers_; false when there is nothing.
  bool gather();
  /// Adds one message to the write: `a` + `b` as one text frame.
  void add_message(std::string_view a, std::string_view b);
  /// Takes what a subscription's queue holds into the write (or handles its end).
  void gather(const sub_ptr& s);
  /// A subscription's queue ended with `why` (after its final items were written).
  void ended(subscription& s, close_reason why);
  void write_rest();
  void written();
  /// Closes with a close frame (`code`, `reason`) once the hub's own messages are written.
  void begin_close(std::uint16_t code, std::string reason);
  /// Ends the connection (once): removes every subscription, closes the socket.
  void finish(close_reason why);
  boost::asio::ip::tcp::socket& socket();

  hub_context& hub_;
  write_shard& shard_;
  std::shared_ptr<std::atomic<bool>> hub_alive_;
  std::shared_ptr<boost::asio::ssl::context> tls_ctx_;
  Stream stream_;
  boost::asio::steady_timer ping_timer_;
  connection_context conn_; // the last token verified (commands are requests of this connection)
  std::string id_;
  std::string bearer_;      // the token commands carry (Authorization: Bearer)
  std::string cookie_;      // ... or the upgrade's Cookie header
  std::string origin_;      // the upgrade's Origin (cookie-authenticated state changes check it)
  std::vector<std::shared_ptr<void>> leases_; // the upgrade's stream slots (rate limits)
  std::unique_ptr<ws_deflate> deflate_; // permessage-deflate, when agreed
  ws_frame_reader reader_;
  std::array<char, 16384> read_buf_{};
  bool reading_ = false;
  std::chrono::steady_clock::time_point last_heard_ = std::chrono::steady_clock::now();
  bool ping_unanswered_ = false;  // a ping went out and nothing has been read since
  std::size_t in_flight_ = 0;     // unary commands not yet answered
  std::deque<std::string> control_; // control frames to write first
  std::deque<std::string> out_;   // the hub's own messages, in order
  std::size_t out_bytes_ = 0;     // of out_ and control_: past limits.max_body_bytes, no reading
  std::map<std::string, sub_ptr> subs_;
  std::string turn_;              // the subscription that went first last time (they rotate)
  std::uint64_t serials_ = 0;
  // The write being made: whole frames, one buffer.
  std::string wire_;
  std::string packed_;                // a compressed message (scratch)
  std::vector<sub_ptr> writing_subs_; // subscriptions whose batches are in this write
  std::string head_;              // the 101 response, written first
  bool writing_ = false;
  bool gathering_ = false;        // gather() runs: write() must not start another
  bool closing_ = false;          // a close frame is due once out_ is written
  bool close_sent_ = false;
  std::string close_frame_;
  std::uint32_t writes_ = 0; // subscription batches taken (one in 16 samples the delivery lag)
  bool closed_ = false;
  std::uint64_t messages_out_ = 0;
  std::uint64_t bytes_out_ = 0;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

using ws_session = basic_ws_session<boost::asio::ip::tcp::socket>;
using wss_session = basic_ws_session<tls_stream>;

} // namespace herald

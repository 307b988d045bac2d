#pragma once
// The request pipeline: one table of (method, path pattern) -> handler for every endpoint, unary
// and streaming, with middleware applied once around all of them.
//
//   http_session --request--> router::handle
//      parse the target (400 invalid_target) -> match the table (404, 405 with Allow, OPTIONS)
//      -> middleware.before, in order (may answer: auth, rate limits)
//      -> the route's handler: a unary answer, or a stream to start
//      -> middleware.after, in reverse order, on every response head (CORS, metrics), including
//         the head of a stream and the refusal of a stream that never started.
//
// Patterns are literal segments and `{name}` segments (one whole path segment, matched on the
// decoded path); the handler gets the `{name}` values in order. A new endpoint is one row in
// routes.cpp; a new transport is a stream handler; a new concern (auth, metrics) is a middleware.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/beast/http.hpp>
#include <caf/actor.hpp>

#include "actors/messages.hpp"
#include "auth/principal.hpp"
#include "auth/tokens.hpp"
#include "uri/uri.hpp"

namespace herald {

namespace http = boost::beast::http;
using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;
using http_head = http::response_header<>;
using respond_fn = std::function<void(http_response)>;

struct hub_context;

struct route;

/// What one connection keeps across its requests for the middleware. Owned by the connection's
/// session and used only on its io thread (the middleware's `before` runs there).
struct connection_context {
  std::string client_ip; // the peer's address
  /// The last token verified on this connection, the key set that verified it and whom it
  /// names: the auth middleware takes the same token string under the same keys as verified
  /// until it expires, instead of checking its signature again on every request.
  std::string token{};
  std::shared_ptr<const void> token_keys{};
  principal_ptr token_principal{};
};

/// A request that matched a route.
struct route_request {
  http_request req;
  uri::request_target target;
  std::vector<std::string> path_params; // the `{name}` segments, in pattern order
  /// What a later answer needs of the request (see request_head), made once per request and
  /// shared by the handler's callbacks and the middleware's `after` hooks.
  std::shared_ptr<const http_request> head;
  /// Who is asking: set by the auth middleware (the hub's anonymous principal until then).
  principal_ptr who;
  /// Why a `page` route's token was refused (its code is empty if it was not); `who` is then the
  /// anonymous principal and the page decides what to show.
  token_refusal token_refused;
  const route* matched = nullptr; // the table's row
  std::string client_ip;          // the peer's address (limits of requests without a token)
  connection_context* conn = nullptr; // its connection's state (null outside a connection)
  /// What the request holds while it runs (a stream: while it is open), e.g. a concurrent-stream
  /// slot; released when the request ends or the stream closes.
  std::vector<std::shared_ptr<void>> leases{};

  const std::string& path_param(std::size_t i) const { return path_params.at(i); }
};

/// Spawns the actor that feeds a stream's queue, given the queue and the stream's id.
using stream_spawn_fn = std::function<caf::actor(const queue_ptr&, const std::string& stream_id)>;

/// The transport a stream speaks once its request is accepted.
enum class stream_transport : std::uint8_t {
  sse,       // a text/event-stream response fed by `spawn`'s actor
  websocket, // an upgrade to a WebSocket (net/ws_session) that runs its own subscriptions
};

/// How an SSE stream renders its events (net/sse_encoding.hpp).
enum class sse_format : std::uint8_t {
  plain,    // id, event (the type), data (the JSON data)
  envelope, // data is {"topic","type","data"} (`envelope=1`)
  mercure,  // Mercure updates: their own ids, types, retry and data lines
};

/// A stream a handler accepted: the actor that feeds it, and its name in the close log line.
struct stream_start {
  std::string what;
  stream_spawn_fn spawn; // sse only
  stream_transport transport = stream_transport::sse;
  sse_format format = sse_format::plain; // sse only
  /// More fields of the SSE response head (a Mercure stream's Last-Event-ID).
  std::vector<std::pair<std::string, std::string>> headers{};
  /// Gzip the stream (sse only): compression.streams is on and the client accepts gzip. Set by
  /// the router.
  bool gzip = false;
  /// When the stream's token expires (seconds since the Unix epoch; 0: never): the stream ends
  /// then with herald.token_expired. Set by the router from the request's principal.
  std::int64_t expires_at = 0;
  /// The request's leases (route_request::leases), held until the stream closes.
  std::vector<std::shared_ptr<void>> leases{};
};

using unary_handler = void (*)(hub_context&, route_request&, respond_fn);
using stream_handler = std::variant<stream_start, http_response> (*)(hub_context&,
                                                                       route_request&);

/// Which rate limits a route counts against (streams count as streams by their handler).
enum class route_limits : std::uint8_t { none, publish };

/// How a route's requests run when a client pipelines requests on one connection: `in_turn`
/// once every earlier request of the connection is answered (a read sees the writes sent before
/// it); `overlapping` at once, while earlier ones are still in flight (publishes: the journal
/// commits them in the order they were read, so they keep their order anyway). Answers are
/// always written in request order. An overlapping route's pattern is literal.
enum class route_pipelining : std::uint8_t { in_turn, overlapping };

/// Where a route's clients put their token (net/auth.hpp): Herald's own places (Authorization,
/// auth.cookie_name, `access_token`), or Mercure's (Authorization, the `authorization` query
/// parameter, the `mercureAuthorization` cookie, in that order of precedence). `page`: Herald's
/// places, but a token that does not verify leaves the request anonymous (its code in
/// route_request::token_refused) for the handler to answer a browser with a sign-in page.
enum class route_auth : std::uint8_t { herald, mercure, page };

struct route {
  http::verb method;
  std::string_view pattern;
  std::variant<unary_handler, stream_handler> handler;
  route_limits limits = route_limits::none;
  route_pipelining pipelining = route_pipelining::in_turn;
  route_auth auth = route_auth::herald;
};

/// A concern applied to every route. Both hooks may run on any thread (a unary answer can come
/// from an actor's thread): middleware keeps no per-request state of its own.
class middleware {
public:
  virtual ~middleware() = default;

  /// Before the handler: a response here answers the request instead of the handler.
  /// It may also complete the request (the auth middleware sets `who`).
  virtual std::optional<http_response> before(hub_context& hub, route_request& r);

  /// On every response head for `req` (only the request's head is available: version, fields).
  virtual void after(hub_context& hub, const http_request& req, http_head& res);
};

/// Finishes a response head for one request: runs every middleware's `after` on it.
using head_finisher = std::function<void(http_head&)>;

/// What the access log (log.access) says of a request: when it started, the route it matched and
/// who asked (filled in as the router learns them).
struct access_entry {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  const route* matched = nullptr;
  principal_ptr who;
  std::string path; // the target's path (never its query: it may hold a token)
};

/// One access log line for `req` answered with `res` (unary answers and refusals only).
void log_access(const http_request& req, const http_head& res, const access_entry* entry);

/// What the session does with a request.
struct stream_order {
  stream_start start;
  http_request req; // its head, for the stream's response head (a WebSocket's upgrade request)
  head_finisher finish;
};

class router {
public:
  router(std::vector<route> routes, std::vector<std::shared_ptr<middleware>> chain);

  /// Routes `req`. A unary answer goes to `respond` (possibly later, from another thread); a
  /// stream goes to `start_stream` at once, on the calling thread.
  /// `conn`: the state of the connection it came on (its io thread calls this).
  void handle(hub_context& hub, http_request&& req, connection_context& conn,
              const respond_fn& respond,
              const std::function<void(stream_order)>& start_stream) const;

  /// Whether `req` may be handled while earlier requests of its connection are unanswered: its
  /// route is `overlapping` (matched on the target's path as sent; anything else waits its turn).
  bool overlaps(const http_request& req) const;

  /// The head finisher for `req` (for answers the session builds itself, e.g. 413).
  head_finisher finisher(hub_context& hub, const http_request& req) const;

  /// The head finisher for a request whose head was already taken.
  head_finisher finisher(hub_context& hub, std::shared_ptr<const http_request> head) const;
  /// ... that also fills the access log's line from `entry`.
  head_finisher finisher(hub_context& hub, std::shared_ptr<const http_request> head,
                         std::shared_ptr<access_entry> entry) const;

  /// The route for `method` and `path`, with its `{name}` values; null if none. `allowed`, if
  /// given, collects the methods of every route whose pattern matches the path.
  const route* match(http::verb method, std::string_view path, std::vector<std::string>& params,
                     std::vector<http::verb>* allowed = nullptr) const;

private:
  std::vector<route> routes_;
  std::vector<std::shared_ptr<middleware>> chain_;
};

/// Matches `path` (as sent: percent-encoded) against `pattern` ("/v1/jobs/{id}"), collecting the
/// decoded `{name}` values into `params`. Each segment is decoded on its own, so an escaped '/'
/// (%2F) stays inside its segment. A malformed escape matches nothing.
bool match_pattern(std::string_view pattern, std::string_view path,
                   std::vector<std::string>& params);

} // namespace herald

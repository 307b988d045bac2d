#include "http_link.hpp"

#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

#include "uri/uri.hpp"

namespace herald::sdk {

std::string error::to_string() const {
  std::string out = status == 0 ? std::string{"unreachable"} : "HTTP " + std::to_string(status);
  if (!code.empty())
    out += " " + code;
  if (!message.empty())
    out += ": " + message;
  return out;
}

request_failed::request_failed(error e) : std::runtime_error(e.to_string()), err_(std::move(e)) {
  // nop
}

hub_address hub_address::parse(const std::string& url, credentials creds) {
  std::string why;
  auto parsed = uri::parse_url(url, &why);
  if (!parsed)
    throw std::invalid_argument("hub URL '" + url + "': " + why);
  hub_address a;
  a.host = parsed->host;
  a.port = std::to_string(parsed->port);
  a.secure = parsed->secure();
  a.creds = std::move(creds);
  return a;
}

std::string hub_address::authority() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
}

namespace detail {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

void read_error_body(const std::string& body, error& e) {
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
    e.code = doc["error"].value("code", "");
    e.message = doc["error"].value("message", "");
  } else if (!body.empty()) {
    e.message = body.substr(0, 200);
  }
}

error error_of(const http_reply& r) {
  error e;
  e.status = r.status;
  if (r.status == 0) {
    e.code = "unreachable";
    e.message = r.error;
  } else {
    read_error_body(r.body, e);
  }
  return e;
}

bool retryable(const http_reply& r) {
  return r.status == 0 || r.status >= 500 || r.status == 408 || r.status == 429;
}

struct http_link::impl {
  hub_address addr;
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;                       // http
  std::optional<net::ssl::context> tls_ctx;                      // https
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;       // https
  // A WebSocket over the connection above (whichever it is).
  std::optional<beast::websocket::stream<beast::tcp_stream&>> ws;
  std::optional<beast::websocket::stream<beast::ssl_stream<beast::tcp_stream>&>> wss;
  beast::flat_buffer buffer;
  std::string pending; // stream bytes read with the head
  bool connected = false;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *stream; }

  /// Calls `f` with what bytes go through: the TCP stream, or the TLS stream over it.
  template <class F>
  void with_stream(F&& f) {
    if (tls)
      f(*tls);
    else
      f(*stream);
  }

  /// The TLS context: TLS 1.2 or later, the hub's certificate checked against the CA file (or
  /// the system's store) and its name.
  std::string make_tls_context() {
    if (tls_ctx)
      return {};
    tls_ctx.emplace(net::ssl::context::tls_client);
    beast::error_code ec;
    tls_ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2
                           | net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1
                           | net::ssl::context::no_tlsv1_1,
                         ec);
    tls_ctx->set_verify_mode(net::ssl::verify_peer, ec);
    if (addr.creds.ca_file.empty())
      tls_ctx->set_default_verify_paths(ec);
    else
      tls_ctx->load_verify_file(addr.creds.ca_file, ec);
    if (ec) {
      std::string err = "CA file '" + addr.creds.ca_file + "': " + ec.message();
      tls_ctx.reset();
      return err;
    }
    return {};
  }

  void run() {
    ioc.restart();
    ioc.run();
  }

  bool connect(std::chrono::milliseconds timeout, std::string& err) {
    disconnect();
    beast::error_code ec;
    tcp::resolver resolver{ioc};
    auto results = resolver.resolve(addr.host, addr.port, ec);
    if (ec) {
      err = "cannot resolve " + addr.host + ": " + ec.message();
      return false;
    }
    if (addr.secure) {
      if (auto bad = make_tls_context(); !bad.empty()) {
        err = bad;
        return false;
      }
      tls.emplace(ioc, *tls_ctx);
    } else {
      stream.emplace(ioc);
    }
    lowest().expires_after(timeout);
    lowest().async_connect(results, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    run();
    if (ec) {
      err = "cannot connect to " + addr.host + ":" + addr.port + ": " + ec.message();
      disconnect();
      return false;
    }
    lowest().socket().set_option(tcp::no_delay{true}, ec);
    if (tls) {
      // SNI, and the certificate must name the host we asked for.
      SSL_set_tlsext_host_name(tls->native_handle(), addr.host.c_str());
      tls->set_verify_callback(net::ssl::host_name_verification(addr.host));
      tls->async_handshake(net::ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
      run();
      if (ec) {
        err = "TLS handshake with " + addr.host + ":" + addr.port + " failed: " + ec.message();
        disconnect();
        return false;
      }
    }
    connected = true;
    return true;
  }

  /// Calls `f` with the WebSocket, whichever layer it runs over.
  template <class F>
  void with_ws(F&& f) {
    if (wss)
      f(*wss);
    else
      f(*ws);
  }

  void disconnect() {
    ws.reset();
    wss.reset();
    if (stream || tls) {
      beast::error_code ignored;
      lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
      lowest().socket().close(ignored);
    }
    stream.reset();
    tls.reset();
    buffer.clear();
    pending.clear();
    connected = false;
  }

  http::request<http::string_body> make(const std::string& method, const std::string& target,
                                        const std::string& body) {
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, addr.authority());
    req.set(http::field::user_agent, "herald-sdk/" HERALD_VERSION);
    if (!addr.creds.token.empty())
      req.set(http::field::authorization, "Bearer " + addr.creds.token);
    req.keep_alive(true);
    if (!body.empty() || method == "POST" || method == "PUT") {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    return req;
  }

  /// One attempt on the current connection.
  http_reply exchange(const http::request<http::string_body>& req,
                      std::chrono::milliseconds timeout, bool& nothing_received) {
    http_reply out;
    beast::error_code ec;
    lowest().expires_after(timeout);
    with_stream([&](auto& s) {
      http::async_write(s, req, [&](beast::error_code e, std::size_t) { ec = e; });
    });
    run();
    nothing_received = true;
    if (ec) {
      out.error = "write failed: " + ec.message();
      return out;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    std::size_t got = 0;
    with_stream([&](auto& s) {
      http::async_read(s, buffer, parser, [&](beast::error_code e, std::size_t n) {
        ec = e;
        got = n;
      });
    });
    run();
    if (ec) {
      nothing_received = got == 0 && ec != beast::error::timeout;
      out.error = ec == beast::error::timeout ? "no answer in time" : "read failed: " + ec.message();
      return out;
    }
    auto res = parser.release();
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    out.retry_after = std::string{res[http::field::retry_after]};
    if (!res.keep_alive())
      disconnect();
    return out;
  }
};

http_link::http_link(hub_address addr) : impl_(std::make_unique<impl>()) {
  impl_->addr = std::move(addr);
}

http_link::~http_link() {
  impl_->disconnect();
}

http_reply http_link::request(const std::string& method, const std::string& target,
                              const std::string& body, std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  auto req = d.make(method, target, body);
  bool reused = d.connected;
  if (!d.connected) {
    std::string err;
    if (!d.connect(timeout, err))
      return http_reply{0, {}, {}, err};
  }
  bool nothing = false;
  auto out = d.exchange(req, timeout, nothing);
  if (out.status == 0 && reused && nothing) {
    // The hub closed the idle keep-alive connection meanwhile: once more on a fresh one.
    std::string err;
    if (!d.connect(timeout, err))
      return http_reply{0, {}, {}, err};
    out = d.exchange(req, timeout, nothing);
  }
  if (out.status == 0)
    d.disconnect();
  return out;
}

int http_link::open_stream(const std::string& target,
                           const std::map<std::string, std::string>& headers,
                           std::chrono::milliseconds timeout,
                           std::map<std::string, std::string>& head, std::string& err) {
  auto& d = *impl_;
  if (!d.connect(timeout, err))
    return 0;
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: " + d.addr.authority()
                    + "\r\nAccept: text/event-stream\r\nUser-Agent: herald-sdk/" HERALD_VERSION
                      "\r\n";
  if (!d.addr.creds.token.empty())
    req += "Authorization: Bearer " + d.addr.creds.token + "\r\n";
  for (auto& [k, v] : headers)
    req += k + ": " + v + "\r\n";
  req += "\r\n";
  beast::error_code ec;
  d.lowest().expires_after(timeout);
  d.with_stream([&](auto& s) {
    net::async_write(s, net::buffer(req), [&](beast::error_code e, std::size_t) { ec = e; });
  });
  d.run();
  std::string raw;
  std::size_t end = std::string::npos;
  char chunk[4096];
  while (!ec && (end = raw.find("\r\n\r\n")) == std::string::npos) {
    if (raw.size() > 64 * 1024) {
      err = "response head too large";
      d.disconnect();
      return 0;
    }
    d.with_stream([&](auto& s) {
      s.async_read_some(net::buffer(chunk), [&](beast::error_code e, std::size_t n) {
        ec = e;
        raw.append(chunk, n);
      });
    });
    d.run();
  }
  if (ec) {
    err = ec == beast::error::timeout ? "no answer in time" : "stream failed: " + ec.message();
    d.disconnect();
    return 0;
  }
  d.pending = raw.substr(end + 4);
  auto head_text = raw.substr(0, end);
  auto eol = head_text.find("\r\n");
  auto status_line = head_text.substr(0, eol);
  auto sp = status_line.find(' ');
  int status = sp == std::string::npos ? 0 : std::atoi(status_line.c_str() + sp + 1);
  std::size_t pos = eol == std::string::npos ? head_text.size() : eol + 2;
  while (pos < head_text.size()) {
    auto next = head_text.find("\r\n", pos);
    auto line = head_text.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string k = line.substr(0, colon), v = line.substr(colon + 1);
      for (auto& c : k)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      v.erase(0, v.find_first_not_of(' '));
      head[k] = v;
    }
    if (next == std::string::npos)
      break;
    pos = next + 2;
  }
  if (status == 0)
    err = "malformed response head";
  return status;
}

bool http_link::read_some(std::string& out, std::chrono::milliseconds timeout, bool& timed_out) {
  auto& d = *impl_;
  timed_out = false;
  if (!d.pending.empty()) {
    out.swap(d.pending);
    d.pending.clear();
    return true;
  }
  if (!d.stream && !d.tls)
    return false;
  char chunk[16384];
  beast::error_code ec;
  std::size_t n = 0;
  d.lowest().expires_after(timeout);
  d.with_stream([&](auto& s) {
    s.async_read_some(net::buffer(chunk), [&](beast::error_code e, std::size_t got) {
      ec = e;
      n = got;
    });
  });
  d.run();
  if (n > 0)
    out.assign(chunk, n);
  if (ec) {
    timed_out = ec == beast::error::timeout;
    d.disconnect();
    return n > 0;
  }
  return true;
}

int http_link::open_websocket(const std::string& target, std::chrono::milliseconds timeout,
                              std::string& err) {
  namespace websocket = beast::websocket;
  auto& d = *impl_;
  if (!d.connect(timeout, err))
    return 0;
  if (d.tls)
    d.wss.emplace(*d.tls);
  else
    d.ws.emplace(*d.stream);
  auto token = d.addr.creds.token;
  d.with_ws([&](auto& w) {
    w.set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
      req.set(http::field::user_agent, "herald-sdk/" HERALD_VERSION);
      if (!token.empty())
        req.set(http::field::authorization, "Bearer " + token);
    }));
    w.read_message_max(64u << 20);
  });
  websocket::response_type res;
  beast::error_code ec;
  d.lowest().expires_after(timeout);
  d.with_ws([&](auto& w) {
    w.async_handshake(res, d.addr.authority(), target, [&](beast::error_code e) { ec = e; });
  });
  d.run();
  if (ec) {
    int status = static_cast<int>(res.result_int());
    bool refused = ec == websocket::error::upgrade_declined && status != 0 && status != 101;
    err = refused ? "HTTP " + std::to_string(status) : "WebSocket handshake failed: " + ec.message();
    d.disconnect();
    return refused ? status : 0;
  }
  return 101;
}

bool http_link::read_message(std::string& out, std::chrono::milliseconds timeout,
                             bool& timed_out) {
  auto& d = *impl_;
  timed_out = false;
  if (!d.ws && !d.wss)
    return false;
  beast::error_code ec;
  d.buffer.clear();
  d.lowest().expires_after(timeout);
  d.with_ws([&](auto& w) {
    w.async_read(d.buffer, [&](beast::error_code e, std::size_t) { ec = e; });
  });
  d.run();
  if (ec) {
    timed_out = ec == beast::error::timeout;
    d.disconnect();
    return false;
  }
  auto data = d.buffer.data();
  out.assign(static_cast<const char*>(data.data()), data.size());
  return true;
}

bool http_link::write_message(const std::string& text, std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  if (!d.ws && !d.wss)
    return false;
  beast::error_code ec;
  d.lowest().expires_after(timeout);
  d.with_ws([&](auto& w) {
    w.text(true);
    w.async_write(net::buffer(text), [&](beast::error_code e, std::size_t) { ec = e; });
  });
  d.run();
  if (ec) {
    d.disconnect();
    return false;
  }
  return true;
}

void http_link::set_token(std::string token) {
  impl_->addr.creds.token = std::move(token);
}

void http_link::close() {
  // Runs on the thread that runs the io_context (the one blocked in a read), or at its next run.
  net::post(impl_->ioc, [d = impl_.get()] {
    if (d->stream || d->tls) {
      beast::error_code ignored;
      d->lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
      d->lowest().socket().close(ignored);
    }
  });
}

} // namespace detail
} // namespace herald::sdk

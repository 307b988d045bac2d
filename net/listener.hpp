#pragma once
// Accepts TCP connections and starts an http_session for each, on the io threads in turn.

#include <memory>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "net/hub_context.hpp"
#include "net/router.hpp"

namespace herald {

class listener : public std::enable_shared_from_this<listener> {
public:
  /// What a listener serves and how.
  struct options {
    const router* routes;     // its endpoints
    bool tls = true;          // HTTPS when the hub has a certificate (else plain HTTP always)
    bool rate_limited = true; // rate.connections_per_second_per_ip applies
  };

  /// Accepts on `ioc`; each accepted socket belongs to the next of `io` (each run by one thread).
  listener(boost::asio::io_context& ioc, std::vector<boost::asio::io_context*> io,
           hub_context& hub, options opts);

  /// Binds and listens. Returns an error message on failure.
  std::optional<std::string> open(const boost::asio::ip::tcp::endpoint& ep);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  void run();
  /// Stops accepting (posted onto the acceptor's strand).
  void stop();

private:
  void do_accept();
  /// Answers 429 on a connection over its address's rate, and closes it.
  void refuse(boost::asio::ip::tcp::socket s, std::uint64_t retry_after_s);

  std::vector<boost::asio::io_context*> io_;
  std::size_t next_io_ = 0;
  hub_context& hub_;
  options opts_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
};

} // namespace herald

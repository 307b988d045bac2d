#pragma once
// Accepts TCP connections and starts an http_session for each, on the io threads in turn.

#include <chrono>
#include <memory>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "actors/log_throttle.hpp"
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
  ~listener();

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
  /// Out of file descriptors: gives up the reserve descriptor to accept one waiting connection,
  /// answers it 503 no_descriptors and closes it, then takes the reserve again. False if there
  /// was nothing to accept or the reserve could not be used.
  bool shed_one();
  /// Logs a failed accept, at most once every 10 s (with what happened since the last line).
  void note_accept_failure(const boost::system::error_code& ec, bool shed);

  std::vector<boost::asio::io_context*> io_;
  std::size_t next_io_ = 0;
  hub_context& hub_;
  options opts_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
  /// A descriptor held back (on /dev/null) so that a connection can still be accepted and
  /// refused cleanly when the process has no other descriptor left (-1: none).
  int reserve_fd_ = -1;
  log_throttle accept_failures_;     // event=accept_failed, at most once per 10 s
  std::uint64_t shed_unlogged_ = 0; // connections refused with 503 since its last line
};

} // namespace herald

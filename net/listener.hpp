#pragma once
// Accepts TCP connections and starts an http_session for each.

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "net/hub_context.hpp"

namespace herald {

class listener : public std::enable_shared_from_this<listener> {
public:
  listener(boost::asio::io_context& ioc, hub_context& hub);

  /// Binds and listens. Returns an error message on failure.
  std::optional<std::string> open(const boost::asio::ip::tcp::endpoint& ep);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  void run();
  /// Stops accepting (posted onto the acceptor's strand).
  void stop();

private:
  void do_accept();

  boost::asio::io_context& ioc_;
  hub_context& hub_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
};

} // namespace herald

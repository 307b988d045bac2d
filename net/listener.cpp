#include "net/listener.hpp"

#include <cerrno>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

#include "net/http_responses.hpp"
#include "net/http_session.hpp"
#include "net/rate_limits.hpp"

namespace herald {

namespace net = boost::asio;
using tcp = net::ip::tcp;

listener::listener(net::io_context& ioc, std::vector<net::io_context*> io, hub_context& hub,
                   options opts)
  : io_(std::move(io)), hub_(hub), opts_(opts), acceptor_(net::make_strand(ioc)),
    backoff_(acceptor_.get_executor()),
    reserve_fd_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {
  // nop
}

listener::~listener() {
  if (reserve_fd_ >= 0)
    ::close(reserve_fd_);
}

std::optional<std::string> listener::open(const tcp::endpoint& ep) {
  boost::system::error_code ec;
  acceptor_.open(ep.protocol(), ec);
  if (!ec)
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    acceptor_.bind(ep, ec);
  if (!ec)
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (!ec)
    acceptor_.native_non_blocking(true, ec); // shed_one() accepts directly: it must not block
  if (ec)
    return "cannot listen on " + ep.address().to_string() + ":" + std::to_string(ep.port())
           + ": " + ec.message();
  return std::nullopt;
}

tcp::endpoint listener::local_endpoint() const {
  return acceptor_.local_endpoint();
}

void listener::run() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] { self->do_accept(); });
}

void listener::stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->backoff_.cancel();
  });
}

bool listener::shed_one() {
  if (reserve_fd_ < 0)
    reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (reserve_fd_ < 0)
    return false;
  ::close(reserve_fd_);
  int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) {
    static const std::string wire = [] {
      http_request req;
      req.version(11);
      auto res = error_response(req, http::status::service_unavailable, "no_descriptors",
                                "the hub has no file descriptor left for a new connection");
      res.set(http::field::retry_after, "5");
      res.keep_alive(false);
      return render_response(res);
    }();
    [[maybe_unused]] auto sent = ::send(fd, wire.data(), wire.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd >= 0 && reserve_fd_ >= 0;
}

void listener::note_accept_failure(const boost::system::error_code& ec, bool shed) {
  shed_unlogged_ += shed ? 1 : 0;
  auto failures = accept_failures_.admit();
  if (failures == 0)
    return;
  spdlog::warn("event=accept_failed error=\"{}\" failures={} refused_503={} "
               "note=\"logged at most every 10 s\"",
               ec.message(), failures, shed_unlogged_);
  shed_unlogged_ = 0;
}

void listener::refuse(tcp::socket s, std::uint64_t retry_after_s) {
  // Over rate.connections_per_second_per_ip: a 429 written at once if the socket takes it (it
  // is fresh, so it does), then closed; the request is never read.
  ++hub_.stats.rate_limited;
  http_request req;
  req.version(11);
  auto res = too_many(req, retry_after_s, "too many new connections from this address "
                                          "(rate.connections_per_second_per_ip)");
  res.keep_alive(false);
  auto wire = render_response(res);
  boost::system::error_code ignored;
  s.non_blocking(true, ignored);
  s.write_some(net::buffer(wire), ignored);
  s.shutdown(tcp::socket::shutdown_both, ignored);
  s.close(ignored);
}

void listener::do_accept() {
  // A socket's io_context is run by one thread: its handlers never run concurrently, so it needs
  // no strand, and its stream can be written from its io thread's write_shard.
  auto& io = *io_[next_io_++ % io_.size()];
  acceptor_.async_accept(io.get_executor(), [self = shared_from_this()](
                                                   boost::system::error_code ec, tcp::socket s) {
    if (ec == net::error::operation_aborted || !self->acceptor_.is_open())
      return;
    if (ec) {
      // Out of descriptors (EMFILE, ENFILE): the waiting connection is refused with a 503
      // through the reserve descriptor, and accepting goes on at once. Anything else, or when
      // the reserve cannot help: back off briefly instead of spinning. Existing streams go on.
      // (errno values: accept's errors are the system's. Comparing with errc's conditions
      // constructs Boost 1.74's constexpr generic category, which UBSan's vptr check reports.)
      bool out_of_fds = ec.value() == EMFILE || ec.value() == ENFILE;
      bool shed = out_of_fds && self->shed_one();
      self->note_accept_failure(ec, shed);
      if (shed)
        return self->do_accept();
      self->backoff_.expires_after(std::chrono::milliseconds(100));
      self->backoff_.async_wait([self](boost::system::error_code ec) {
        if (!ec)
          self->do_accept();
      });
      return;
    }
    boost::system::error_code ignored;
    auto& conns = self->hub_.limits->connections;
    if (self->opts_.rate_limited && conns.enabled()) {
      auto peer = s.remote_endpoint(ignored);
      if (auto wait = conns.take("ip:" + peer.address().to_string(), 1)) {
        self->refuse(std::move(s), *wait);
        return self->do_accept();
      }
    }
    s.set_option(tcp::no_delay(true), ignored);
    if (auto sndbuf = self->hub_.cfg.limits_socket_send_buffer_bytes; sndbuf > 0)
      s.set_option(boost::asio::socket_base::send_buffer_size(static_cast<int>(sndbuf)), ignored);
    auto& routes = *self->opts_.routes;
    auto tls = self->opts_.tls ? std::atomic_load(&self->hub_.tls) : nullptr;
    if (tls)
      std::make_shared<https_session>(self->hub_, routes, std::move(s), std::move(tls))->run();
    else
      std::make_shared<http_session>(self->hub_, routes, std::move(s))->run();
    self->do_accept();
  });
}

} // namespace herald

#include "net/write_shard.hpp"

#include <boost/asio/post.hpp>


namespace herald {

write_outcome write_now(boost::asio::ip::tcp::socket& socket,
                        std::vector<boost::asio::const_buffer>& buffers) {
  namespace net = boost::asio;
  for (;;) {
    boost::system::error_code ec;
    auto n = socket.write_some(buffers, ec);
    if (ec == net::error::would_block || ec == net::error::try_again)
      return write_outcome::partial;
    if (ec)
      return write_outcome::failed;
    auto done = buffers.begin();
    while (done != buffers.end() && n >= done->size())
      n -= (done++)->size();
    buffers.erase(buffers.begin(), done);
    if (buffers.empty())
      return write_outcome::all;
    buffers.front() += n;
  }
}

write_outcome write_now(boost::asio::ip::tcp::socket& socket, const std::string& bytes,
                        std::size_t& done) {
  namespace net = boost::asio;
  done = 0;
  while (done < bytes.size()) {
    boost::system::error_code ec;
    done += socket.write_some(net::buffer(bytes.data() + done, bytes.size() - done), ec);
    if (ec == net::error::would_block || ec == net::error::try_again)
      return write_outcome::partial;
    if (ec)
      return write_outcome::failed;
  }
  return write_outcome::all;
}

boost::asio::execution_context::id write_shard::id;

write_shard::write_shard(boost::asio::execution_context& ctx)
  : boost::asio::execution_context::service(ctx),
    ioc_(static_cast<boost::asio::io_context&>(ctx)) {
  // nop
}

write_shard& write_shard::of(boost::asio::io_context& ioc) {
  return boost::asio::use_service<write_shard>(ioc);
}

void write_shard::wake(std::weak_ptr<shard_writer> s) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    woken_.push_back(std::move(s));
    if (posted_)
      return;
    posted_ = true;
  }
  boost::asio::post(ioc_, [this] { drain(); });
}

void write_shard::drain() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    draining_.swap(woken_);
    posted_ = false;
  }
  for (auto& w : draining_)
    if (auto s = w.lock())
      s->write();
  draining_.clear();
}

void write_shard::shutdown() {
  // The io_context is going: drop the listed streams before its sockets' services go.
  std::lock_guard<std::mutex> guard{mtx_};
  woken_.clear();
  draining_.clear();
}

} // namespace herald

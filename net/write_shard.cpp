#include "net/write_shard.hpp"

#include <boost/asio/post.hpp>


namespace herald {

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

#include "net/http_client.hpp"

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace herald {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

class get_op : public std::enable_shared_from_this<get_op> {
public:
  get_op(net::io_context& ioc, uri::url url, std::chrono::milliseconds timeout,
         std::function<void(http_result)> done)
    : resolver_(net::make_strand(ioc)), stream_(resolver_.get_executor()), url_(std::move(url)),
      timeout_(timeout), done_(std::move(done)) {
    // nop
  }

  void run() {
    req_ = {http::verb::get, url_.target, 11};
    req_.set(http::field::host, url_.authority());
    req_.set(http::field::user_agent, "herald/" HERALD_VERSION);
    req_.set(http::field::accept, "application/json");
    stream_.expires_after(timeout_);
    resolver_.async_resolve(url_.host, std::to_string(url_.port),
                            [self = shared_from_this()](beast::error_code ec,
                                                        tcp::resolver::results_type r) {
                              if (ec)
                                return self->fail("resolve", ec);
                              self->stream_.async_connect(r, [self](beast::error_code ec,
                                                                    tcp::endpoint) {
                                if (ec)
                                  return self->fail("connect", ec);
                                self->write();
                              });
                            });
  }

private:
  void write() {
    http::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec)
        return self->fail("write", ec);
      self->parser_.body_limit(1 << 20);
      http::async_read(self->stream_, self->buffer_, self->parser_,
                       [self](beast::error_code ec, std::size_t) {
                         if (ec)
                           return self->fail("read", ec);
                         auto& res = self->parser_.get();
                         http_result out{static_cast<int>(res.result_int()), res.body(), {}};
                         beast::error_code ignored;
                         self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
                         self->done_(std::move(out));
                       });
    });
  }

  void fail(const char* what, beast::error_code ec) {
    done_(http_result{0, {}, std::string{what} + ": " + ec.message()});
  }

  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  uri::url url_;
  std::chrono::milliseconds timeout_;
  std::function<void(http_result)> done_;
  http::request<http::empty_body> req_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
};

} // namespace

void http_get(net::io_context& ioc, const uri::url& url, std::chrono::milliseconds timeout,
              std::function<void(http_result)> done) {
  std::make_shared<get_op>(ioc, url, timeout, std::move(done))->run();
}

} // namespace herald

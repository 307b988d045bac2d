#define CAF_SUITE uri
#include <caf/test/unit_test.hpp>

#include <string>

#include "uri/uri.hpp"

using namespace herald::uri;

namespace {

// Binds parse results before checking them: CAF's check macros keep references to their
// arguments, so members of a temporary would dangle.
url must_url(std::string_view text) {
  auto u = parse_url(text);
  CAF_REQUIRE(u);
  return *u;
}

host_port must_host_port(std::string_view text) {
  auto a = parse_host_port(text);
  CAF_REQUIRE(a);
  return *a;
}

std::string decoded(std::string_view text, bool plus_is_space) {
  auto d = percent_decode(text, plus_is_space);
  CAF_REQUIRE(d);
  return *d;
}

request_target must_target(std::string_view text) {
  auto t = parse_request_target(text);
  CAF_REQUIRE(t);
  return *t;
}

} // namespace

CAF_TEST(percent decoding) {
  CAF_CHECK_EQUAL(decoded("a%2Fb%20c", false), "a/b c");
  CAF_CHECK_EQUAL(decoded("a+b", false), "a+b");
  CAF_CHECK_EQUAL(decoded("a+b", true), "a b");
  CAF_CHECK_EQUAL(decoded("%e2%82%AC", false), "\xe2\x82\xac");
  CAF_CHECK(!percent_decode("%", false));
  CAF_CHECK(!percent_decode("%2", false));
  CAF_CHECK(!percent_decode("ab%", false));
  CAF_CHECK(!percent_decode("%zz", false));
  CAF_CHECK(!percent_decode("%2g", false));
  CAF_CHECK_EQUAL(decoded("", true), "");
}

CAF_TEST(request targets) {
  auto t = parse_request_target("/v1/subscribe?topic=orders%2F*&topic=a+b&flag&=x&&last_event_id=");
  CAF_REQUIRE(t);
  CAF_CHECK_EQUAL(t->path, "/v1/subscribe");
  CAF_REQUIRE_EQUAL(t->params.size(), 5u);
  CAF_CHECK_EQUAL(t->params[0].second, "orders/*");
  CAF_CHECK_EQUAL(t->params[1].second, "a b");
  CAF_CHECK_EQUAL(t->params[2].first, "flag");
  CAF_CHECK_EQUAL(t->params[2].second, "");
  CAF_CHECK_EQUAL(t->params[3].first, "");
  CAF_CHECK_EQUAL(t->params[3].second, "x");
  CAF_CHECK_EQUAL(t->params[4].first, "last_event_id");
  CAF_CHECK_EQUAL(*t->param("topic"), "orders/*"); // the first of repeated parameters
  CAF_CHECK_EQUAL(*t->param("last_event_id"), "");
  CAF_CHECK(t->param("nothing") == nullptr);
  // A '+' in the path is a plus; in the query it is a space.
  CAF_CHECK_EQUAL(must_target("/a+b%20c").path, "/a+b c");
  CAF_CHECK_EQUAL(must_target("/x?").params.size(), 0u);
  CAF_CHECK(!parse_request_target("/bad%zzpath"));
  CAF_CHECK(!parse_request_target("/ok?k=%4"));
  CAF_CHECK(!parse_request_target("/ok?%=v"));
}

CAF_TEST(absolute urls) {
  auto u = std::optional<url>{must_url("http://127.0.0.1:8080/v1/publish?x=1")};
  CAF_CHECK_EQUAL(u->scheme, "http");
  CAF_CHECK_EQUAL(u->host, "127.0.0.1");
  CAF_CHECK_EQUAL(u->port, 8080);
  CAF_CHECK_EQUAL(u->target, "/v1/publish?x=1");
  CAF_CHECK(!u->secure());
  // Default ports by scheme; the scheme is case-insensitive.
  CAF_CHECK_EQUAL(must_url("http://hub.example").port, 80);
  CAF_CHECK_EQUAL(must_url("http://hub.example").target, "/");
  CAF_CHECK_EQUAL(must_url("HTTPS://hub.example").port, 443);
  CAF_CHECK(must_url("https://hub.example").secure());
  CAF_CHECK_EQUAL(must_url("http://h?q=1").target, "/?q=1");
  auto v6 = std::optional<url>{must_url("http://[::1]:9000/x")};
  CAF_CHECK_EQUAL(v6->host, "::1");
  CAF_CHECK_EQUAL(v6->port, 9000);
  CAF_CHECK_EQUAL(v6->authority(), "[::1]:9000");
  CAF_CHECK_EQUAL(must_url("http://[::1]").port, 80);
  CAF_CHECK_EQUAL(must_url("http://h:81").authority(), "h:81");
  std::string why;
  for (auto bad : {"ftp://h/", "h:80", "http://", "http://:80", "http://h:", "http://h:0",
                   "http://h:65536", "http://h:8x", "http://user@h/", "http://h/#frag",
                   "http://[::1/", "http://[::1]x/", "http://::1:80/"}) {
    why.clear();
    CAF_CHECK(!parse_url(bad, &why));
    CAF_CHECK(!why.empty());
  }
  CAF_CHECK(!parse_url("http://h/" + std::string(2048, 'a')));
}

CAF_TEST(listen addresses) {
  auto a = std::optional<host_port>{must_host_port("0.0.0.0:9000")};
  CAF_CHECK_EQUAL(a->host, "0.0.0.0");
  CAF_CHECK_EQUAL(a->port, 9000);
  CAF_CHECK_EQUAL(must_host_port("[::1]:0").host, "::1");
  CAF_CHECK_EQUAL(must_host_port("localhost:65535").port, 65535);
  std::string why;
  CAF_CHECK(!parse_host_port("localhost", &why));
  CAF_CHECK_EQUAL(why, "must be HOST:PORT");
  CAF_CHECK(!parse_host_port(":80"));
  CAF_CHECK(!parse_host_port("h:"));
  CAF_CHECK(!parse_host_port("h:99999", &why));
  CAF_CHECK(why.find("99999") != std::string::npos);
  CAF_CHECK(!parse_host_port("::1:80")); // IPv6 needs brackets
}

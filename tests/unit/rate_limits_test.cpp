#define CAF_SUITE rate_limits
#include <caf/test/unit_test.hpp>

#include "net/rate_limits.hpp"

using namespace herald;
using namespace std::chrono_literals;

CAF_TEST(token buckets take new figures in place) {
  token_buckets b{0, 0};
  auto t0 = token_buckets::clock::now();
  CAF_CHECK(!b.enabled());
  CAF_CHECK(!b.take("k", 1000, t0).has_value()); // off: everything passes
  b.set(2, 3);
  CAF_CHECK(b.enabled());
  for (int i = 0; i < 3; ++i)
    CAF_CHECK(!b.take("k", 1, t0).has_value());
  auto wait = b.take("k", 1, t0);
  CAF_REQUIRE(wait.has_value());
  CAF_CHECK_EQUAL(*wait, 1u);
  CAF_CHECK(!b.take("k", 1, t0 + 500ms).has_value()); // refilled at 2/s
  // A lower burst caps what a bucket holds at its next take.
  b.set(2, 1);
  CAF_CHECK(!b.take("k", 1, t0 + 10s).has_value());
  CAF_CHECK(b.take("k", 1, t0 + 10s).has_value());
  b.set(0, 0);
  CAF_CHECK(!b.take("k", 1, t0 + 10s).has_value());
}

CAF_TEST(stream counts count while off so a maximum set later is exact) {
  stream_counts c{0};
  auto a = c.acquire("ip:1");
  auto b = c.acquire("ip:1");
  CAF_REQUIRE(a != nullptr);
  CAF_REQUIRE(b != nullptr);
  c.set_max(2);
  CAF_CHECK(c.acquire("ip:1") == nullptr);
  CAF_CHECK(c.acquire("ip:2") != nullptr); // other keys have their own count
  b.reset();
  auto again = c.acquire("ip:1");
  CAF_CHECK(again != nullptr);
  c.set_max(0);
  CAF_CHECK(c.acquire("ip:1") != nullptr);
}

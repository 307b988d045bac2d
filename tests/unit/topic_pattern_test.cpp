#define CAF_SUITE topic_pattern
#include <caf/test/unit_test.hpp>

#include "storage/topic_pattern.hpp"

using namespace herald;

CAF_TEST(valid topics are accepted) {
  CAF_CHECK(!validate_topic("orders"));
  CAF_CHECK(!validate_topic("orders/42"));
  CAF_CHECK(!validate_topic("a.b-c_d~e/F9"));
  CAF_CHECK(!validate_topic(std::string(64, 'x') + "/" + std::string(64, 'y')));
}

CAF_TEST(invalid topics are rejected with a reason) {
  CAF_CHECK(validate_topic(""));
  CAF_CHECK(validate_topic("/orders"));
  CAF_CHECK(validate_topic("orders/"));
  CAF_CHECK(validate_topic("orders//42"));
  CAF_CHECK(validate_topic("orders/*"));
  CAF_CHECK(validate_topic("orders/**"));
  CAF_CHECK(validate_topic("has space"));
  CAF_CHECK(validate_topic(std::string("nul\0x", 5)));
  CAF_CHECK(validate_topic(std::string(65, 'x')));
  CAF_CHECK(validate_topic(std::string(128, 'a') + "/" + std::string(127, 'b')));
  auto err = validate_topic("orders/*");
  CAF_REQUIRE(err);
  CAF_CHECK(err->find("wildcards") != std::string::npos);
}

CAF_TEST(patterns allow wildcards in their places only) {
  CAF_CHECK(!validate_pattern("orders/*"));
  CAF_CHECK(!validate_pattern("*/42"));
  CAF_CHECK(!validate_pattern("orders/**"));
  CAF_CHECK(!validate_pattern("**"));
  CAF_CHECK(validate_pattern("orders/**/x"));
  CAF_CHECK(validate_pattern("orders/4*"));
  CAF_CHECK(validate_pattern("orders/***"));
}

CAF_TEST(matching follows the documented grammar) {
  CAF_CHECK(topic_matches("orders/42", "orders/42"));
  CAF_CHECK(!topic_matches("orders/42", "orders/43"));
  CAF_CHECK(topic_matches("orders/*", "orders/42"));
  CAF_CHECK(!topic_matches("orders/*", "orders"));
  CAF_CHECK(!topic_matches("orders/*", "orders/42/items"));
  CAF_CHECK(topic_matches("*/42", "orders/42"));
  CAF_CHECK(topic_matches("orders/**", "orders/42"));
  CAF_CHECK(topic_matches("orders/**", "orders/42/items/7"));
  CAF_CHECK(!topic_matches("orders/**", "orders"));
  CAF_CHECK(!topic_matches("orders/**", "ordersx/1"));
  CAF_CHECK(topic_matches("**", "a"));
  CAF_CHECK(topic_matches("a/*/c", "a/b/c"));
  CAF_CHECK(!topic_matches("a/*/c", "a/b/d"));
  CAF_CHECK(!topic_matches("orders", "orders/42"));
}

CAF_TEST(a filter matches any of its patterns) {
  topic_filter f{{"b", "a/*", "b"}};
  CAF_CHECK_EQUAL(f.patterns().size(), 2u);
  CAF_CHECK(f.matches("b"));
  CAF_CHECK(f.matches("a/x"));
  CAF_CHECK(!f.matches("c"));
  CAF_CHECK(!f.single_exact());
  CAF_CHECK(topic_filter{{"orders/42"}}.single_exact());
}

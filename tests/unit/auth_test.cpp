#define CAF_SUITE auth
#include <caf/test/unit_test.hpp>

#include <chrono>
#include <fstream>

#include <nlohmann/json.hpp>

#include "auth/principal.hpp"
#include "auth/tokens.hpp"
#include "tests/unit/test_support.hpp"

using namespace herald;

namespace {

const std::string secret = "0123456789abcdef0123456789abcdef-unit";

std::int64_t now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::shared_ptr<const key_set> keys(token_rules rules) {
  auto loaded = key_set::load(rules);
  if (auto* err = std::get_if<std::string>(&loaded))
    CAF_FAIL("keys do not load: " << *err);
  return std::get<0>(loaded);
}

std::string mint(const nlohmann::json& claims, const std::string& key = secret,
                 const std::string& kid = "") {
  auto t = mint_token("HS256", key, kid, claims.dump());
  if (auto* err = std::get_if<1>(&t))
    CAF_FAIL("mint: " << *err);
  return std::get<0>(t);
}

/// The refusal code of verifying `token`, or "" when it verifies.
std::string refusal(const key_set& k, const std::string& token) {
  auto r = k.verify(token, now());
  if (auto* no = std::get_if<token_refusal>(&r))
    return no->code;
  return "";
}

principal token_principal(std::vector<std::string> subscribe, std::string sub = "alice",
                          std::vector<std::string> roles = {}) {
  principal p;
  p.from = principal::origin::token;
  p.sub = std::move(sub);
  p.subscribe = std::move(subscribe);
  p.roles = std::move(roles);
  return p;
}

} // namespace

CAF_TEST(a selector covers a pattern only if it matches every topic the pattern can) {
  CAF_CHECK(selector_covers("orders/*", "orders/42"));
  CAF_CHECK(selector_covers("orders/*", "orders/*"));
  CAF_CHECK(!selector_covers("orders/*", "orders/**"));
  CAF_CHECK(!selector_covers("orders/*", "orders"));
  CAF_CHECK(!selector_covers("orders/*", "orders/1/items"));
  CAF_CHECK(selector_covers("orders/**", "orders/1/items"));
  CAF_CHECK(selector_covers("orders/**", "orders/**"));
  CAF_CHECK(selector_covers("orders/**", "orders/*/items"));
  CAF_CHECK(!selector_covers("orders/**", "orders"));
  CAF_CHECK(!selector_covers("orders/**", "*/1"));
  CAF_CHECK(selector_covers("**", "a"));
  CAF_CHECK(selector_covers("**", "*/b/**"));
  CAF_CHECK(selector_covers("*/b", "a/b"));
  CAF_CHECK(!selector_covers("*/b", "a/c"));
  CAF_CHECK(!selector_covers("a/b", "a/*"));
  CAF_CHECK(selector_covers("a/b", "a/b"));
  CAF_CHECK(grants_cover({"x", "orders/*"}, "orders/7"));
  CAF_CHECK(!grants_cover({}, "orders/7"));
}

CAF_TEST(private and targeted events are seen only by verified tokens that qualify) {
  event_access open;
  event_access priv{true, {}};
  event_access kitchen{false, {"role:kitchen", "sub:bob"}};
  event_access both{true, {"sub:alice"}};
  auto alice = token_principal({"orders/**"}, "alice", {"bar"});
  auto bob = token_principal({"news/*"}, "bob");
  auto anon = principal::anonymous({}, {"**"});
  auto dev = principal::development();
  CAF_CHECK(may_see(anon, "orders/1", open));
  CAF_CHECK(may_see(alice, "orders/1", priv));
  CAF_CHECK(!may_see(bob, "orders/1", priv));   // no grant on the topic
  CAF_CHECK(!may_see(anon, "orders/1", priv));  // anonymous never, whatever its grants
  CAF_CHECK(!may_see(dev, "orders/1", priv));   // nor the development principal
  CAF_CHECK(may_see(bob, "orders/1", kitchen)); // sub:bob
  CAF_CHECK(!may_see(alice, "orders/1", kitchen));
  CAF_CHECK(may_see(token_principal({}, "carol", {"kitchen"}), "orders/1", kitchen));
  CAF_CHECK(may_see(alice, "orders/1", both));
  CAF_CHECK(!may_see(token_principal({"orders/**"}, "zed"), "orders/1", both));
  CAF_CHECK(!may_see(token_principal({}, "alice"), "orders/1", both));
}

CAF_TEST(sessions belong to their creator or an admin) {
  auto alice = token_principal({}, "alice");
  auto admin = token_principal({}, "ops");
  admin.admin = true;
  CAF_CHECK(may_use_session(alice, "alice"));
  CAF_CHECK(!may_use_session(alice, "bob"));
  CAF_CHECK(may_use_session(admin, "bob"));
  CAF_CHECK(!may_use_session(alice, ""));
  CAF_CHECK(may_use_session(principal::anonymous({}, {"x"}), ""));
  CAF_CHECK(!may_use_session(principal::anonymous({}, {"x"}), "alice"));
}

CAF_TEST(tokens verify only with the algorithm of their key) {
  token_rules rules;
  rules.keys.push_back({"", "HS256", secret, "", ""});
  rules.keys.push_back({"k2", "HS384", secret + "-384", "", ""});
  auto k = keys(rules);
  nlohmann::json c{{"sub", "alice"}, {"exp", now() + 60},
                   {"herald", {{"publish", {"a/*"}}, {"roles", {"r"}}, {"admin", true}}}};
  auto ok = k->verify(mint(c), now());
  CAF_REQUIRE(std::holds_alternative<principal>(ok));
  auto& p = std::get<principal>(ok);
  CAF_CHECK_EQUAL(p.sub, "alice");
  CAF_CHECK(p.authenticated());
  CAF_CHECK(p.admin);
  CAF_CHECK_EQUAL(p.publish, std::vector<std::string>{"a/*"});
  CAF_CHECK_EQUAL(p.roles, std::vector<std::string>{"r"});
  CAF_CHECK_EQUAL(refusal(*k, mint(c, secret, "k2")), "alg_not_allowed"); // k2 is HS384
  CAF_CHECK_EQUAL(refusal(*k, mint(c, secret, "nope")), "unknown_key");
  CAF_CHECK_EQUAL(refusal(*k, mint(c, "another-secret-of-enough-length-xx")), "bad_signature");
  c["exp"] = now() - 31;
  CAF_CHECK_EQUAL(refusal(*k, mint(c)), "token_expired");
  c["exp"] = now() - 29; // within the default leeway of 30 s
  CAF_CHECK_EQUAL(refusal(*k, mint(c)), "");
  c["nbf"] = now() + 100;
  CAF_CHECK_EQUAL(refusal(*k, mint(c)), "token_not_yet_valid");
  CAF_CHECK_EQUAL(refusal(*k, "a.b"), "token_malformed");
  CAF_CHECK_EQUAL(refusal(*k, std::string(9000, 'a')), "token_too_large");
  CAF_CHECK_EQUAL(refusal(*k, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), "alg_not_allowed");
  CAF_CHECK_EQUAL(refusal(*k, "\xff\xfe.\xff.\xff"), "token_malformed");
}

CAF_TEST(bad keys refuse to load with a message naming them) {
  auto fails = [](token_rules r, const std::string& needle) {
    auto loaded = key_set::load(r);
    auto* err = std::get_if<std::string>(&loaded);
    CAF_REQUIRE(err != nullptr);
    CAF_CHECK(err->find(needle) != std::string::npos);
  };
  token_rules r1;
  r1.keys.push_back({"", "HS256", "short", "", ""});
  fails(r1, "32 bytes");
  token_rules r2;
  r2.keys.push_back({"", "none", "", "", "x.pem"});
  fails(r2, "not supported");
  token_rules r3;
  r3.keys.push_back({"a", "HS256", secret, "", ""});
  r3.keys.push_back({"a", "HS512", secret, "", ""});
  fails(r3, "kid 'a'");
  token_rules r4;
  r4.keys.push_back({"", "RS256", "", "", "/nonexistent.pem"});
  fails(r4, "cannot read");
}

CAF_TEST(a JWKS document adds oct keys bound to their alg) {
  test::temp_dir dir;
  auto path = dir.str() + "/jwks.json";
  // k = base64url("0123456789abcdef0123456789abcdef-unit")
  std::ofstream{path} << R"({"keys":[{"kty":"oct","kid":"j1","alg":"HS256",)"
                      << R"("k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYtdW5pdA"},)"
                      << R"({"kty":"oct","use":"enc","alg":"A128KW","k":"AAAA"}]})";
  token_rules rules;
  rules.jwks_file = path;
  auto k = keys(rules);
  CAF_CHECK_EQUAL(k->size(), 1u);
  nlohmann::json c{{"sub", "j"}};
  CAF_CHECK_EQUAL(refusal(*k, mint(c, secret, "j1")), "");
}

CAF_TEST(mercure claims are read and make a subject optional) {
  token_rules rules;
  rules.keys.push_back({"", "HS256", secret, "", ""});
  auto k = keys(rules);
  // A Mercure token as Mercure's tools mint them: no sub, no exp.
  nlohmann::json c = {{"mercure",
                       {{"publish", {"https://example.com/books/{id}"}},
                        {"subscribe", {"*"}},
                        {"payload", {{"user", "https://example.com/users/1"}}}}}};
  auto ok = k->verify(mint(c), now());
  CAF_REQUIRE(std::holds_alternative<principal>(ok));
  auto& p = std::get<principal>(ok);
  CAF_CHECK(p.authenticated());
  CAF_CHECK(p.sub.empty());
  CAF_CHECK_EQUAL(p.limit_key(), ""); // limited by address, not by an empty subject
  CAF_CHECK_EQUAL(p.expires_at, 0);
  CAF_CHECK_EQUAL(p.mercure_publish.size(), 1u);
  CAF_CHECK_EQUAL(p.mercure_subscribe.at(0), "*");
  CAF_CHECK_EQUAL(p.mercure_payload, R"({"user":"https://example.com/users/1"})");
  CAF_CHECK(p.publish.empty() && p.subscribe.empty() && !p.admin);
  CAF_CHECK_EQUAL(refusal(*k, mint({{"mercure", {{"publish", "*"}}}})), "token_malformed");
  CAF_CHECK_EQUAL(refusal(*k, mint({{"mercure", 1}})), "token_malformed");
  CAF_CHECK_EQUAL(refusal(*k, mint({{"mercure", {{"subscribe", {1}}}}})), "token_malformed");
  // Without a mercure claim a subject is still required, and Herald grants always need one.
  CAF_CHECK_EQUAL(refusal(*k, mint({{"herald", {{"subscribe", {"a"}}}}})), "token_malformed");
  CAF_CHECK_EQUAL(refusal(*k, mint({{"mercure", nlohmann::json::object()},
                                    {"herald", {{"subscribe", {"a"}}}}})),
                  "token_malformed");
  CAF_CHECK_EQUAL(refusal(*k, mint({{"sub", "bob"}, {"mercure", {{"subscribe", {"x"}}}}})), "");
}

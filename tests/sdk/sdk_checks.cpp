// SDK behaviours that need a program of their own, run by tests/integration/test_sdk.py against a
// real hub. Each check prints one JSON line of what it saw; the Python test asserts on it.
//   sdk_checks bad-in-batch URL     a batch with one invalid event: only that one fails
//   sdk_checks queue-full URL       a bounded queue to an unreachable hub fails fast, then gives up
//   sdk_checks retry-after URL      a 503 with Retry-After is waited out, then the event is published

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include <herald/publisher.hpp>
#include <nlohmann/json.hpp>

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

json outcome(const herald::sdk::publish_result& r) {
  if (r.ok())
    return json{{"id", r.id}};
  return json{{"status", r.failure->status}, {"code", r.failure->code}};
}

int bad_in_batch(const std::string& url) {
  herald::sdk::publisher_options o;
  o.url = url;
  o.linger = 200ms; // all five go in one request
  herald::sdk::publisher pub{o};
  std::vector<std::string> topics{"chk/a", "chk/b", "chk//bad", "chk/d", "chk/e"};
  std::vector<std::future<std::string>> fs;
  json out = json::array();
  std::vector<herald::sdk::publish_result> results(topics.size());
  for (std::size_t i = 0; i < topics.size(); ++i)
    pub.publish_async(topics[i], {{"i", i}}, {},
                      [&results, i](herald::sdk::publish_result r) { results[i] = r; });
  pub.flush();
  for (auto& r : results)
    out.push_back(outcome(r));
  auto st = pub.stats();
  std::cout << json{{"results", out}, {"requests", st.requests}}.dump() << std::endl;
  return 0;
}

int queue_full(const std::string& url) {
  herald::sdk::publisher_options o;
  o.url = url;
  o.max_queued = 10;
  o.retry.give_up_after = 500ms;
  herald::sdk::publisher pub{o};
  std::vector<herald::sdk::publish_result> results(30);
  for (std::size_t i = 0; i < results.size(); ++i)
    pub.publish_async("chk/q", i, {}, [&results, i](herald::sdk::publish_result r) {
      results[i] = r;
    });
  auto t0 = std::chrono::steady_clock::now();
  pub.flush();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now()
                                                                   - t0)
              .count();
  json codes = json::array();
  for (auto& r : results)
    codes.push_back(r.ok() ? std::string{"ok"} : r.failure->code);
  std::cout << json{{"codes", codes}, {"flush_ms", ms}}.dump() << std::endl;
  return 0;
}

int retry_after(const std::string& url) {
  herald::sdk::publisher_options o;
  o.url = url;
  o.retry.max = 3s;
  herald::sdk::publisher pub{o};
  auto t0 = std::chrono::steady_clock::now();
  json out;
  try {
    out["id"] = pub.publish("chk/r", "after 503");
  } catch (const herald::sdk::request_failed& e) {
    out["error"] = e.what();
  }
  out["ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
  out["retries"] = pub.stats().retries;
  std::cout << out.dump() << std::endl;
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3)
    return 2;
  std::string what = argv[1], url = argv[2];
  if (what == "bad-in-batch")
    return bad_in_batch(url);
  if (what == "queue-full")
    return queue_full(url);
  if (what == "retry-after")
    return retry_after(url);
  return 2;
}

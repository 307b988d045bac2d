#include "app/client.hpp"

#include <csignal>
#include <iostream>

#include <filesystem>

#include <herald/admin.hpp>
#include <herald/jobs.hpp>
#include <herald/publisher.hpp>
#include <herald/subscriber.hpp>
#include <nlohmann/json.hpp>


namespace herald::cli {
namespace {

using json = nlohmann::json;

sdk::subscriber* running = nullptr;

void on_signal(int) {
  if (running != nullptr)
    running->stop();
}

int fail(const std::string& what) {
  std::cerr << "herald: " << what << "\n";
  return 1;
}

/// Streams events as JSON lines until stopped, a final answer, or `max_events`.
int stream(sdk::subscriber_options opts, long max_events, bool ack = false) {
  sdk::subscriber sub{std::move(opts)};
  long n = 0;
  int code = 0;
  sub.on_event([&](const sdk::event& e) {
    json line{{"id", e.id}, {"type", e.type.empty() ? json(nullptr) : json(e.type)}};
    auto data = json::parse(e.data, nullptr, false);
    line["data"] = data.is_discarded() ? json(e.data) : data;
    if (!e.topic.empty())
      line["topic"] = e.topic;
    if (e.delivery > 1)
      line["delivery"] = e.delivery;
    std::cout << line.dump() << std::endl;
    if (ack) {
      try {
        sub.ack({e.id});
      } catch (const std::exception& ex) {
        std::cerr << "herald: ack of " << e.id << " failed: " << ex.what() << std::endl;
      }
    }
    if (max_events > 0 && ++n >= max_events)
      sub.stop();
  });
  sub.on_gap([](const std::string& g) {
    std::cout << json{{"gap", json::parse(g, nullptr, false)}}.dump() << std::endl;
  });
  sub.on_state([&](sdk::stream_state s, const std::string& why) {
    if (s == sdk::stream_state::connected)
      std::cerr << "herald: connected" << std::endl;
    if (s == sdk::stream_state::disconnected)
      std::cerr << "herald: disconnected (" << why << "), reconnecting" << std::endl;
    if (s == sdk::stream_state::stopped && why.rfind("HTTP ", 0) == 0) {
      std::cerr << "herald: stream ended: " << why << "\n";
      code = why == "HTTP 204" ? 0 : 1;
    }
  });
  running = &sub;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  sub.run();
  running = nullptr;
  return code;
}

template <class F>
int print_json(F f) {
  try {
    std::cout << f().dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}

} // namespace

int publish(const publish_args& a) {
  auto data = json::parse(a.data, nullptr, false);
  if (data.is_discarded())
    return fail("--data is not valid JSON");
  try {
    sdk::publisher_options po;
    po.url = a.url;
    po.creds = a.creds;
    po.linger = std::chrono::milliseconds(0);
    po.retry.give_up_after = std::chrono::seconds(10);
    sdk::publisher pub{po};
    sdk::publish_options opts;
    opts.type = a.type;
    opts.ack = a.ack;
    opts.idempotency_key = a.key;
    std::cout << json{{"id", pub.publish(a.topic, std::move(data), opts)}}.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}

int subscribe(const subscribe_args& a) {
  sdk::subscriber_options o;
  o.url = a.url;
  o.creds = a.creds;
  o.topics = a.topics;
  o.session = a.session;
  o.last_event_id = a.last_event_id;
  if (a.websocket)
    o.transport = sdk::stream_transport::websocket;
  o.heartbeat_timeout = std::chrono::milliseconds(static_cast<long>(a.heartbeat_timeout_s * 1000));
  if (o.topics.empty() && o.session.empty())
    return fail("give --topic (one or more) or --client");
  try {
    return stream(std::move(o), a.max_events, a.ack && !a.session.empty());
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}

int job_set(const job_args& a) {
  auto update = json::parse(a.data, nullptr, false);
  if (update.is_discarded())
    return fail("--data is not valid JSON");
  return print_json([&] { return sdk::job_client{a.url, std::chrono::seconds(30), a.creds}.update(a.id, update); });
}

int job_get(const job_args& a) {
  return print_json([&] { return sdk::job_client{a.url, std::chrono::seconds(30), a.creds}.get(a.id); });
}

int backup(const backup_args& a) {
  std::error_code ec;
  auto dir = std::filesystem::absolute(a.dir, ec);
  if (ec)
    return fail("cannot make '" + a.dir + "' absolute: " + ec.message());
  return print_json([&] { return sdk::admin_client{a.url, std::chrono::minutes(10), a.creds}.backup(dir.lexically_normal().string()); });
}

int job_watch(const job_args& a) {
  sdk::subscriber_options o;
  o.url = a.url;
  o.creds = a.creds;
  o.path = "/v1/jobs/" + a.id + "/events";
  return stream(std::move(o), 0);
}

} // namespace herald::cli

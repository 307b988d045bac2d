// A CAF actor system publishing through Herald's publisher actor: W worker actors each publish
// K events with request/response and get each event id back. The publisher actor bounds the work
// in flight (--max-in-flight): a worker told `overloaded` backs off and retries, so memory stays
// bounded however fast the workers are. Prints a summary.
//
//   build/examples/herald-example-actor-publisher --url http://127.0.0.1:8080
//   build/examples/herald-example-actor-publisher --embedded ./embedded-data   (a hub in-process)
//
// The workers do not know which: the publisher actor of a remote hub (over HTTP) and that of an
// embedded hub (straight to its journal) answer the same messages.

#include <chrono>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <string>

#include <caf/all.hpp>
#include <herald/actor_publisher.hpp>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "app/embedded_hub.hpp"

namespace {

using namespace std::chrono_literals;
using herald::sdk::publish_atom;
using retry_atom = caf::atom_constant<caf::atom("retry")>;

struct totals {
  std::atomic<long> published{0}, overloaded{0}, failed{0};
};

struct worker_state {
  long next = 0;        // the next sequence number to send
  long done = 0;        // answered for good
  long window = 10;     // requests outstanding at most
  long outstanding = 0;
};

caf::behavior worker(caf::stateful_actor<worker_state>* self, caf::actor pub, std::string topic,
                     long id, long count, totals* t) {
  auto send_one = [=](long seq) {
    ++self->state.outstanding;
    auto data = "{\"worker\":" + std::to_string(id) + ",\"seq\":" + std::to_string(seq) + "}";
    self->request(pub, caf::infinite, publish_atom::value, topic, data)
      .then(
        [=](const std::string&) {
          ++t->published;
          --self->state.outstanding;
          if (++self->state.done == count)
            self->quit();
          else
            self->send(self, retry_atom::value, long{-1}); // room for the next one
        },
        [=](caf::error& err) {
          --self->state.outstanding;
          if (herald::sdk::is(err, herald::sdk::publish_errc::overloaded)) {
            ++t->overloaded;
            self->delayed_send(self, 5ms, retry_atom::value, seq); // backpressure: later
            return;
          }
          ++t->failed;
          std::cerr << "worker " << id << ": " << self->system().render(err) << "\n";
          if (++self->state.done == count)
            self->quit();
        });
  };
  auto fill = [=] {
    auto& st = self->state;
    while (st.outstanding < st.window && st.next < count)
      send_one(st.next++);
  };
  fill();
  return {
    [=](retry_atom, long seq) {
      if (seq >= 0)
        send_one(seq);
      fill();
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  std::string url = "http://127.0.0.1:8080", topic = "demo/actors", embedded_dir;
  long workers = 8, count = 1000, max_in_flight = 100;
  CLI::App app{"CAF worker actors publishing through Herald's actor publisher"};
  app.add_option("--url", url, "the hub")->capture_default_str();
  app.add_option("--topic", topic, "the topic")->capture_default_str();
  app.add_option("--workers", workers, "worker actors")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--count", count, "events per worker")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-in-flight", max_in_flight, "unanswered publishes at most")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--embedded", embedded_dir, "run an embedded hub on this data dir instead of --url");
  CLI11_PARSE(app, argc, argv);
  caf::actor_system_config cfg;
  totals t;
  auto start = std::chrono::steady_clock::now();
  {
    caf::actor_system sys{cfg};
    std::unique_ptr<herald::embedded_hub> hub;
    caf::actor pub;
    if (!embedded_dir.empty()) {
      // The hub logs through spdlog's default logger: the application chooses where (stderr
      // here, so stdout carries only the summary).
      spdlog::set_default_logger(spdlog::stderr_logger_mt("herald"));
      herald::config hub_cfg;
      hub_cfg.data_dir = embedded_dir;
      hub_cfg.listen_port = 0; // any free port: browsers may subscribe there meanwhile
      hub = std::make_unique<herald::embedded_hub>(sys, hub_cfg);
      std::cerr << "embedded hub on 127.0.0.1:" << hub->port() << std::endl;
      pub = hub->spawn_publisher(static_cast<std::size_t>(max_in_flight));
    } else {
      herald::sdk::actor_publisher_options opts;
      opts.max_in_flight = static_cast<std::size_t>(max_in_flight);
      opts.remote.url = url;
      pub = herald::sdk::spawn_publisher(sys, opts);
    }
    {
      caf::scoped_actor self{sys};
      for (long w = 0; w < workers; ++w)
        self->monitor(self->spawn(worker, pub, topic, w, count, &t));
      for (long w = 0; w < workers; ++w)
        self->receive([](const caf::down_msg&) {});
    }
    caf::anon_send_exit(pub, caf::exit_reason::user_shutdown);
    hub.reset(); // the embedded hub stops before the actor system does
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "{\"events\":" << workers * count << ",\"published\":" << t.published
            << ",\"overloaded_answers\":" << t.overloaded << ",\"failed\":" << t.failed
            << ",\"seconds\":" << secs << "}" << std::endl;
  return t.failed == 0 && t.published == workers * count ? 0 : 1;
}

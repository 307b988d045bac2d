#pragma once
// Base fixture for actor suites: CAF's deterministic test coordinator plus helpers.
// Use sched.run() (messages only): the fixture's run() also fires timers, and self-re-arming
// timers (heartbeats, retention) would loop forever. Actors with timers are stopped in
// ~actor_fixture before the base destructor runs.

#define FAIL(msg) CAF_FAIL(msg) // 0.17.6's dsl.hpp uses an undefined FAIL() in request<T>()
#include <caf/test/dsl.hpp>

#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "actors/hub_stats.hpp"
#include "actors/messages.hpp"
#include "storage/hub_storage.hpp"
#include "tests/unit/test_support.hpp"

namespace herald::test {

struct actor_fixture : test_coordinator_fixture<> {
  hub_stats stats;
  std::vector<caf::actor> to_stop;

  ~actor_fixture() override {
    stop_actors();
  }

  /// Stops the actors in `to_stop`. Fixtures whose actors use resources the fixture owns (a data
  /// directory) call this in their own destructor, so the actors go before the resources do.
  void stop_actors() {
    for (auto& a : to_stop)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    to_stop.clear();
    sched.run();
  }

  /// Untyped handles of `hs` (typed or not), e.g. for `to_stop`.
  template <class... Hs>
  static std::vector<caf::actor> handles(const Hs&... hs) {
    return {caf::actor_cast<caf::actor>(hs)...};
  }

  /// A stand-in for the dispatcher that keeps every committed batch in `into` (may be null).
  batch_sink batch_recorder(std::vector<committed_batch>* into) {
    return sys.spawn(
      [into](batch_sink::pointer, int) -> batch_sink::behavior_type {
        return {[into](deliver_atom, const committed_batch& b) {
          if (into != nullptr)
            into->push_back(b);
        }};
      },
      0);
  }

  /// Sends a request, runs the mailboxes, and returns the reply (or the error).
  template <class T, class Handle, class... Ts>
  std::variant<T, caf::error> ask(const Handle& hdl, Ts&&... xs) {
    std::variant<T, caf::error> out = caf::error{};
    auto rp = self->request(hdl, caf::infinite, std::forward<Ts>(xs)...);
    sched.run();
    rp.receive([&](T& x) { out = std::move(x); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  // Function actors here take a dummy argument: CAF 0.17.6 spawns argument-less function actors
  // through an empty shared_ptr<std::tuple<>> that it dereferences (UBSan reports it).

  /// An actor that does nothing but exist (a stand-in subscriber).
  caf::actor bystander() {
    return sys.spawn([](caf::event_based_actor*, int) -> caf::behavior { return {[](int) {}}; },
                     0);
  }

  /// An actor that sends `xs` as a request to `dest` when it starts and keeps the reply.
  template <class T, class Handle, class... Ts>
  caf::actor requester(Handle dest, std::shared_ptr<std::optional<std::variant<T, caf::error>>> out,
                       Ts... xs) {
    return sys.spawn(
      [=](caf::event_based_actor* s, int) -> caf::behavior {
        s->request(dest, caf::infinite, xs...)
          .then([=](T& x) { *out = std::move(x); }, [=](caf::error& e) { *out = std::move(e); });
        return {[](int) {}};
      },
      0);
  }

  template <class Handle>
  void kill(const Handle& a, caf::exit_reason r = caf::exit_reason::user_shutdown) {
    caf::anon_send_exit(a, r);
    sched.run();
  }
};

/// For actors that use storage: the hub's storage in a temporary directory (`log` is its event
/// log). Actors are stopped in this destructor, before the storage and its directory go.
struct log_fixture : actor_fixture {
  temp_dir dir;
  std::shared_ptr<hub_storage> store;
  std::shared_ptr<event_log> log;

  log_fixture() {
    // The deterministic scheduler runs every actor on this thread, storage actors included.
    storage_thread::claim();
    std::string err;
    store = hub_storage::open(dir.str(), durability::process, err);
    if (!store)
      CAF_FAIL("cannot open storage: " << err);
    log = hub_storage::log_of(store);
  }

  ~log_fixture() override {
    stop_actors();
  }
};

template <class T>
using reply_slot = std::shared_ptr<std::optional<std::variant<T, caf::error>>>;

template <class T>
reply_slot<T> make_slot() {
  return std::make_shared<std::optional<std::variant<T, caf::error>>>();
}

} // namespace herald::test

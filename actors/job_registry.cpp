#include "actors/job_registry.hpp"

#include "actors/supervision.hpp"

namespace herald {
namespace {

caf::actor& watcher_for(job_registry_actor* self, const std::string& id) {
  auto& st = self->state;
  auto it = st.watchers.find(id);
  if (it == st.watchers.end()) {
    auto w = self->spawn<caf::linked>(job_watcher, id, st.journal, st.reader,
                                      caf::actor_cast<caf::actor>(self), st.settings, st.stats);
    it = st.watchers.emplace(id, job_registry_state::entry{w, 0}).first;
  }
  ++it->second.forwarded;
  return it->second.watcher;
}

} // namespace

caf::behavior job_registry(job_registry_actor* self, journal_handle journal, reader_handle reader,
                           job_settings settings, hub_stats* stats) {
  auto& st = self->state;
  st.journal = std::move(journal);
  st.reader = std::move(reader);
  st.settings = settings;
  st.stats = stats;
  // Watchers are linked: the registry supervises them, and they go with it at shutdown.
  supervise_children(
    self, [](job_registry_actor* a) -> auto& { return a->state.watchers; },
    [](const job_registry_state::entry& e) -> const caf::actor& { return e.watcher; });
  return {
    [=](job_atom, const job_request_ptr& req) {
      self->send(watcher_for(self, req->id), job_atom::value, req);
    },
    [=](watch_atom, const std::string& id, const queue_ptr& queue,
        std::uint64_t last_seen) -> caf::result<caf::message> {
      return self->delegate(watcher_for(self, id), watch_atom::value, queue, last_seen);
    },
    [=](job_sync_atom, const std::string& id, const stored_job& job, bool taken) {
      // Cluster mode, from the tail: a change through any node, and whether it took effect
      // (then it is in the local store). Only a live watcher needs it (a later one reads the
      // store).
      if (self->state.watchers.count(id) != 0)
        self->send(watcher_for(self, id), job_sync_atom::value, job, taken);
    },
    [=](idle_atom, const std::string& id, std::uint64_t requests_seen) {
      auto& ws = self->state.watchers;
      auto it = ws.find(id);
      auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
      if (it == ws.end() || it->second.watcher.address() != sender)
        return;
      if (it->second.forwarded != requests_seen) {
        // A request is on its way: the watcher must stay; tell it to carry on.
        self->send(it->second.watcher, idle_atom::value, false);
        return;
      }
      auto w = it->second.watcher;
      ws.erase(it);
      self->unlink_from(w);
      self->send_exit(w, caf::exit_reason::user_shutdown);
    },
    [=](shutdown_atom, std::uint64_t retry_ms, std::uint64_t jitter_ms) {
      for (auto& [id, e] : self->state.watchers)
        self->send(e.watcher, shutdown_atom::value, retry_ms, jitter_ms);
    },
  };
}

} // namespace herald

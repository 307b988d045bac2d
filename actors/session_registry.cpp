#include "actors/session_registry.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "storage/wall_clock.hpp"

namespace herald {
namespace {

using json = nlohmann::json;



caf::actor spawn_session(session_registry_actor* self, stored_session s, bool fresh) {
  auto& st = self->state;
  auto id = s.id;
  auto a = self->spawn<caf::linked>(session, id, std::move(s.record), std::move(s.pending),
                                    s.dead_letters, fresh, st.deps);
  st.sessions[id] = session_registry_state::entry{a, 0};
  return a;
}

/// A session crashed: read its stored state back (on the reader's thread) and start it again.
void restore(session_registry_actor* self, const std::string& id) {
  self->state.restoring.insert(id);
  self->request(self->state.deps.reader, caf::infinite, restore_atom::value, id)
    .then(
      [=](stored_session& s) {
        self->state.restoring.erase(id);
        spawn_session(self, std::move(s), false);
      },
      [=](caf::error& err) {
        // Deleted meanwhile (not_found), or unreadable: the next request finds no session.
        self->state.restoring.erase(id);
        if (!is(err, hub_errc::not_found))
          spdlog::error("event=session_restore_failed session={} error=\"{}\"", id,
                        self->system().render(err));
      });
}

/// The answer to a request for a session that is being restored.
caf::error restoring_error(const std::string& id) {
  return hub_error(hub_errc::unavailable, "session_restarting",
                   "session '" + id + "' is restarting; retry");
}

caf::actor* find(session_registry_actor* self, const std::string& id) {
  auto& ss = self->state.sessions;
  auto it = ss.find(id);
  if (it == ss.end())
    return nullptr;
  ++it->second.forwarded;
  return &it->second.session;
}

/// PUT on an unknown id: validate, then create the session at the log's head (or its start).
void create(session_registry_actor* self, const session_request_ptr& req) {
  auto& st = self->state;
  session_limits limits{st.settings.max_topics};
  auto parsed = parse_session_settings(req->body, session_settings{}, limits);
  if (auto* err = std::get_if<std::string>(&parsed))
    return req->done(request_reply::failed(hub_errc::invalid_request, "invalid_session", *err));
  if (st.sessions.size() >= st.settings.max_sessions)
    return req->done(request_reply::failed(hub_errc::conflict, "session_limit",
                                     "the hub holds its maximum of "
                                       + std::to_string(st.settings.max_sessions) + " sessions"));
  session_record rec;
  rec.settings = std::move(std::get<session_settings>(parsed));
  rec.created_ms = rec.last_seen_ms = wall_ms();
  auto start = req->body.value("start", std::string{"head"});
  rec.delivered_through = rec.ack_through = start == "earliest" ? 0 : st.log->head();
  if (req->who != nullptr && req->who->authenticated()) {
    rec.owner = req->who->sub;
    rec.viewer = *req->who;
  }
  spawn_session(self, stored_session{req->id, std::move(rec), {}, 0}, true);
  self->send(*find(self, req->id), session_atom::value, req);
}

/// A linked session exited. One still in the map crashed: start it again from storage.
void on_exit(session_registry_actor* self, const caf::exit_msg& em) {
  auto& ss = self->state.sessions;
  for (auto it = ss.begin(); it != ss.end(); ++it) {
    if (it->second.session.address() != em.source)
      continue;
    auto id = it->first;
    ss.erase(it);
    spdlog::error("event=session_crashed session={} reason=\"{}\"", id,
                  self->system().render(em.reason));
    restore(self, id);
    return;
  }
  if (em.reason)
    self->quit(em.reason);
}

/// Shutdown: every session writes its cursors; answered when all are on disk.
caf::result<bool> checkpoint_all(session_registry_actor* self) {
  auto rp = self->make_response_promise<bool>();
  auto& ss = self->state.sessions;
  if (ss.empty()) {
    rp.deliver(true);
    return rp;
  }
  auto left = std::make_shared<std::size_t>(ss.size());
  auto one_done = [rp, left]() mutable {
    if (--*left == 0)
      rp.deliver(true);
  };
  for (auto& [id, e] : ss)
    self->request(e.session, caf::infinite, checkpoint_atom::value)
      .then([one_done](bool) mutable { one_done(); },
            [one_done](caf::error&) mutable { one_done(); });
  return rp;
}

} // namespace

caf::behavior session_registry(session_registry_actor* self, std::vector<stored_session> loaded,
                               std::shared_ptr<const event_log> log, session_deps deps,
                               session_registry_settings settings) {
  auto& st = self->state;
  st.log = std::move(log);
  st.deps = std::move(deps);
  st.deps.registry = caf::actor_cast<caf::actor>(self);
  st.settings = settings;
  for (auto& s : loaded)
    spawn_session(self, std::move(s), false);
  if (!st.sessions.empty())
    spdlog::info("event=sessions_loaded sessions={}", st.sessions.size());
  self->set_exit_handler([=](const caf::exit_msg& em) { on_exit(self, em); });
  return {
    [=](session_atom, const session_request_ptr& req) {
      if (auto* s = find(self, req->id))
        return self->send(*s, session_atom::value, req);
      if (self->state.restoring.count(req->id) > 0)
        return req->done(request_reply::failed(restoring_error(req->id)));
      if (req->what == session_request::op::put)
        return create(self, req);
      req->done(request_reply::failed(hub_errc::not_found, "session_not_found", "no session '" + req->id + "'"));
    },
    [=](connect_atom, const std::string& id, const queue_ptr& queue,
        const std::optional<event_id>& resume, const principal_ptr& who)
      -> caf::result<caf::message> {
      if (auto* s = find(self, id))
        return self->delegate(*s, connect_atom::value, queue, resume, who);
      if (self->state.restoring.count(id) > 0)
        return restoring_error(id);
      return hub_error(hub_errc::not_found, "session_not_found", "no session '" + id + "'");
    },
    [=](patterns_atom, const std::string& id) -> caf::result<caf::message> {
      if (auto* s = find(self, id))
        return self->delegate(*s, patterns_atom::value);
      if (self->state.restoring.count(id) > 0)
        return restoring_error(id);
      return hub_error(hub_errc::not_found, "session_not_found", "no session '" + id + "'");
    },
    [=](idle_atom, const std::string& id, std::uint64_t requests_seen) {
      auto& ss = self->state.sessions;
      auto it = ss.find(id);
      auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
      if (it == ss.end() || it->second.session.address() != sender)
        return;
      if (it->second.forwarded != requests_seen) {
        self->send(it->second.session, idle_atom::value, false);
        return;
      }
      auto s = it->second.session;
      ss.erase(it);
      self->unlink_from(s);
      self->send_exit(s, caf::exit_reason::user_shutdown);
    },
    [=](session_sync_atom, const session_write_ptr& w) {
      // Cluster mode, from the tail: another node changed this session, and the local store has
      // the change already. A live session folds it in; otherwise the session is read from the
      // store (a session created through another node starts here this way).
      if (auto* s = find(self, w->id))
        return self->send(*s, session_sync_atom::value, w);
      if (w->erase || self->state.restoring.count(w->id) > 0)
        return;
      restore(self, w->id);
    },
    [=](checkpoint_atom) { return checkpoint_all(self); },
  };
}

} // namespace herald

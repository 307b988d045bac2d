// The HTTP requests a session answers (see actors/session.cpp for the stream and timer parts).

#include <nlohmann/json.hpp>

#include "actors/session.hpp"
#include "actors/session_parts.hpp"
#include "storage/event_id.hpp"
#include "storage/wall_clock.hpp"

namespace herald::session_parts {
namespace {

std::optional<std::uint64_t> parse_position(const session_state& st, const json& v,
                                            std::string& err) {
  if (!v.is_string()) {
    err = "event ids must be strings";
    return std::nullopt;
  }
  auto id = parse_event_id(v.get_ref<const std::string&>());
  if (!id) {
    err = "'" + v.get<std::string>().substr(0, 64) + "' is not a valid event id";
    return std::nullopt;
  }
  if (st.deps.log)
    id = st.deps.log->resolve(*id);
  if (id->epoch != st.deps.epoch) {
    err = "'" + v.get<std::string>() + "' is from another log";
    return std::nullopt;
  }
  return id->pos;
}

} // namespace

void handle_ack(session_actor* self, const session_request_ptr& req) {
  auto& st = self->state;
  auto& body = req->body;
  std::string err;
  std::vector<std::uint64_t> ids;
  std::optional<std::uint64_t> through;
  // Anything at or below what this session was sent may be acknowledged.
  auto sent = std::max(st.rec.ack_through, std::max(delivered_through(st), st.sent_through));
  auto bad = [&](hub_errc kind, const char* code, const std::string& msg) {
    req->done(request_reply::failed(kind, code, msg));
  };
  if (auto it = body.find("ids"); it != body.end()) {
    if (!it->is_array() || it->size() > 10000)
      return bad(hub_errc::invalid_request, "invalid_body", "'ids' must be an array of at most 10000 event ids");
    for (auto& v : *it) {
      auto pos = parse_position(st, v, err);
      if (!pos)
        return bad(hub_errc::invalid_request, "invalid_id", err);
      if (*pos == 0 || *pos > sent)
        return bad(hub_errc::conflict, "not_delivered", "event " + v.get<std::string>()
                                           + " was never delivered to this session");
      ids.push_back(*pos);
    }
  }
  if (auto it = body.find("through"); it != body.end()) {
    auto pos = parse_position(st, *it, err);
    if (!pos)
      return bad(hub_errc::invalid_request, "invalid_id", err);
    if (*pos > sent)
      return bad(hub_errc::conflict, "not_delivered", "'through' is beyond what this session was sent");
    through = pos;
  }
  // Individual ids that are not pending may be dead letters (a late ack removes them).
  std::vector<std::uint64_t> not_pending;
  for (auto pos : ids)
    if (st.pending.count(pos) == 0)
      not_pending.push_back(pos);
  auto apply = [=](const std::vector<dead_letter_record>& dead) {
    auto& st = self->state;
    session_write w;
    std::size_t acked = 0;
    auto ack_one = [&](std::map<std::uint64_t, pending_ack>::iterator it) {
      w.del_pending.push_back(it->first);
      erase_pending(st, it);
      ++acked;
    };
    for (auto pos : ids)
      if (auto it = st.pending.find(pos); it != st.pending.end())
        ack_one(it);
    if (through)
      while (!st.pending.empty() && st.pending.begin()->first <= *through)
        ack_one(st.pending.begin());
    for (auto& d : dead) {
      w.del_dead.push_back(d.pos);
      --st.dead_letters;
      --st.deps.stats->dead_letters;
    }
    st.show();
    auto ignored = ids.size() - std::min(ids.size(), acked + dead.size());
    auto pending = st.pending.size();
    auto removed = dead.size();
    persist(self, std::move(w), [req, acked, removed, ignored, pending](const caf::error& failure) {
      if (failure)
        return req->done(not_stored("the acknowledgement", failure));
      req->done(request_reply::ok(json{{"acked", acked},
                                       {"dead_letters_removed", removed},
                                       {"ignored", ignored},
                                       {"pending", pending}}));
    });
    if (st.paused && st.pending.size() < st.rec.settings.max_pending) {
      st.paused = false; // flow control: room again
      pump(self);
    }
  };
  if (not_pending.empty())
    return apply({});
  self->request(st.deps.reader, caf::infinite, dead_atom::value, st.id, not_pending)
    .await(apply, [req](caf::error&) {
      req->done(request_reply::failed(hub_errc::storage_failure, "storage_failure", "dead letters could not be read"));
    });
}

void handle_dead_letters(session_actor* self, const session_request_ptr& req) {
  auto& st = self->state;
  auto epoch = st.deps.epoch;
  auto limit = req->limit;
  auto reader = st.deps.reader;
  self->request(st.deps.reader, caf::infinite, dead_atom::value, st.id, req->after,
                static_cast<std::uint64_t>(limit + 1))
    .then(
      [=](std::vector<dead_letter_record> dead) {
        bool more = dead.size() > limit;
        dead.resize(std::min(dead.size(), limit));
        std::vector<std::uint64_t> positions;
        for (auto& d : dead)
          positions.push_back(d.pos);
        self->request(reader, caf::infinite, fetch_atom::value, positions)
          .then(
            [=](const std::vector<event_record>& events) {
              std::map<std::uint64_t, const event_record*> found;
              for (auto& e : events)
                found.emplace(e.pos, &e);
              json items = json::array();
              for (auto& d : dead) {
                json item{{"id", format_event_id(epoch, d.pos)},
                          {"deliveries", d.deliveries},
                          {"reason", d.reason},
                          {"time", iso_time(d.time_ms)},
                          {"event", nullptr}};
                if (auto it = found.find(d.pos); it != found.end()) {
                  auto& e = *it->second;
                  item["event"] = json{{"topic", e.topic},
                                       {"type", e.type.empty() ? json(nullptr) : json(e.type)},
                                       {"data", json::parse(e.data, nullptr, false)}};
                }
                items.push_back(std::move(item));
              }
              json out{{"dead_letters", std::move(items)}, {"more", more}};
              if (!dead.empty())
                out["next_after"] = format_event_id(epoch, dead.back().pos);
              req->done(request_reply::ok(std::move(out)));
            },
            [req](caf::error&) {
              req->done(request_reply::failed(hub_errc::storage_failure, "storage_failure", "events could not be read"));
            });
      },
      [req](caf::error&) {
        req->done(request_reply::failed(hub_errc::storage_failure, "storage_failure", "dead letters could not be read"));
      });
}

void handle_redrive(session_actor* self, const session_request_ptr& req) {
  auto& st = self->state;
  auto& body = req->body;
  std::string err;
  std::vector<std::uint64_t> ids;
  bool all = false;
  if (auto it = body.find("all"); it != body.end()) {
    if (!it->is_boolean())
      return req->done(request_reply::failed(hub_errc::invalid_request, "invalid_body", "'all' must be a boolean"));
    all = it->get<bool>();
  }
  if (auto it = body.find("ids"); it != body.end()) {
    if (!it->is_array() || it->size() > 1000)
      return req->done(request_reply::failed(hub_errc::invalid_request, "invalid_body", "'ids' must be an array of at most 1000 ids"));
    for (auto& v : *it) {
      auto pos = parse_position(st, v, err);
      if (!pos)
        return req->done(request_reply::failed(hub_errc::invalid_request, "invalid_id", err));
      ids.push_back(*pos);
    }
  }
  if (all == !ids.empty())
    return req->done(request_reply::failed(hub_errc::invalid_request, "invalid_body", "give either 'ids' or \"all\": true"));
  auto apply = [=](const std::vector<dead_letter_record>& dead) {
    auto& st = self->state;
    session_write w;
    auto now = self->clock().now();
    for (auto& d : dead) {
      // Back to pending with a fresh delivery count: redelivered now (or on reconnect).
      w.del_dead.push_back(d.pos);
      w.put_pending.push_back({d.pos, 0});
      --st.dead_letters;
      --st.deps.stats->dead_letters;
      add_pending(st, d.pos, 0, now); // shows the session
    }
    auto redriven = dead.size();
    auto remaining = st.dead_letters;
    persist(self, std::move(w), [req, redriven, remaining](const caf::error& failure) {
      if (failure)
        return req->done(not_stored("the redrive", failure));
      req->done(request_reply::ok(json{{"redriven", redriven}, {"dead_letters", remaining}}));
    });
    rearm(self);
  };
  auto fail = [req](caf::error&) {
    req->done(request_reply::failed(hub_errc::storage_failure, "storage_failure", "dead letters could not be read"));
  };
  if (all)
    self->request(st.deps.reader, caf::infinite, dead_atom::value, st.id, std::uint64_t{0},
                  std::uint64_t{1000})
      .await(apply, fail);
  else
    self->request(st.deps.reader, caf::infinite, dead_atom::value, st.id, ids).await(apply, fail);
}

void handle_put(session_actor* self, const session_request_ptr& req) {
  auto& st = self->state;
  session_limits limits; // topic count was checked at the boundary
  limits.max_topics = SIZE_MAX;
  auto parsed = parse_session_settings(req->body, st.rec.settings, limits);
  if (auto* err = std::get_if<std::string>(&parsed))
    return req->done(request_reply::failed(hub_errc::invalid_request, "invalid_session", *err));
  auto& next = std::get<session_settings>(parsed);
  // The record is written with the new settings; they take effect once it is stored. A refused
  // write changes nothing: the settings go back to what is stored.
  auto before = st.rec;
  bool topics_changed = next.topics != st.rec.settings.topics;
  st.rec.settings = next;
  // Stamped, so that every node keeps the settings set last (cluster mode: newer_settings).
  st.rec.settings_ms = std::max(wall_ms(), before.settings_ms + 1);
  st.rec.settings_origin = st.deps.origin;
  auto stamp = st.rec.settings_ms;
  if (!st.stream)
    st.rec.last_seen_ms = wall_ms(); // an update counts as a sign of life
  bool owner = req->who->authenticated() && req->who->sub == st.rec.owner;
  if (owner) // the owner's current token decides what the session may receive from now on
    st.rec.viewer = *req->who;
  auto created = st.fresh;
  st.fresh = false;
  persist(self, {}, [self, req, created, before, topics_changed, owner, stamp,
                     write = st.writes_sent + 1](const caf::error& failure) {
    auto& st = self->state;
    if (failure) {
      if (created) {
        // Nothing of it was stored, so it does not exist: the registry lets it stop.
        st.deleted = true;
        self->send(st.deps.registry, idle_atom::value, st.id, st.requests_seen);
      } else if (write == st.writes_sent && st.rec.settings_ms == stamp
                 && st.rec.settings_origin == st.deps.origin) {
        // No later write carries these settings, and no other node's settings were adopted
        // since (cluster mode): what is stored is what was before.
        st.rec.settings = before.settings;
        st.rec.viewer = before.viewer;
        st.rec.settings_ms = before.settings_ms;
        st.rec.settings_origin = before.settings_origin;
        st.rec.last_seen_ms = before.last_seen_ms;
      }
      return req->done(not_stored("the session", failure));
    }
    if (owner || topics_changed)
      st.filter = session_filter(st.rec);
    if (topics_changed) {
      // The attached stream follows the old topics: end it; the client reconnects to the new.
      end_stream(self, close_reason::session_replaced,
                 {stream_item::make_notice("herald.session_changed", "{\"reason\":\"topics\"}"),
                  stream_item::make_retry(st.deps.retry_ms)});
      self->send(st.deps.dispatcher, detach_atom::value);
    }
    if (st.paused && st.pending.size() < st.rec.settings.max_pending) {
      st.paused = false;
      pump(self);
    }
    req->done(created ? request_reply::created(session_view(st))
                      : request_reply::ok(session_view(st)));
  });
  rearm(self);
}

/// Deletes the session's stored state, then asks the registry to let it stop.

} // namespace herald::session_parts

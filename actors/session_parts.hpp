#pragma once
// The parts of the session actor (actors/session.hpp) shared by its two files: session.cpp (the
// stream, redeliveries, the timer) and session_requests.cpp (the HTTP requests it answers).
// Internal to the session actor; everything runs on the session's own thread.

#include <functional>
#include <map>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/session.hpp"

namespace herald::session_parts {

using json = nlohmann::json;
using time_point = caf::actor_clock::time_point;

caf::timespan ack_wait(const session_state& st);

/// Pending entries and their deadlines change together.
void erase_pending(session_state& st, std::map<std::uint64_t, pending_ack>::iterator it);
void add_pending(session_state& st, std::uint64_t pos, std::uint32_t deliveries, time_point due);

/// The session's delivered cursor now: what its current stream's socket has taken.
std::uint64_t delivered_through(const session_state& st);

/// A write of the session's record (with its cursors as of now) plus `w`'s other changes;
/// `then` gets the journal's error when it was not stored (none when it was).
void persist(session_actor* self, session_write w,
             std::function<void(const caf::error& failure)> then = nullptr);

/// The answer to a request whose change (`what`, "the acknowledgement") was not stored: the
/// journal's kind and code (storage_failure, or cluster_unavailable), and its reason.
request_reply not_stored(std::string_view what, const caf::error& failure);

/// Arms the timer for the next thing due: an ack wait, a checkpoint, or the expiry.
void rearm(session_actor* self);

/// Does the next thing the stream needs: redeliveries first, then catch-up reads.
void pump(session_actor* self);

/// Ends the attached stream (if any) with `final_frames`, keeping how far it got.
void end_stream(session_actor* self, close_reason why, std::vector<item_ptr> final_items);

// -- requests (session_requests.cpp) ----------------------------------------------------------

void handle_ack(session_actor* self, const session_request_ptr& req);
void handle_dead_letters(session_actor* self, const session_request_ptr& req);
void handle_redrive(session_actor* self, const session_request_ptr& req);
void handle_put(session_actor* self, const session_request_ptr& req);

/// The session's filter: its topics, and its viewer for events with access rules.
filter_ptr session_filter(const session_record& rec);

/// The refusal of a request on a session that belongs to another subject.
caf::error not_yours(const std::string& id);

} // namespace herald::session_parts

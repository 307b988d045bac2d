#pragma once
// Server-Sent Events: how a stream item looks on the wire. Each item's SSE frame is built once
// and shared by every SSE subscriber (stream_item::frame).
//
//   event:     "id: <id>\n[event: <type>\n]data: <data>\n\n"   (data: one line of compact JSON)
//   notice:    "event: <type>\ndata: <data>\n\n"                (no id: Last-Event-ID stays)
//   retry:     "retry: <ms>\n\n"
//   heartbeat: ": heartbeat\n\n"                                (a comment; ignored by clients)
//
// The envelope form (`?envelope=1`) carries the topic and type in the data of an event (and no
// event: line, so that EventSource delivers every event to onmessage):
//   event:     "id: <id>\ndata: {"topic":T,["type":Y,]"data":<data>}\n\n"

#include <string>
#include <string_view>

#include "delivery/item.hpp"

namespace herald {

/// `item`'s SSE frame (built on first use, then shared).
const std::string& sse_frame(const stream_item& item);

/// Renders `item` as SSE (what sse_frame caches).
std::string render_sse(const stream_item& item);

/// `item`'s SSE frame in the envelope form (built on first use, then shared).
const std::string& sse_envelope_frame(const stream_item& item);

/// Renders `item` as SSE in the envelope form (what sse_envelope_frame caches).
std::string render_sse_envelope(const stream_item& item);

// Mercure updates (storage/mercure.hpp) on /.well-known/mercure:
//   "id: <id>\n[event: <type>\n][retry: <ms>\n]data: <line 1>\n[data: <line 2>\n...]\n"
// The id is the one its publisher gave, else the hub's (mercure_event_id). Each line of the data
// (split at CRLF, CR or LF, as EventSource splits them) is one data: line, unchanged otherwise:
// leading spaces and empty lines are kept. Notices, retry hints and heartbeats as in plain SSE.

/// The id a Mercure subscriber sees for Herald event id `herald_id` ("urn:herald:<id>"): an IRI,
/// usable as Last-Event-ID.
std::string mercure_event_id(std::string_view herald_id);

/// The prefix of the hub's own Mercure ids (a publisher's id may not start with it).
inline constexpr std::string_view mercure_id_prefix = "urn:herald:";

/// `item`'s Mercure SSE frame (built on first use, then shared).
const std::string& sse_mercure_frame(const stream_item& item);

/// Renders `item` as a Mercure SSE frame (what sse_mercure_frame caches).
std::string render_sse_mercure(const stream_item& item);

} // namespace herald

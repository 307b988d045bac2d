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

} // namespace herald

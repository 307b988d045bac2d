#pragma once
// Server-Sent Events: how a stream item looks on the wire. Each item's SSE frame is built once
// and shared by every SSE subscriber (stream_item::frame).
//
//   event:     "id: <id>\n[event: <type>\n]data: <data>\n\n"   (data: one line of compact JSON)
//   notice:    "event: <type>\ndata: <data>\n\n"                (no id: Last-Event-ID stays)
//   retry:     "retry: <ms>\n\n"
//   heartbeat: ": heartbeat\n\n"                                (a comment; ignored by clients)

#include <string>

#include "delivery/item.hpp"

namespace herald {

/// `item`'s SSE frame (built on first use, then shared).
const std::string& sse_frame(const stream_item& item);

/// Renders `item` as SSE (what sse_frame caches).
std::string render_sse(const stream_item& item);

} // namespace herald

#pragma once
// SSE wire frames. Each event is serialized once into a shared immutable buffer that every
// subscriber's queue references.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

using frame_ptr = std::shared_ptr<const std::string>;

/// "id: <id>\n[event: <type>\n]data: <data>\n\n"; `data` is one line of compact JSON.
frame_ptr make_event_frame(std::string_view id, std::string_view type, std::string_view data);

/// A hub event (type `herald.*`) without an id, so the client's Last-Event-ID is unchanged.
frame_ptr make_hub_frame(std::string_view type, std::string_view data_json);

/// "retry: <ms>\n\n"
frame_ptr make_retry_frame(std::uint64_t ms);

/// ": <text>\n\n" (heartbeat; ignored by clients)
frame_ptr make_comment_frame(std::string_view text);

/// A retry delay spread over [base, base + jitter) so that clients told to reconnect at the same
/// moment (shutdown, max age) do not all come back at once.
std::uint64_t jittered_retry_ms(std::uint64_t base, std::uint64_t jitter);

/// The end of a stream at shutdown: a herald.shutdown notice, then `retry: <retry_ms>`.
std::vector<frame_ptr> shutdown_frames(std::uint64_t retry_ms);

} // namespace herald

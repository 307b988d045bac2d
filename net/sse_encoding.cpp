#include "net/sse_encoding.hpp"

#include "net/http_responses.hpp"

namespace herald {

std::string render_sse(const stream_item& item) {
  std::string f;
  switch (item.kind) {
    case item_kind::event:
      f.reserve(item.id.size() + item.type.size() + item.data.size() + 24);
      f.append("id: ").append(item.id).push_back('\n');
      if (!item.type.empty())
        f.append("event: ").append(item.type).push_back('\n');
      f.append("data: ").append(item.data).append("\n\n");
      return f;
    case item_kind::notice:
      f.append("event: ").append(item.type).append("\ndata: ").append(item.data).append("\n\n");
      return f;
    case item_kind::retry:
      return "retry: " + std::to_string(item.retry_ms) + "\n\n";
    case item_kind::heartbeat:
      return ": heartbeat\n\n";
  }
  return f;
}

const std::string& sse_frame(const stream_item& item) {
  return item.frame(encoding::sse, render_sse);
}

std::string render_sse_envelope(const stream_item& item) {
  if (item.kind != item_kind::event)
    return render_sse(item);
  std::string f;
  f.reserve(item.id.size() + 2 * item.type.size() + item.topic.size() + item.data.size() + 64);
  // No event: line: the type is in the data, so every event reaches an EventSource's onmessage.
  f.append("id: ").append(item.id).append("\ndata: {\"topic\":").append(json_string(item.topic));
  if (!item.type.empty())
    f.append(",\"type\":").append(json_string(item.type));
  f.append(",\"data\":").append(item.data).append("}\n\n");
  return f;
}

const std::string& sse_envelope_frame(const stream_item& item) {
  return item.frame(encoding::sse_envelope, render_sse_envelope);
}

} // namespace herald

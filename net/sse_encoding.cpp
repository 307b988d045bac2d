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

std::string mercure_event_id(std::string_view herald_id) {
  std::string out{mercure_id_prefix};
  return out.append(herald_id);
}

std::string render_sse_mercure(const stream_item& item) {
  if (item.kind != item_kind::event)
    return render_sse(item);
  std::string f;
  f.reserve(item.size_hint() + mercure_id_prefix.size());
  f.append("id: ");
  if (item.mercure && !item.mercure->id.empty())
    f.append(item.mercure->id);
  else
    f.append(mercure_id_prefix).append(item.id);
  f.push_back('\n');
  if (!item.type.empty())
    f.append("event: ").append(item.type).push_back('\n');
  if (item.mercure && item.mercure->retry_ms > 0)
    f.append("retry: ").append(std::to_string(item.mercure->retry_ms)).push_back('\n');
  std::string_view rest{item.data};
  for (;;) {
    auto eol = rest.find_first_of("\r\n");
    f.append("data: ").append(rest.substr(0, eol)).push_back('\n');
    if (eol == std::string_view::npos)
      break;
    // CRLF is one line break; a lone CR or LF is one too.
    auto next = eol + 1;
    if (rest[eol] == '\r' && next < rest.size() && rest[next] == '\n')
      ++next;
    rest.remove_prefix(next);
  }
  f.push_back('\n');
  return f;
}

const std::string& sse_mercure_frame(const stream_item& item) {
  return item.frame(encoding::sse_mercure, render_sse_mercure);
}

} // namespace herald

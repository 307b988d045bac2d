#include "net/sse_frame.hpp"

#include <random>

namespace herald {

frame_ptr make_event_frame(std::string_view id, std::string_view type, std::string_view data) {
  std::string f;
  f.reserve(id.size() + type.size() + data.size() + 24);
  f.append("id: ").append(id).push_back('\n');
  if (!type.empty())
    f.append("event: ").append(type).push_back('\n');
  f.append("data: ").append(data).append("\n\n");
  return std::make_shared<const std::string>(std::move(f));
}

frame_ptr make_hub_frame(std::string_view type, std::string_view data_json) {
  std::string f;
  f.append("event: ").append(type).append("\ndata: ").append(data_json).append("\n\n");
  return std::make_shared<const std::string>(std::move(f));
}

frame_ptr make_retry_frame(std::uint64_t ms) {
  return std::make_shared<const std::string>("retry: " + std::to_string(ms) + "\n\n");
}

std::uint64_t jittered_retry_ms(std::uint64_t base, std::uint64_t jitter) {
  static thread_local std::minstd_rand rng{std::random_device{}()};
  return base + (jitter ? rng() % jitter : 0);
}

std::vector<frame_ptr> shutdown_frames(std::uint64_t retry_ms) {
  return {make_hub_frame("herald.shutdown", "{\"reason\":\"shutdown\",\"retry_ms\":"
                                              + std::to_string(retry_ms) + "}"),
          make_retry_frame(retry_ms)};
}

frame_ptr make_comment_frame(std::string_view text) {
  std::string f{": "};
  f.append(text).append("\n\n");
  return std::make_shared<const std::string>(std::move(f));
}

} // namespace herald

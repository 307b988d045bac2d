#include "delivery/item.hpp"

#include <algorithm>
#include <random>

namespace herald {
namespace {

std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(encoding::count)> built_count{};

} // namespace

const std::string& stream_item::frame(encoding e, render_fn render) const {
  auto i = static_cast<std::size_t>(e);
  std::call_once(built_[i], [&] {
    frames_[i] = render(*this);
    built_count[i].fetch_add(1, std::memory_order_relaxed);
  });
  return frames_[i];
}

std::uint64_t stream_item::frames_built(encoding e) {
  return built_count[static_cast<std::size_t>(e)].load(std::memory_order_relaxed);
}

void stream_item::compute_size_hint() {
  // Field names and separators of the longest encoding (SSE) are under 32 bytes.
  size_hint_ = id.size() + type.size() + data.size() + 32;
  if (mercure) // its own id, and a "data: " per line
    size_hint_ += mercure->id.size() + 6 * static_cast<std::size_t>(
                                             std::count(data.begin(), data.end(), '\n'));
}

item_ptr stream_item::make_event(std::uint64_t pos, std::string id, std::string topic,
                                 std::string type, std::string data, bool ack,
                                 event_access access, mercure_fields_ptr mercure,
                                 std::int64_t committed_ns) {
  auto it = std::make_shared<stream_item>();
  it->kind = item_kind::event;
  it->pos = pos;
  it->id = std::move(id);
  it->topic = std::move(topic);
  it->type = std::move(type);
  it->data = std::move(data);
  it->ack = ack;
  it->access = std::move(access);
  it->mercure = std::move(mercure);
  it->committed_ns = committed_ns;
  it->compute_size_hint();
  return it;
}

item_ptr stream_item::make_notice(std::string type, std::string data_json) {
  auto it = std::make_shared<stream_item>();
  it->kind = item_kind::notice;
  it->type = std::move(type);
  it->data = std::move(data_json);
  it->compute_size_hint();
  return it;
}

item_ptr stream_item::make_retry(std::uint64_t ms) {
  auto it = std::make_shared<stream_item>();
  it->kind = item_kind::retry;
  it->retry_ms = ms;
  it->compute_size_hint();
  return it;
}

item_ptr stream_item::make_heartbeat() {
  auto it = std::make_shared<stream_item>();
  it->kind = item_kind::heartbeat;
  it->compute_size_hint();
  return it;
}

std::uint64_t jittered_retry_ms(std::uint64_t base, std::uint64_t jitter) {
  static thread_local std::minstd_rand rng{std::random_device{}()};
  return base + (jitter ? rng() % jitter : 0);
}

std::vector<item_ptr> shutdown_items(std::uint64_t retry_ms) {
  return {stream_item::make_notice("herald.shutdown", "{\"reason\":\"shutdown\",\"retry_ms\":"
                                                         + std::to_string(retry_ms) + "}"),
          stream_item::make_retry(retry_ms)};
}

} // namespace herald

#include "net/mercure_subscriptions.hpp"

#include <random>

#include "net/http_responses.hpp"
#include "uri/uri.hpp"

namespace herald {

std::string mercure_subscription::id() const {
  return "/.well-known/mercure/subscriptions/" + uri::percent_encode(topic) + "/"
         + uri::percent_encode(subscriber);
}

std::string mercure_subscription::json(bool active, bool context,
                                       const std::string& last_event_id) const {
  std::string out = "{";
  if (context)
    out += "\"@context\":\"https://mercure.rocks/\",";
  out += "\"id\":" + json_string(id()) + ",\"type\":\"Subscription\",\"subscriber\":"
         + json_string(subscriber) + ",\"topic\":" + json_string(topic)
         + ",\"active\":" + (active ? "true" : "false");
  if (!payload.empty())
    out += ",\"payload\":" + payload;
  if (!last_event_id.empty())
    out += ",\"lastEventID\":" + json_string(last_event_id);
  return out + "}";
}

void mercure_subscriptions::add(const std::vector<mercure_subscription>& subs) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& s : subs) {
    by_topic_[{s.topic, s.subscriber}] = s;
    topics_of_[s.subscriber].push_back(s.topic);
  }
}

void mercure_subscriptions::remove(const std::string& subscriber) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto it = topics_of_.find(subscriber);
  if (it == topics_of_.end())
    return;
  for (auto& topic : it->second)
    by_topic_.erase({topic, subscriber});
  topics_of_.erase(it);
}

std::vector<mercure_subscription> mercure_subscriptions::list(const std::string& topic,
                                                              const std::string& subscriber) const {
  std::vector<mercure_subscription> out;
  std::lock_guard<std::mutex> guard{mtx_};
  if (topic.empty()) {
    for (auto& [k, s] : by_topic_)
      out.push_back(s);
  } else if (subscriber.empty()) {
    for (auto it = by_topic_.lower_bound({topic, {}}); it != by_topic_.end() && it->first.first == topic;
         ++it)
      out.push_back(it->second);
  } else if (auto it = by_topic_.find({topic, subscriber}); it != by_topic_.end()) {
    out.push_back(it->second);
  }
  return out;
}

std::size_t mercure_subscriptions::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return by_topic_.size();
}

std::string random_subscriber_id() {
  static thread_local std::mt19937_64 rng{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64{seq};
  }()};
  auto hi = rng();
  auto lo = rng();
  hi = (hi & ~std::uint64_t{0xf000}) | 0x4000;                  // version 4
  lo = (lo & ~(std::uint64_t{0xc} << 60)) | (std::uint64_t{0x8} << 60); // variant 10
  char buf[64];
  std::snprintf(buf, sizeof(buf), "urn:uuid:%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xffff),
                static_cast<unsigned long long>(hi & 0xffff),
                static_cast<unsigned long long>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

} // namespace herald

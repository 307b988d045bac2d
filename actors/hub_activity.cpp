#include "actors/hub_activity.hpp"

#include <algorithm>
#include <utility>

namespace herald {

void hub_activity::count_locked(const std::string& topic) {
  if (auto it = topics_.find(topic); it != topics_.end()) {
    ++it->second;
    return;
  }
  if (topics_.size() >= max_topics_) {
    ++other_topics_;
    return;
  }
  topics_.emplace(topic, 1);
}

topic_window hub_activity::take_topics(std::size_t top) {
  std::unordered_map<std::string, std::uint64_t> counted;
  topic_window out;
  {
    std::lock_guard<std::mutex> guard{topics_mtx_};
    counted.swap(topics_);
    out.other = std::exchange(other_topics_, 0);
  }
  out.counts.assign(counted.begin(), counted.end());
  auto busier = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  auto shown = std::min(top, out.counts.size());
  std::partial_sort(out.counts.begin(), out.counts.begin() + static_cast<std::ptrdiff_t>(shown),
                    out.counts.end(), busier);
  for (auto i = shown; i < out.counts.size(); ++i)
    out.other += out.counts[i].second;
  out.counts.resize(shown);
  return out;
}

session_gauge_ptr hub_activity::enlist_session(std::string id) {
  auto* g = new session_gauge;
  g->id = std::move(id);
  {
    std::lock_guard<std::mutex> guard{sessions_mtx_};
    sessions_.insert(g);
  }
  // The board outlives every session (both belong to the hub; actors stop before it goes).
  return session_gauge_ptr{g, [this](session_gauge* dead) {
                             {
                               std::lock_guard<std::mutex> guard{sessions_mtx_};
                               sessions_.erase(dead);
                             }
                             delete dead;
                           }};
}

std::vector<session_figures> hub_activity::sessions(std::size_t top) const {
  std::vector<session_figures> out;
  {
    std::lock_guard<std::mutex> guard{sessions_mtx_};
    out.reserve(sessions_.size());
    for (auto* g : sessions_)
      out.push_back({g->id, g->pending.load(std::memory_order_relaxed),
                     g->dead_letters.load(std::memory_order_relaxed),
                     g->connected.load(std::memory_order_relaxed)});
  }
  auto heavier = [](const session_figures& a, const session_figures& b) {
    if (a.pending != b.pending)
      return a.pending > b.pending;
    if (a.dead_letters != b.dead_letters)
      return a.dead_letters > b.dead_letters;
    return a.id < b.id;
  };
  auto shown = std::min(top, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(shown), out.end(),
                    heavier);
  out.resize(shown);
  return out;
}

void hub_activity::job_changed(job_summary job) {
  std::lock_guard<std::mutex> guard{jobs_mtx_};
  auto id = job.id;
  jobs_[id] = std::move(job);
}

void hub_activity::job_gone(const std::string& id) {
  std::lock_guard<std::mutex> guard{jobs_mtx_};
  jobs_.erase(id);
}

std::vector<job_summary> hub_activity::jobs(std::size_t top) const {
  std::vector<job_summary> out;
  {
    std::lock_guard<std::mutex> guard{jobs_mtx_};
    out.reserve(jobs_.size());
    for (auto& [id, job] : jobs_)
      out.push_back(job);
  }
  auto running = [](const job_summary& j) { return j.state == "active" || j.state == "waiting"; };
  auto first = [&](const job_summary& a, const job_summary& b) {
    if (running(a) != running(b))
      return running(a);
    if (a.updated_ms != b.updated_ms)
      return a.updated_ms > b.updated_ms;
    return a.id < b.id;
  };
  auto shown = std::min(top, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(shown), out.end(),
                    first);
  out.resize(shown);
  return out;
}

} // namespace herald

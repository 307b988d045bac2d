#include "delivery/outbound_queue.hpp"

#include <algorithm>

namespace herald {

const char* to_string(close_reason r) {
  switch (r) {
    case close_reason::none: return "none";
    case close_reason::client_closed: return "client_closed";
    case close_reason::write_error: return "write_error";
    case close_reason::slow_consumer: return "slow_consumer";
    case close_reason::max_age: return "max_age";
    case close_reason::shutdown: return "shutdown";
    case close_reason::topic_lost: return "topic_lost";
    case close_reason::rejected: return "rejected";
    case close_reason::server_error: return "server_error";
    case close_reason::session_replaced: return "session_replaced";
    case close_reason::session_deleted: return "session_deleted";
    case close_reason::token_expired: return "token_expired";
    case close_reason::timed_out: return "timed_out";
    case close_reason::protocol_error: return "protocol_error";
  }
  return "unknown";
}

outbound_queue::outbound_queue(std::size_t max_bytes, wake_fn wake, byte_gauge gauge)
  : max_bytes_(max_bytes), wake_(std::move(wake)), gauge_(std::move(gauge)) {
  // nop
}

outbound_queue::~outbound_queue() {
  if (gauge_ != nullptr && in_gauge_ != 0)
    gauge_->fetch_sub(in_gauge_, std::memory_order_relaxed);
}

void outbound_queue::sync_gauge() {
  if (gauge_ == nullptr)
    return;
  auto now = mode_ == mode::closed ? 0 : static_cast<std::int64_t>(queued_bytes_);
  if (now != in_gauge_) {
    gauge_->fetch_add(now - in_gauge_, std::memory_order_relaxed);
    in_gauge_ = now;
  }
}

bool outbound_queue::enqueue(item_ptr f, bool is_event) {
  queued_bytes_ += f->size_hint();
  sync_gauge();
  queue_events_ += is_event ? 1 : 0;
  queue_.push_back(std::move(f));
  if (wake_pending_)
    return false;
  wake_pending_ = true;
  return true;
}

bool outbound_queue::overflow_close() {
  mode_ = mode::closed;
  reason_ = close_reason::slow_consumer;
  queue_.clear();
  queue_events_ = 0;
  held_.clear();
  held_bytes_ = 0;
  drained_ = nullptr;
  wake_pending_ = true;
  sync_gauge();
  return true;
}

void outbound_queue::accept(std::vector<item_ptr> preamble, std::uint64_t live_from) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (mode_ != mode::pending)
      return;
    mode_ = mode::replaying;
    if (live_from > held_since_)
      held_since_ = live_from;
    // Anything held at or before the start point is history: replay decides about it.
    held_.erase(std::remove_if(held_.begin(), held_.end(),
                               [&](const item_ptr& f) { return f->pos <= held_since_; }),
                held_.end());
    held_bytes_ = 0;
    for (auto& f : held_)
      held_bytes_ += f->size_hint();
    last_pos_ = 0;
    for (auto& f : preamble)
      wake |= enqueue(std::move(f), false);
  }
  if (wake)
    wake_();
}

bool outbound_queue::push_replay(const std::vector<item_ptr>& items,
                                 std::uint64_t scanned_through) {
  bool wake = false;
  bool done = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (mode_ != mode::replaying)
      return true; // closed meanwhile (or already live): nothing more to replay
    for (auto& it : items) {
      if (it->pos == 0) { // a hub notice (herald.gap): not a log event
        wake |= enqueue(it, false);
        continue;
      }
      if (it->pos <= last_pos_)
        continue;
      last_pos_ = it->pos;
      wake |= enqueue(it, true);
    }
    if (scanned_through >= held_since_) {
      for (auto& it : held_) {
        if (it->pos <= last_pos_)
          continue;
        last_pos_ = it->pos;
        wake |= enqueue(it, true);
      }
      std::vector<item_ptr>{}.swap(held_); // live from here on: nothing is held again
      held_bytes_ = 0;
      mode_ = mode::live;
      done = true;
      if (inflight_bytes_ > 0 && queued_bytes_ > max_bytes_)
        wake |= overflow_close();
    }
  }
  if (wake)
    wake_();
  return done;
}

bool outbound_queue::push_live_locked(const item_ptr& f) {
  auto pos = f->pos;
  switch (mode_) {
    case mode::pending:
    case mode::replaying:
      if (pos <= held_since_)
        return false; // replay covers it
      if (held_bytes_ + f->size_hint() > max_bytes_ && !held_.empty()) {
        // The hold overflowed: drop it; replay will read through this position instead.
        held_.clear();
        held_bytes_ = 0;
        held_since_ = pos;
        return false;
      }
      held_bytes_ += f->size_hint();
      held_.push_back(f);
      return false;
    case mode::live:
      if (pos <= last_pos_)
        return false;
      if (inflight_bytes_ > 0 && queued_bytes_ + f->size_hint() > max_bytes_)
        return overflow_close();
      last_pos_ = pos;
      return enqueue(f, true);
    default:
      return false;
  }
}

void outbound_queue::push_live(const item_ptr& f) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    wake = push_live_locked(f);
  }
  if (wake)
    wake_();
}

void outbound_queue::push_live(const std::vector<item_ptr>& events) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& ev : events)
      wake |= push_live_locked(ev);
  }
  if (wake)
    wake_();
}

void outbound_queue::push_control(item_ptr f) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    // A heartbeat behind queued data adds nothing; one on a stalled socket would only grow it.
    if ((mode_ != mode::live && mode_ != mode::replaying) || queued_bytes_ > 0)
      return;
    wake = enqueue(std::move(f), false);
  }
  if (wake)
    wake_();
}

void outbound_queue::push_notice(item_ptr f) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (mode_ != mode::live && mode_ != mode::replaying)
      return;
    wake = enqueue(std::move(f), false);
  }
  if (wake)
    wake_();
}

void outbound_queue::reject(caf::error why) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (mode_ != mode::pending)
      return;
    mode_ = mode::rejected;
    reason_ = close_reason::rejected;
    reject_error_ = std::move(why);
    held_.clear();
    held_bytes_ = 0;
    wake_pending_ = true;
  }
  wake_();
}

void outbound_queue::close_after_flush(close_reason why, std::vector<item_ptr> final_items) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (mode_ == mode::closing || mode_ == mode::closed || mode_ == mode::rejected)
      return;
    reason_ = why;
    if (mode_ == mode::pending) {
      mode_ = mode::closed;
      wake_pending_ = true;
      wake = true;
    } else {
      for (auto& f : final_items)
        wake |= enqueue(std::move(f), false);
      mode_ = mode::closing;
      held_.clear();
      held_bytes_ = 0;
      if (!wake && !wake_pending_) {
        wake_pending_ = true;
        wake = true;
      }
    }
  }
  if (wake)
    wake_();
}

void outbound_queue::notify_when_drained(std::function<void()> fn) {
  bool now = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (mode_ == mode::closed || mode_ == mode::rejected)
      return;
    if (queued_bytes_ <= max_bytes_ / 4)
      now = true;
    else
      drained_ = std::move(fn);
  }
  if (now)
    fn();
}

outbound_queue::take_result outbound_queue::take(std::vector<item_ptr>& out) {
  std::lock_guard<std::mutex> guard{mtx_};
  take_result res;
  wake_pending_ = false;
  switch (mode_) {
    case mode::rejected:
      res.kind = take_kind::reject;
      res.error = std::move(reject_error_);
      res.reason = reason_;
      mode_ = mode::closed;
      return res;
    case mode::closed:
      res.kind = take_kind::close;
      res.reason = reason_;
      return res;
    default:
      break;
  }
  if (queue_.empty()) {
    if (mode_ == mode::closing && queued_bytes_ == 0) {
      res.kind = take_kind::close;
      res.reason = reason_;
    }
    return res;
  }
  out.swap(queue_);
  queue_.clear();
  taken_through_ = last_pos_;
  for (auto& f : out)
    res.bytes += f->size_hint();
  inflight_bytes_ += res.bytes;
  res.kind = take_kind::items;
  res.events = queue_events_;
  queue_events_ = 0;
  return res;
}

void outbound_queue::written(std::size_t bytes) {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    queued_bytes_ = bytes > queued_bytes_ ? 0 : queued_bytes_ - bytes;
    inflight_bytes_ = bytes > inflight_bytes_ ? 0 : inflight_bytes_ - bytes;
    sync_gauge();
    written_through_ = taken_through_;
    if (drained_ && queued_bytes_ <= max_bytes_ / 4)
      fn.swap(drained_);
  }
  if (fn)
    fn();
}

void outbound_queue::mark_closed(close_reason why) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (mode_ != mode::closed) {
    mode_ = mode::closed;
    if (reason_ == close_reason::none || reason_ == close_reason::rejected)
      reason_ = why;
  }
  queue_.clear();
  queue_events_ = 0;
  held_.clear();
  held_bytes_ = 0;
  drained_ = nullptr;
  sync_gauge();
}

std::size_t outbound_queue::queued_bytes() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return queued_bytes_;
}

bool outbound_queue::live() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return mode_ == mode::live;
}

bool outbound_queue::closed() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return mode_ == mode::closed || mode_ == mode::closing || mode_ == mode::rejected;
}

bool outbound_queue::aborted() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return mode_ == mode::closed;
}

std::uint64_t outbound_queue::written_through() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return written_through_;
}

close_reason outbound_queue::reason() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return reason_;
}

} // namespace herald

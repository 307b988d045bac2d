#pragma once
// A failure that can repeat as fast as requests arrive (a full or failing disk, a cluster log
// that is down, no file descriptor left) is logged at most once per interval, saying how often
// it happened since the last line, so a client retrying in a loop cannot flood the log.

#include <chrono>
#include <cstdint>

namespace herald {

class log_throttle {
public:
  using clock = std::chrono::steady_clock;

  explicit log_throttle(clock::duration every = std::chrono::seconds(10)) : every_(every) {
    // nop
  }

  /// Counts one occurrence. Returns how many occurred since the last logged line, this one
  /// included, when this one is to be logged (the first ever, or `every` after the last), else 0.
  std::uint64_t admit(clock::time_point now = clock::now()) {
    ++unlogged_;
    if (logged_once_ && now - last_ < every_)
      return 0;
    logged_once_ = true;
    last_ = now;
    auto n = unlogged_;
    unlogged_ = 0;
    return n;
  }

private:
  clock::duration every_;
  clock::time_point last_{};
  bool logged_once_ = false;
  std::uint64_t unlogged_ = 0;
};

} // namespace herald

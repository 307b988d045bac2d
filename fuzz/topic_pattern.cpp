// The topic grammar: topic names, subscription patterns, event types; matching; and the grant
// check (a selector covers a pattern only if it matches every topic the pattern matches).
// Input: "pattern\ntopic\nselector".
#include "auth/principal.hpp"
#include "fuzz/fuzz_input.hpp"
#include "storage/topic_pattern.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto f = herald::fuzz::fields(herald::fuzz::text(data, size), 3);
  auto pattern = f[0], topic = f[1], selector = f[2];
  (void) herald::validate_event_type(topic);
  (void) herald::is_wildcard(pattern);
  bool pattern_ok = !herald::validate_pattern(pattern);
  bool topic_ok = !herald::validate_topic(topic);
  bool selector_ok = !herald::validate_pattern(selector);
  if (topic_ok && herald::validate_pattern(topic))
    __builtin_trap(); // every topic is also a pattern (that matches itself)
  if (topic_ok && !herald::topic_matches(topic, topic))
    __builtin_trap();
  if (pattern_ok && topic_ok) {
    bool matched = herald::topic_matches(pattern, topic);
    if (selector_ok && matched && herald::selector_covers(selector, pattern) &&
        !herald::topic_matches(selector, topic))
      __builtin_trap(); // a grant that covers a pattern must match what the pattern matches
  }
  return 0;
}

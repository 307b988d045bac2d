// POST /v1/publish bodies as the handler takes them: the depth check first (so nothing recursive
// sees client-controlled nesting), then the parser, with the default limits.
#include "fuzz/fuzz_input.hpp"
#include "net/http_api.hpp"
#include "net/publish_body.hpp"
#include "storage/topic_pattern.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto body = herald::fuzz::text(data, size);
  if (herald::json_deeper_than(body, 64))
    return 0;
  auto parsed = herald::parse_publish_body(body, 1000);
  if (auto* ok = std::get_if<herald::publish_body>(&parsed)) {
    // A body that parses holds only events the rest of the hub may take as they are.
    if (ok->events.empty() || ok->events.size() > 1000 || (ok->single && ok->events.size() != 1))
      __builtin_trap();
    for (auto& e : ok->events) {
      if (herald::validate_topic(e.topic) || e.data.empty())
        __builtin_trap();
      if (!e.type.empty() && herald::validate_event_type(e.type))
        __builtin_trap();
      // The stored data is itself a body the hub accepts as an event's data.
      if (herald::json_deeper_than(e.data, 64))
        __builtin_trap();
    }
  }
  return 0;
}

// Event ids as clients send them back (Last-Event-ID, last_event_id, acks): parsed, and every id
// that parses is printed back to the same text's value.
#include "fuzz/fuzz_input.hpp"
#include "storage/event_id.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto in = herald::fuzz::text(data, size);
  if (auto id = herald::parse_event_id(in)) {
    auto again = herald::parse_event_id(herald::format_event_id(id->epoch, id->pos));
    if (!again || again->epoch != id->epoch || again->pos != id->pos)
      __builtin_trap();
  }
  return 0;
}

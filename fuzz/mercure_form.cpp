// Mercure's publish bodies (application/x-www-form-urlencoded), with the default topic limit.
#include "fuzz/fuzz_input.hpp"
#include "net/mercure_api.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = herald::parse_mercure_update(herald::fuzz::text(data, size), 32);
  if (auto* form = std::get_if<herald::mercure_update_form>(&parsed)) {
    if (form->topics.empty() || form->topics.size() > 32)
      __builtin_trap();
    for (auto& t : form->topics)
      if (t.empty() || t.size() > 2048)
        __builtin_trap();
    for (char c : form->id + form->type)
      if (c == '\r' || c == '\n' || c == '\0')
        __builtin_trap(); // an id or a type that would break the SSE framing
  }
  return 0;
}

// The JSON text messages a WebSocket client sends to GET /v1/ws, with the default limits.
#include "fuzz/fuzz_input.hpp"
#include "net/ws_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = herald::parse_ws_message(herald::fuzz::text(data, size), 64, 32);
  if (auto* msg = std::get_if<herald::ws_message>(&parsed)) {
    if (auto* sub = std::get_if<herald::ws_subscribe>(&msg->command))
      if (sub->topics.empty() || sub->topics.size() > 32)
        __builtin_trap();
  } else {
    auto& refusal = std::get<herald::ws_refusal>(parsed);
    if (refusal.code.empty())
      __builtin_trap(); // every refusal names its error
    (void) herald::render_ws_error(refusal.req, refusal.code, refusal.message);
  }
  return 0;
}

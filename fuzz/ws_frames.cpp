// A client's WebSocket frames as they arrive: cut into reads of fuzzed sizes, masked or not,
// fragmented, interleaved with control frames, compressed (permessage-deflate) or not. The first
// byte chooses the read size and whether deflate was negotiated.
#include <algorithm>

#include "fuzz/fuzz_input.hpp"
#include "net/ws_frames.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1)
    return 0;
  std::size_t chunk = 1 + (data[0] & 0x3f);
  bool deflate = data[0] & 0x40;
  auto in = herald::fuzz::text(data + 1, size - 1);
  constexpr std::size_t max_message = 64 * 1024;
  herald::ws_frame_reader reader{max_message};
  std::optional<herald::ws_deflate> codec;
  if (deflate) {
    auto negotiated = herald::ws_negotiate_deflate("permessage-deflate; client_max_window_bits");
    if (!negotiated)
      __builtin_trap();
    codec.emplace(negotiated->first);
    reader.use_deflate(&*codec);
  }
  using kind = herald::ws_frame_reader::kind;
  while (!in.empty()) {
    auto n = std::min(chunk, in.size());
    reader.feed(in.data(), n);
    in.remove_prefix(n);
    for (auto k = reader.next(); k != kind::none; k = reader.next()) {
      if (k == kind::text && reader.payload().size() > max_message)
        __builtin_trap(); // a kept message is within the limit
      if (k == kind::error || k == kind::close)
        return 0; // the session closes the connection here
    }
    if (reader.buffered() > max_message + 16)
      __builtin_trap(); // a frame's payload is consumed as it comes, never buffered whole
  }
  return 0;
}

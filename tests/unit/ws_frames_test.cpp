#define CAF_SUITE ws_frames
#include <caf/test/unit_test.hpp>

#include <string>

#include "net/ws_frames.hpp"

using namespace herald;

namespace {

/// A client frame: masked, as a client must send it.
std::string client_frame(std::uint8_t first_byte, std::string_view payload, bool masked = true) {
  std::string f;
  f.push_back(static_cast<char>(first_byte));
  auto n = payload.size();
  std::uint8_t mask_bit = masked ? 0x80 : 0;
  if (n < 126) {
    f.push_back(static_cast<char>(mask_bit | n));
  } else {
    f.push_back(static_cast<char>(mask_bit | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  }
  const char mask[4] = {0x37, 0x0a, 0x5c, 0x11};
  if (masked)
    f.append(mask, 4);
  for (std::size_t i = 0; i < n; ++i)
    f.push_back(masked ? static_cast<char>(payload[i] ^ mask[i % 4]) : payload[i]);
  return f;
}

using kind = ws_frame_reader::kind;

} // namespace

CAF_TEST(the accept key is the RFC 6455 example) {
  CAF_CHECK_EQUAL(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CAF_CHECK(ws_valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
  CAF_CHECK(!ws_valid_key("dGhlIHNhbXBsZSBub25jZQ"));
  CAF_CHECK(!ws_valid_key("dGhlIHNhbXBsZSBub25j*Q=="));
}

CAF_TEST(a text message arrives whole however the bytes are cut) {
  auto bytes = client_frame(0x01, "{\"op\":") + client_frame(0x89, "hi")
               + client_frame(0x80, "\"x\"}");
  ws_frame_reader r{1024};
  std::vector<std::string> seen;
  for (char c : bytes) { // one byte at a time
    r.feed(&c, 1);
    for (auto k = r.next(); k != kind::none; k = r.next())
      seen.push_back((k == kind::ping ? "ping:" : k == kind::text ? "text:" : "other:")
                     + r.payload());
  }
  CAF_REQUIRE_EQUAL(seen.size(), 2u);
  CAF_CHECK_EQUAL(seen[0], "ping:hi"); // a control frame between the fragments
  CAF_CHECK_EQUAL(seen[1], "text:{\"op\":\"x\"}");
  CAF_CHECK_EQUAL(r.buffered(), 0u);
}

CAF_TEST(oversized and binary messages are read past and the next one is read) {
  ws_frame_reader r{8};
  auto bytes = client_frame(0x01, std::string(300, 'a')) + client_frame(0x80, "end");
  r.feed(bytes.data(), bytes.size());
  CAF_CHECK(r.next() == kind::too_big); // (two fragments: one answer, at the message's end)
  CAF_CHECK(r.next() == kind::none);
  ws_frame_reader r2{8};
  auto whole = client_frame(0x81, std::string(300, 'a')) + client_frame(0x82, "bin")
               + client_frame(0x81, "ok");
  r2.feed(whole.data(), whole.size());
  CAF_CHECK(r2.next() == kind::too_big);
  CAF_CHECK(r2.next() == kind::binary);
  CAF_REQUIRE(r2.next() == kind::text);
  CAF_CHECK_EQUAL(r2.payload(), "ok");
}

CAF_TEST(protocol violations end the connection with their close code) {
  auto first_error = [](const std::string& bytes) -> int {
    ws_frame_reader r{1024};
    r.feed(bytes.data(), bytes.size());
    for (auto k = r.next(); k != kind::none; k = r.next())
      if (k == kind::error)
        return r.close_code();
    return 0;
  };
  CAF_CHECK_EQUAL(first_error(client_frame(0x81, "x", false)), 1002);   // unmasked
  CAF_CHECK_EQUAL(first_error(client_frame(0xA1, "x")), 1002);          // RSV2
  CAF_CHECK_EQUAL(first_error(client_frame(0xC1, "x")), 1002);          // RSV1 without deflate
  CAF_CHECK_EQUAL(first_error(client_frame(0x83, "x")), 1002);          // reserved opcode
  CAF_CHECK_EQUAL(first_error(client_frame(0x80, "x")), 1002);          // continuation first
  CAF_CHECK_EQUAL(first_error(client_frame(0x09, "x")), 1002);          // fragmented ping
  CAF_CHECK_EQUAL(first_error(client_frame(0x01, "a") + client_frame(0x81, "b")), 1002);
  CAF_CHECK_EQUAL(first_error(client_frame(0x81, "\xff\xfe")), 1007);   // not UTF-8
  CAF_CHECK_EQUAL(first_error(client_frame(0x88, "\x03\xed")), 1002);   // close code 1005
  CAF_CHECK_EQUAL(first_error(client_frame(0x88, "x")), 1002);          // 1-byte close
  CAF_CHECK_EQUAL(first_error(client_frame(0x81, "fine")), 0);
}

CAF_TEST(a close frame gives its code and reason) {
  ws_frame_reader r{1024};
  auto bytes = client_frame(0x88, std::string{"\x03\xe8", 2} + "bye");
  r.feed(bytes.data(), bytes.size());
  CAF_REQUIRE(r.next() == kind::close);
  CAF_CHECK_EQUAL(r.close_code(), 1000);
  CAF_CHECK_EQUAL(r.payload(), "bye");
  auto empty = client_frame(0x88, "");
  ws_frame_reader r2{1024};
  r2.feed(empty.data(), empty.size());
  CAF_REQUIRE(r2.next() == kind::close);
  CAF_CHECK_EQUAL(r2.close_code(), 1005);
}

CAF_TEST(hub frames have the lengths of RFC 6455) {
  std::string h;
  append_ws_header(h, ws_text, 125);
  CAF_CHECK_EQUAL(h, std::string("\x81\x7d", 2));
  h.clear();
  append_ws_header(h, ws_text, 126, true);
  CAF_CHECK_EQUAL(h, std::string("\xc1\x7e\x00\x7e", 4));
  h.clear();
  append_ws_header(h, ws_text, 70000);
  CAF_CHECK_EQUAL(h, std::string("\x81\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10));
  CAF_CHECK_EQUAL(ws_close_frame(1001, "shutdown"), std::string("\x88\x0a\x03\xe9shutdown", 12));
}

CAF_TEST(permessage deflate negotiation) {
  auto a = ws_negotiate_deflate("permessage-deflate; client_max_window_bits");
  CAF_REQUIRE(a.has_value());
  CAF_CHECK_EQUAL(a->second, "permessage-deflate; server_no_context_takeover");
  auto b = ws_negotiate_deflate(
    "x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover; "
    "server_max_window_bits=10");
  CAF_REQUIRE(b.has_value());
  CAF_CHECK_EQUAL(b->first.server_window_bits, 10);
  CAF_CHECK(b->first.client_no_context_takeover);
  CAF_CHECK_EQUAL(b->second, "permessage-deflate; server_no_context_takeover; "
                             "client_no_context_takeover; server_max_window_bits=10");
  CAF_CHECK(!ws_negotiate_deflate("permessage-deflate; server_max_window_bits=8"));
  CAF_CHECK(!ws_negotiate_deflate("permessage-deflate; unknown"));
  CAF_CHECK(!ws_negotiate_deflate("permessage-deflate; server_no_context_takeover; "
                                  "server_no_context_takeover"));
  CAF_CHECK(!ws_negotiate_deflate(""));
}

CAF_TEST(compressed messages round trip and a bomb is refused) {
  ws_deflate codec{ws_deflate_params{}};
  std::string packed;
  std::string text = "{\"sub\":\"s\",\"op\":\"event\",\"data\":\"" + std::string(2000, 'z') + "\"}";
  codec.compress(text.substr(0, 10), text.substr(10), packed);
  CAF_CHECK_LESS(packed.size(), text.size() / 10);
  std::string out;
  CAF_REQUIRE(codec.decompress(packed, out, 1 << 20));
  CAF_CHECK_EQUAL(out, text);
  // Through the reader: a compressed (RSV1) client message.
  ws_frame_reader r{1 << 20};
  r.use_deflate(&codec);
  auto frame = client_frame(0xC1, packed);
  r.feed(frame.data(), frame.size());
  CAF_REQUIRE(r.next() == kind::text);
  CAF_CHECK_EQUAL(r.payload(), text);
  // Over the limit once inflated: the connection ends (1009).
  ws_frame_reader small{100};
  ws_deflate codec2{ws_deflate_params{}};
  small.use_deflate(&codec2);
  small.feed(frame.data(), frame.size());
  CAF_CHECK(small.next() == kind::error);
  CAF_CHECK_EQUAL(small.close_code(), 1009);
}

CAF_TEST(random bytes never crash the reader and never hold more than a frame head) {
  // Deterministic noise, fed in random cuts: the reader must end in an error or keep going
  // within its bounds, never crash or buffer past what a frame head and its limit allow.
  std::uint64_t seed = 0x9e3779b97f4a7c15ull;
  auto rnd = [&] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  ws_deflate codec{ws_deflate_params{}};
  std::size_t errors = 0, messages = 0;
  for (int round = 0; round < 2000; ++round) {
    ws_frame_reader r{256};
    if (round % 2 == 0)
      r.use_deflate(&codec);
    std::string noise(1 + rnd() % 600, '\0');
    for (auto& c : noise)
      c = static_cast<char>(rnd());
    if (round % 3 == 0) // mostly well-formed heads, so the reader gets past the first byte
      noise = client_frame(static_cast<std::uint8_t>(0x80 | (rnd() % 3)), noise.substr(0, 100))
              + noise;
    for (std::size_t at = 0; at < noise.size();) {
      auto n = std::min<std::size_t>(1 + rnd() % 64, noise.size() - at);
      r.feed(noise.data() + at, n);
      at += n;
      for (auto k = r.next(); k != kind::none; k = r.next()) {
        if (k == kind::error)
          ++errors;
        else
          ++messages;
      }
      CAF_REQUIRE_LESS_OR_EQUAL(r.payload().size(), 256u);
    }
  }
  CAF_CHECK_GREATER(errors, 0u);
  CAF_CHECK_GREATER(messages, 0u);
}

#pragma once
// RFC 6455 on the wire, as the hub's side speaks it: the opening handshake's accept key, the
// frames the hub writes (unmasked; many per system call), an incremental reader of the frames a
// client writes (masked; fragmented messages reassembled; control frames interleaved; sizes
// bounded; UTF-8 checked), and RFC 7692 permessage-deflate (negotiation, and a codec per
// connection). No sockets here: ws_session feeds bytes in and writes what comes out.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace herald {

/// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (base64 of SHA-1 of key + GUID).
std::string ws_accept_key(std::string_view client_key);

/// Whether `key` is a valid Sec-WebSocket-Key: base64 of 16 bytes.
bool ws_valid_key(std::string_view key);

enum ws_opcode : std::uint8_t {
  ws_continuation = 0x0,
  ws_text = 0x1,
  ws_binary = 0x2,
  ws_close = 0x8,
  ws_ping = 0x9,
  ws_pong = 0xA,
};

/// Appends a final frame's header for a payload of `size` bytes (`compressed`: RSV1 set).
void append_ws_header(std::string& out, ws_opcode op, std::size_t size, bool compressed = false);

/// A whole close frame (code and reason, the reason cut to fit 123 bytes).
std::string ws_close_frame(std::uint16_t code, std::string_view reason);

/// What permessage-deflate the connection agreed on.
struct ws_deflate_params {
  int server_window_bits = 15;          // the hub compresses with this window
  bool client_no_context_takeover = false; // the client resets its context per message
};

/// Picks the first acceptable permessage-deflate offer of a Sec-WebSocket-Extensions header and
/// returns its parameters and the response header's value; nullopt when there is none (or none
/// acceptable: the connection then runs uncompressed). The hub always declares
/// server_no_context_takeover (RFC 7692 7.1.1.1): its messages are compressed independently.
std::optional<std::pair<ws_deflate_params, std::string>>
ws_negotiate_deflate(std::string_view extensions_header);

/// A connection's permessage-deflate codec (zlib raw deflate).
class ws_deflate {
public:
  explicit ws_deflate(ws_deflate_params params);
  ~ws_deflate();
  ws_deflate(const ws_deflate&) = delete;
  ws_deflate& operator=(const ws_deflate&) = delete;

  /// Compresses one message (without context takeover): appends it to `out`.
  void compress(std::string_view a, std::string_view b, std::string& out);

  /// Inflates one compressed message into `out`; false if it is not valid deflate data or
  /// inflates past `max_bytes`.
  bool decompress(std::string_view in, std::string& out, std::size_t max_bytes);

private:
  struct state;
  ws_deflate_params params_;
  std::unique_ptr<state> z_;
};

/// An incremental reader of a client's frames. feed() takes bytes as they arrive; next() then
/// yields what they complete, one at a time.
class ws_frame_reader {
public:
  enum class kind {
    none,         // nothing complete yet: feed more
    text,         // a whole text message (payload(): its UTF-8 text)
    binary,       // a whole binary message (its payload is dropped)
    too_big,      // a message over the limit was read past (its payload is dropped)
    ping,         // payload(): the ping's application data (answer with a pong of it)
    pong,
    close,        // close_code() and payload() (the reason); answer with a close, then end
    error,        // a protocol violation: close with close_code() (1002, 1007, 1009), then end
  };

  /// `max_message`: the largest message kept (bigger ones are read past: kind::too_big).
  explicit ws_frame_reader(std::size_t max_message);

  /// Compressed messages (RSV1) are accepted and inflated with `codec` (null: RSV1 is an error).
  void use_deflate(ws_deflate* codec) { deflate_ = codec; }

  void feed(const char* data, std::size_t n);
  kind next();

  const std::string& payload() const { return out_; }
  std::uint16_t close_code() const { return close_code_; }
  /// Bytes fed but not yet consumed (bounded: the reader consumes a frame's payload as it comes).
  std::size_t buffered() const { return buf_.size() - pos_; }

private:
  kind fail(std::uint16_t code);

  std::size_t max_;
  ws_deflate* deflate_ = nullptr;
  std::string buf_;
  std::size_t pos_ = 0;
  // The frame being read.
  bool in_frame_ = false;
  std::uint8_t opcode_ = 0;
  bool fin_ = false;
  bool rsv1_ = false;
  std::uint64_t remaining_ = 0;
  std::uint8_t mask_[4] = {};
  std::uint64_t masked_ = 0; // payload bytes of the frame unmasked so far
  std::string control_;      // a control frame's payload
  // The message being assembled.
  bool in_message_ = false;
  std::uint8_t message_opcode_ = 0;
  bool message_compressed_ = false;
  bool message_dropped_ = false; // over the limit, or binary: read past
  std::string message_;
  std::uint64_t message_bytes_ = 0;
  std::string out_;
  std::uint16_t close_code_ = 0;
  bool failed_ = false;
};

} // namespace herald

#include "net/ws_frames.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <simdjson.h>
#include <zlib.h>

namespace herald {

// -- handshake ------------------------------------------------------------------------------------

std::string ws_accept_key(std::string_view client_key) {
  static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string text{client_key};
  text.append(guid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  unsigned char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  auto n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string{reinterpret_cast<const char*>(out), static_cast<std::size_t>(n)};
}

bool ws_valid_key(std::string_view key) {
  // 16 bytes in base64: 22 characters and "==".
  if (key.size() != 24 || key.substr(22) != "==")
    return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+'
           || c == '/';
  });
}

// -- frames the hub writes ------------------------------------------------------------------------

void append_ws_header(std::string& out, ws_opcode op, std::size_t size, bool compressed) {
  out.push_back(static_cast<char>(0x80 | (compressed ? 0x40 : 0) | op));
  if (size < 126) {
    out.push_back(static_cast<char>(size));
  } else if (size <= 0xffff) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>(size >> 8));
    out.push_back(static_cast<char>(size & 0xff));
  } else {
    out.push_back(static_cast<char>(127));
    for (int i = 7; i >= 0; --i)
      out.push_back(static_cast<char>((static_cast<std::uint64_t>(size) >> (8 * i)) & 0xff));
  }
}

std::string ws_close_frame(std::uint16_t code, std::string_view reason) {
  reason = reason.substr(0, 123);
  std::string out;
  append_ws_header(out, ws_close, 2 + reason.size());
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xff));
  out.append(reason);
  return out;
}

// -- permessage-deflate ---------------------------------------------------------------------------

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// One offer ("permessage-deflate; a; b=1"): acceptable parameters, or nullopt.
std::optional<std::pair<ws_deflate_params, std::string>> accept_offer(std::string_view offer) {
  auto semi = offer.find(';');
  if (trim(offer.substr(0, semi)) != "permessage-deflate")
    return std::nullopt;
  ws_deflate_params p;
  std::string response = "permessage-deflate; server_no_context_takeover";
  bool seen_snct = false, seen_cnct = false, seen_smwb = false, seen_cmwb = false;
  while (semi != std::string_view::npos) {
    offer.remove_prefix(semi + 1);
    semi = offer.find(';');
    auto param = trim(offer.substr(0, semi));
    auto eq = param.find('=');
    auto name = trim(param.substr(0, eq));
    auto value = eq == std::string_view::npos ? std::string_view{} : trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    auto bits = [&]() -> int {
      if (value.empty() || value.size() > 2
          || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return -1;
      int b = std::stoi(std::string{value});
      return b >= 8 && b <= 15 ? b : -1;
    };
    if (name == "server_no_context_takeover" && !seen_snct && value.empty()) {
      seen_snct = true;
    } else if (name == "client_no_context_takeover" && !seen_cnct && value.empty()) {
      seen_cnct = true;
      p.client_no_context_takeover = true;
      response += "; client_no_context_takeover";
    } else if (name == "server_max_window_bits" && !seen_smwb) {
      seen_smwb = true;
      int b = bits();
      if (b < 9) // zlib cannot compress with a 256-byte window: decline this offer
        return std::nullopt;
      p.server_window_bits = b;
      response += "; server_max_window_bits=" + std::to_string(b);
    } else if (name == "client_max_window_bits" && !seen_cmwb) {
      seen_cmwb = true;
      if (!value.empty() && bits() < 0)
        return std::nullopt;
      // The hub inflates with a 32 KiB window: whatever the client uses fits.
    } else {
      return std::nullopt;
    }
  }
  return std::make_pair(p, response);
}

/// One raw deflate stream per window size and io thread: the hub compresses without context
/// takeover, so no connection needs a compressor of its own.
z_stream& thread_deflater(int window_bits) {
  struct deflater {
    z_stream z{};
    bool ready = false;
    ~deflater() {
      if (ready)
        deflateEnd(&z);
    }
  };
  thread_local deflater pool[16];
  auto& d = pool[window_bits];
  if (!d.ready) {
    // Level 1: most of the size saved on JSON for a fraction of the default level's CPU.
    deflateInit2(&d.z, 1, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY);
    d.ready = true;
  }
  return d.z;
}

} // namespace

std::optional<std::pair<ws_deflate_params, std::string>>
ws_negotiate_deflate(std::string_view header) {
  while (!header.empty()) {
    auto comma = header.find(',');
    if (auto accepted = accept_offer(header.substr(0, comma)))
      return accepted;
    if (comma == std::string_view::npos)
      break;
    header.remove_prefix(comma + 1);
  }
  return std::nullopt;
}

struct ws_deflate::state {
  z_stream inflater{};
  bool inflating = false;
  ~state() {
    if (inflating)
      inflateEnd(&inflater);
  }
};

ws_deflate::ws_deflate(ws_deflate_params params) : params_(params) {
  // nop: the inflater is made on the first compressed message the client sends
}

ws_deflate::~ws_deflate() = default;

void ws_deflate::compress(std::string_view a, std::string_view b, std::string& out) {
  auto& z = thread_deflater(params_.server_window_bits);
  deflateReset(&z);
  auto start = out.size();
  unsigned char chunk[16384];
  auto feed = [&](std::string_view in, int flush) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    do {
      z.next_out = chunk;
      z.avail_out = sizeof(chunk);
      deflate(&z, flush);
      out.append(reinterpret_cast<const char*>(chunk), sizeof(chunk) - z.avail_out);
    } while (z.avail_out == 0 || z.avail_in > 0);
  };
  feed(a, Z_NO_FLUSH);
  feed(b, Z_SYNC_FLUSH);
  // A sync flush ends with an empty stored block (00 00 ff ff), which the wire leaves out.
  if (out.size() - start >= 4 && out.compare(out.size() - 4, 4, "\x00\x00\xff\xff", 4) == 0)
    out.resize(out.size() - 4);
}

bool ws_deflate::decompress(std::string_view in, std::string& out, std::size_t max_bytes) {
  if (!z_)
    z_ = std::make_unique<state>();
  auto& z = z_->inflater;
  if (!z_->inflating) {
    if (inflateInit2(&z, -15) != Z_OK)
      return false;
    z_->inflating = true;
  }
  std::string data{in};
  data.append("\x00\x00\xff\xff", 4);
  z.next_in = reinterpret_cast<Bytef*>(data.data());
  z.avail_in = static_cast<uInt>(data.size());
  out.clear();
  unsigned char chunk[16384];
  bool ok = true;
  do {
    z.next_out = chunk;
    z.avail_out = sizeof(chunk);
    int rc = inflate(&z, Z_SYNC_FLUSH);
    out.append(reinterpret_cast<const char*>(chunk), sizeof(chunk) - z.avail_out);
    if ((rc != Z_OK && rc != Z_BUF_ERROR) || out.size() > max_bytes) {
      ok = false;
      break;
    }
    if (rc == Z_BUF_ERROR && z.avail_out != 0)
      break; // no progress possible: the input is used up
  } while (z.avail_out == 0 || z.avail_in > 0);
  if (!ok || params_.client_no_context_takeover)
    inflateReset(&z);
  return ok && z.avail_in == 0;
}

// -- frames the client writes ---------------------------------------------------------------------

ws_frame_reader::ws_frame_reader(std::size_t max_message) : max_(max_message) {
  // nop
}

void ws_frame_reader::feed(const char* data, std::size_t n) {
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(data, n);
}

ws_frame_reader::kind ws_frame_reader::fail(std::uint16_t code) {
  failed_ = true;
  close_code_ = code;
  message_.clear();
  return kind::error;
}

ws_frame_reader::kind ws_frame_reader::next() {
  if (failed_)
    return kind::none;
  for (;;) {
    if (!in_frame_) {
      auto avail = buf_.size() - pos_;
      if (avail < 2)
        return kind::none;
      auto b0 = static_cast<std::uint8_t>(buf_[pos_]);
      auto b1 = static_cast<std::uint8_t>(buf_[pos_ + 1]);
      if ((b0 & 0x30) != 0 || (b1 & 0x80) == 0) // RSV2/RSV3, or an unmasked client frame
        return fail(1002);
      std::size_t head = 2;
      std::uint64_t len = b1 & 0x7f;
      if (len == 126)
        head = 4;
      else if (len == 127)
        head = 10;
      head += 4; // the mask
      if (avail < head)
        return kind::none;
      if (len == 126) {
        len = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(buf_[pos_ + 2])) << 8)
              | static_cast<std::uint8_t>(buf_[pos_ + 3]);
      } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i)
          len = (len << 8) | static_cast<std::uint8_t>(buf_[pos_ + 2 + i]);
        if (len >> 63)
          return fail(1002);
      }
      fin_ = (b0 & 0x80) != 0;
      rsv1_ = (b0 & 0x40) != 0;
      opcode_ = b0 & 0x0f;
      bool control = (opcode_ & 0x8) != 0;
      if (control) {
        if (opcode_ > ws_pong || !fin_ || len > 125 || rsv1_)
          return fail(1002);
        control_.clear();
      } else if (opcode_ == ws_continuation) {
        if (!in_message_ || rsv1_)
          return fail(1002);
      } else if (opcode_ == ws_text || opcode_ == ws_binary) {
        if (in_message_ || (rsv1_ && deflate_ == nullptr))
          return fail(1002);
        in_message_ = true;
        message_opcode_ = opcode_;
        message_compressed_ = rsv1_;
        message_dropped_ = opcode_ == ws_binary;
        message_.clear();
        message_bytes_ = 0;
      } else {
        return fail(1002);
      }
      std::memcpy(mask_, buf_.data() + pos_ + head - 4, 4);
      pos_ += head;
      remaining_ = len;
      masked_ = 0;
      in_frame_ = true;
    }
    // The payload, as far as it has come.
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, buf_.size() - pos_));
    bool control = (opcode_ & 0x8) != 0;
    if (control || !message_dropped_) {
      auto& dest = control ? control_ : message_;
      auto at = dest.size();
      dest.append(buf_, pos_, n);
      for (std::size_t i = 0; i < n; ++i)
        dest[at + i] = static_cast<char>(dest[at + i] ^ mask_[(masked_ + i) & 3]);
    }
    if (!control) {
      message_bytes_ += n;
      if (!message_dropped_ && message_bytes_ > max_) {
        message_dropped_ = true; // read past the rest
        std::string{}.swap(message_);
      }
    }
    pos_ += n;
    masked_ += n;
    remaining_ -= n;
    if (remaining_ > 0)
      return kind::none;
    in_frame_ = false;
    if (control) {
      out_.swap(control_);
      if (opcode_ == ws_ping)
        return kind::ping;
      if (opcode_ == ws_pong)
        return kind::pong;
      // Close: an optional code (not one reserved for the absence of a code) and a reason.
      if (out_.size() == 1)
        return fail(1002);
      close_code_ = 1005;
      if (out_.size() >= 2) {
        auto code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(out_[0]) << 8)
                                               | static_cast<std::uint8_t>(out_[1]));
        bool valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011)
                     || (code >= 3000 && code <= 4999);
        if (!valid)
          return fail(1002);
        if (!simdjson::validate_utf8(out_.data() + 2, out_.size() - 2))
          return fail(1007);
        close_code_ = code;
        out_.erase(0, 2);
      }
      return kind::close;
    }
    if (!fin_)
      continue;
    in_message_ = false;
    if (message_bytes_ > max_)
      return message_compressed_ ? fail(1009) : kind::too_big;
    if (message_opcode_ == ws_binary)
      return kind::binary;
    if (message_compressed_) {
      // Inflating past the limit ends the connection: the client's compression context (which
      // later messages build on) cannot be followed without inflating the whole message.
      if (!deflate_->decompress(message_, out_, max_))
        return fail(out_.size() > max_ ? 1009 : 1007);
    } else {
      out_.swap(message_);
    }
    message_.clear();
    if (!simdjson::validate_utf8(out_.data(), out_.size()))
      return fail(1007);
    return kind::text;
  }
}

} // namespace herald

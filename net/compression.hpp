#pragma once
// HTTP compression with zlib (gzip only, the coding every client has):
//   - request bodies sent with `Content-Encoding: gzip` are inflated before their handler runs
//     (content_decoding_middleware), never past limits.max_body_bytes;
//   - JSON answers over compression.min_bytes are gzipped when the request's Accept-Encoding
//     allows it (compress_answer, on the session's io thread);
//   - SSE streams are gzipped when compression.streams is on and the client accepts it: one
//     deflate stream per connection, flushed after every write (gzip_stream).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "net/router.hpp"

struct z_stream_s;

namespace herald {

/// Whether an Accept-Encoding value accepts gzip: a `gzip` (or `x-gzip`) coding, else `*`, with
/// a q-value above 0 (`gzip;q=0` refuses it).
bool accepts_gzip(std::string_view accept_encoding);

/// Why a gzip body could not be inflated.
enum class gunzip_error : std::uint8_t {
  invalid,   // not gzip, corrupt, or cut short
  too_large, // inflates to more than the limit
};

/// Inflates gzip `body` (one member or several, one after another) into `out`, stopping with
/// too_large as soon as it would exceed `limit` bytes.
std::optional<gunzip_error> gunzip(std::string_view body, std::size_t limit, std::string& out);

/// `body` as one gzip member, compressed at `level` (1-9).
std::string gzip(std::string_view body, int level);

/// Gzips `res`'s body in place (Content-Encoding, Vary and Content-Length set) when it is JSON,
/// at least `min_bytes` long and not encoded already. Returns whether it did. JSON answers of
/// that size get `Vary: Accept-Encoding` even when `accepted` is false.
bool compress_answer(http_response& res, bool accepted, std::size_t min_bytes, int level);

/// One SSE stream's gzip encoding: a single deflate stream for the connection, so later events
/// are compressed against earlier ones, flushed at the end of every write so that the client can
/// decode everything it was sent. The window is kept small (4 KiB, about 40 KiB of zlib state
/// per stream) because a hub holds many streams.
class gzip_stream {
public:
  explicit gzip_stream(int level);
  ~gzip_stream();
  gzip_stream(const gzip_stream&) = delete;
  gzip_stream& operator=(const gzip_stream&) = delete;

  /// Appends the compressed form of `parts` to `out` (the gzip header first, on the first call),
  /// ending with a sync flush.
  void compress(const std::vector<boost::asio::const_buffer>& parts, std::string& out);

  /// Appends the end of the gzip member (its last block and trailer) to `out`; nothing after it.
  void finish(std::string& out);

  bool finished() const { return finished_; }
  std::uint64_t bytes_in() const { return in_; }

private:
  void run(const void* data, std::size_t size, int flush, std::string& out);

  z_stream_s* z_;
  std::uint64_t in_ = 0;
  bool finished_ = false;
};

/// Inflates request bodies sent with Content-Encoding: gzip (or x-gzip) before their handler
/// runs; `identity` is accepted as it is. Any other coding is 415 unsupported_encoding, a corrupt
/// body 400 invalid_body, one that inflates past limits.max_body_bytes 413 body_too_large.
/// Placed after auth and rate limits: nobody gets inflation work done for free.
class content_decoding_middleware : public middleware {
public:
  std::optional<http_response> before(hub_context& hub, route_request& r) override;
};

} // namespace herald

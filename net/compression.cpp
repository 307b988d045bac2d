#include "net/compression.hpp"

#include <cstdlib>

#include <zlib.h>

#include "net/header_text.hpp"
#include "net/http_responses.hpp"
#include "net/hub_context.hpp"

namespace herald {

namespace {

constexpr int gzip_window = 16 + 15; // windowBits: a gzip wrapper around a 32 KiB window
constexpr int stream_window = 16 + 12; // 4 KiB per SSE stream (deflate state ~ 2^(12+2) + 2^(5+9))
constexpr int stream_mem_level = 5;

/// The q-value of one Accept-Encoding element's parameters ("q=0.5"; 1 when absent).
double q_value(std::string_view params) {
  while (!params.empty()) {
    auto semi = params.find(';');
    auto p = trim(params.substr(0, semi));
    if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      std::string v{trim(p.substr(2))};
      char* end = nullptr;
      double q = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || q < 0)
        return 0; // an unreadable weight does not accept anything
      return q;
    }
    if (semi == std::string_view::npos)
      break;
    params.remove_prefix(semi + 1);
  }
  return 1;
}

} // namespace

bool accepts_gzip(std::string_view header) {
  std::optional<double> gzip_q, any_q;
  while (!header.empty()) {
    auto comma = header.find(',');
    auto element = trim(header.substr(0, comma));
    auto semi = element.find(';');
    auto coding = trim(element.substr(0, semi));
    auto params = semi == std::string_view::npos ? std::string_view{} : element.substr(semi + 1);
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip"))
      gzip_q = q_value(params);
    else if (coding == "*")
      any_q = q_value(params);
    if (comma == std::string_view::npos)
      break;
    header.remove_prefix(comma + 1);
  }
  if (gzip_q)
    return *gzip_q > 0;
  return any_q && *any_q > 0;
}

std::optional<gunzip_error> gunzip(std::string_view body, std::size_t limit, std::string& out) {
  out.clear();
  z_stream z{};
  if (inflateInit2(&z, gzip_window) != Z_OK)
    return gunzip_error::invalid;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  char chunk[16384];
  std::optional<gunzip_error> failed;
  bool ended = false; // the last member read was complete
  while (!failed) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof(chunk);
    int rc = inflate(&z, Z_NO_FLUSH);
    auto produced = sizeof(chunk) - z.avail_out;
    if (out.size() + produced > limit) {
      failed = gunzip_error::too_large;
      break;
    }
    out.append(chunk, produced);
    if (rc == Z_STREAM_END) {
      ended = true;
      if (z.avail_in == 0)
        break;
      inflateReset(&z); // another member follows
      ended = false;
      continue;
    }
    if (rc == Z_OK) {
      if (z.avail_in == 0 && z.avail_out != 0)
        break; // all input used before the member ended: cut short
      continue;
    }
    if (rc == Z_BUF_ERROR && z.avail_in == 0)
      break; // no progress possible: the input ended inside a member
    failed = gunzip_error::invalid;
  }
  inflateEnd(&z);
  if (!failed && !ended)
    failed = gunzip_error::invalid;
  if (failed)
    out.clear();
  return failed;
}

std::string gzip(std::string_view body, int level) {
  z_stream z{};
  deflateInit2(&z, level, Z_DEFLATED, gzip_window, 8, Z_DEFAULT_STRATEGY);
  std::string out;
  out.resize(deflateBound(&z, body.size()) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH); // the bound holds it all: one call ends the member
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

bool compress_answer(http_response& res, bool accepted, std::size_t min_bytes, int level) {
  auto ct = res[http::field::content_type];
  if (res.body().size() < min_bytes || ct.rfind("application/json", 0) != 0
      || res.count(http::field::content_encoding) != 0)
    return false;
  add_vary(res, "Accept-Encoding");
  if (!accepted)
    return false;
  res.body() = gzip(res.body(), level);
  res.set(http::field::content_encoding, "gzip");
  res.prepare_payload();
  return true;
}

gzip_stream::gzip_stream(int level) : z_(new z_stream{}) {
  deflateInit2(z_, level, Z_DEFLATED, stream_window, stream_mem_level, Z_DEFAULT_STRATEGY);
}

gzip_stream::~gzip_stream() {
  deflateEnd(z_);
  delete z_;
}

void gzip_stream::run(const void* data, std::size_t size, int flush, std::string& out) {
  z_->next_in = static_cast<Bytef*>(const_cast<void*>(data));
  z_->avail_in = static_cast<uInt>(size);
  do {
    auto at = out.size();
    auto room = std::max<std::size_t>(deflateBound(z_, z_->avail_in) + 64, 4096);
    out.resize(at + room);
    z_->next_out = reinterpret_cast<Bytef*>(out.data() + at);
    z_->avail_out = static_cast<uInt>(room);
    deflate(z_, flush);
    out.resize(out.size() - z_->avail_out);
  } while (z_->avail_out == 0 || z_->avail_in != 0);
}

void gzip_stream::compress(const std::vector<boost::asio::const_buffer>& parts,
                           std::string& out) {
  if (finished_)
    return;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    bool last = i + 1 == parts.size();
    in_ += parts[i].size();
    run(parts[i].data(), parts[i].size(), last ? Z_SYNC_FLUSH : Z_NO_FLUSH, out);
  }
}

void gzip_stream::finish(std::string& out) {
  if (finished_)
    return;
  finished_ = true;
  run(nullptr, 0, Z_FINISH, out);
}

std::optional<http_response> content_decoding_middleware::before(hub_context& hub,
                                                                  route_request& r) {
  auto field = r.req[http::field::content_encoding];
  auto coding = trim(std::string_view{field.data(), field.size()});
  if (coding.empty() || iequals(coding, "identity"))
    return std::nullopt;
  if (!iequals(coding, "gzip") && !iequals(coding, "x-gzip"))
    return error_response(r.req, http::status::unsupported_media_type, "unsupported_encoding",
                          "Content-Encoding must be gzip or identity");
  std::string plain;
  auto limit = hub.cfg.limits_max_body_bytes;
  if (auto err = gunzip(r.req.body(), limit, plain)) {
    if (*err == gunzip_error::too_large)
      return error_response(r.req, http::status::payload_too_large, "body_too_large",
                            "the request body inflates to more than " + std::to_string(limit)
                              + " bytes (limits.max_body_bytes)");
    return error_response(r.req, http::status::bad_request, "invalid_body",
                          "the request body is not valid gzip");
  }
  ++hub.stats.gzip_requests;
  r.req.body() = std::move(plain);
  r.req.erase(http::field::content_encoding);
  r.req.content_length(r.req.body().size());
  return std::nullopt;
}

} // namespace herald

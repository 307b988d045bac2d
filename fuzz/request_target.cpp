// Request targets and everything parsed out of them: the path and query split, percent-decoding,
// query parameters; and the URLs and host:port values of the configuration and of job upstreams.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "uri/uri.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto target = herald::uri::parse_request_target(in)) {
    // What the router does with it: the decoded path's segments and every parameter.
    for (auto& [name, value] : target->params)
      (void) herald::uri::percent_encode(name + value);
  }
  if (auto params = herald::uri::parse_query(in))
    (void) params->size();
  for (bool plus : {false, true})
    if (auto decoded = herald::uri::percent_decode(in, plus)) {
      // Encoding what was decoded and decoding it again gives it back.
      auto again = herald::uri::percent_decode(herald::uri::percent_encode(*decoded), false);
      if (!again || *again != *decoded)
        __builtin_trap();
    }
  (void) herald::uri::parse_url(in);
  (void) herald::uri::parse_host_port(in);
  return 0;
}

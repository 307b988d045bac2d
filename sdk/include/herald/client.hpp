#pragma once
// Herald C++ SDK: what the publisher and the subscriber share. Plain C++ (no Beast, no CAF);
// JSON values are nlohmann::json.

#include <cstdint>
#include <stdexcept>
#include <string>

namespace herald::sdk {

/// Why a request failed. `status` is the HTTP status (0: the hub could not be reached or did
/// not answer in time); `code` and `message` come from the hub's error body when it sent one.
struct error {
  int status = 0;
  std::string code;
  std::string message;

  std::string to_string() const;
};

/// Thrown by the blocking calls.
class request_failed : public std::runtime_error {
public:
  explicit request_failed(error e);
  const sdk::error& details() const noexcept { return err_; }

private:
  sdk::error err_;
};

/// How a client proves who it is and checks who the hub is.
struct credentials {
  std::string token;   // a JWT, sent as `Authorization: Bearer` (empty: none)
  std::string ca_file; // https: a PEM file of the CAs to trust (empty: the system's store)
};

/// "http://host:port" or "https://host:port" (path ignored). Throws std::invalid_argument for
/// anything else.
struct hub_address {
  std::string host = "127.0.0.1";
  std::string port = "8080";
  bool secure = false; // https: TLS, the hub's certificate verified against `creds.ca_file`
  credentials creds;

  /// Parses "http[s]://host[:port]" (port 80 or 443 when absent; IPv6 hosts in brackets).
  static hub_address parse(const std::string& url, credentials creds = {});

  /// host:port for a Host header (IPv6 in brackets).
  std::string authority() const;
};

} // namespace herald::sdk

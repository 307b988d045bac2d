#pragma once
// JSON Web Tokens (RFC 7519), verified as RFC 8725 asks, with the cpp-jwt library (Debian's
// libcpp-jwt-dev) over OpenSSL.
//
//   - every key is bound to exactly one algorithm; a token is accepted only if its header's `alg`
//     is the algorithm of the key that verifies it (so an HS256 token "signed" with an RSA public
//     key's PEM never verifies), and `none` is never accepted, in any spelling;
//   - a `kid` in the header selects its key, and an unknown `kid` is refused; without a `kid`,
//     the keys of the token's algorithm are tried;
//   - the signature is checked before any claim is trusted; then `exp` and `nbf` (with leeway),
//     `iss` and `aud` when configured, and the `herald` claims' shape;
//   - tokens over 8 KiB are refused before they are decoded.
//
// A key_set is immutable: the hub swaps in a new one when it reloads its keys (SIGHUP).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/principal.hpp"

namespace herald {

inline constexpr std::size_t max_token_bytes = 8192;

/// One configured key (auth.keys, or one JWK of auth.jwks_file).
struct key_spec {
  std::string kid;             // optional
  std::string alg;             // HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA
  std::string secret;          // HS*: the secret itself ...
  std::string secret_file;     // ... or a file holding it
  std::string public_key_file; // RS*/PS*/ES*/EdDSA: a PEM public key
};

struct token_rules {
  std::vector<key_spec> keys;
  std::string jwks_file;
  std::string issuer;   // enforced when not empty
  std::string audience; // enforced when not empty
  std::int64_t leeway_seconds = 30;
};

/// Why a token was refused: a stable code (token_expired, bad_signature, ...) and a message.
struct token_refusal {
  std::string code;
  std::string message;
};

class key_set {
public:
  /// Reads every key (files, PEM, JWKS) and checks it. An error names the key and the reason.
  static std::variant<std::shared_ptr<const key_set>, std::string> load(const token_rules& rules);

  bool empty() const { return keys_.empty(); }
  std::size_t size() const { return keys_.size(); }

  /// Verifies `token` at `now` (seconds since the Unix epoch).
  std::variant<principal, token_refusal> verify(std::string_view token, std::int64_t now) const;

  struct key {
    std::string kid;
    std::string alg;
    std::string material; // the HS secret, or the public key's PEM
  };

private:
  std::vector<key> keys_;
  token_rules rules_;
};

/// The algorithms Herald verifies: the JWT library's (HS*, RS*, ES*), and PS* and EdDSA through
/// OpenSSL's EVP interface.
const std::vector<std::string>& supported_algorithms();

/// Signs a token for `herald token`: `key` is the HS secret or a PEM private key.
std::variant<std::string, std::string> mint_token(const std::string& alg, const std::string& key,
                                                  const std::string& kid,
                                                  const std::string& claims_json);

} // namespace herald

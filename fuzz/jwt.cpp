// Tokens as clients present them. The first byte picks what the rest is:
//   0: a token, verified against an HS256 key and an Ed25519 key (kids "hs" and "ed");
//   1: "header\nclaims", both JSON, signed here with the HS256 key (so the fuzzer gets past the
//      signature and into the header and claim checks), then verified;
//   2: a JWKS document (auth.jwks_file), loaded as the hub loads it at start and on SIGHUP.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>

#include <jwt/base64.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth/principal.hpp"
#include "auth/tokens.hpp"
#include "fuzz/fuzz_input.hpp"

namespace {

const std::string hs_secret = "herald-fuzz-secret-of-at-least-32-bytes";

std::string temp_file(const std::string& what) {
  std::string path = "/tmp/herald-fuzz-XXXXXX";
  int fd = mkstemp(path.data());
  if (fd < 0)
    std::abort();
  if (write(fd, what.data(), what.size()) != static_cast<ssize_t>(what.size()))
    std::abort();
  close(fd);
  return path;
}

/// The key set of mode 0 and 1, made once.
const herald::key_set& keys() {
  static std::shared_ptr<const herald::key_set> set = [] {
    EVP_PKEY* ed = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, ed);
    char* pem = nullptr;
    auto n = BIO_get_mem_data(bio, &pem);
    auto path = temp_file(std::string(pem, static_cast<std::size_t>(n)));
    BIO_free(bio);
    EVP_PKEY_free(ed);
    herald::token_rules rules;
    rules.keys.push_back({"hs", "HS256", hs_secret, "", ""});
    rules.keys.push_back({"ed", "EdDSA", "", "", path});
    auto loaded = herald::key_set::load(rules);
    std::remove(path.c_str());
    if (loaded.index() != 0)
      std::abort();
    return std::get<0>(loaded);
  }();
  return *set;
}

std::string b64url(std::string_view s) {
  auto out = jwt::base64_encode(s.data(), s.size());
  out.resize(jwt::base64_uri_encode(out.data(), out.size()));
  return out;
}

std::string hs256(const std::string& input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), hs_secret.data(), static_cast<int>(hs_secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return b64url({reinterpret_cast<const char*>(mac), len});
}

void check(const std::variant<herald::principal, herald::token_refusal>& verdict) {
  if (auto* who = std::get_if<herald::principal>(&verdict)) {
    if (!who->authenticated())
      __builtin_trap();
    // What the hub asks of a principal, with what its claims granted.
    (void) herald::may_publish(*who, "a/b");
    (void) herald::may_subscribe(*who, "a/**");
    (void) herald::may_use_session(*who, "owner");
  } else if (std::get<herald::token_refusal>(verdict).code.empty()) {
    __builtin_trap(); // every refusal names its code
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1)
    return 0;
  auto in = herald::fuzz::text(data + 1, size - 1);
  constexpr std::int64_t now = 1800000000;
  switch (data[0] % 3) {
    case 0:
      check(keys().verify(in, now));
      break;
    case 1: {
      auto f = herald::fuzz::fields(in, 2);
      auto signing_input = b64url(f[0]) + "." + b64url(f[1]);
      check(keys().verify(signing_input + "." + hs256(signing_input), now));
      break;
    }
    default: {
      auto path = temp_file(std::string(in));
      herald::token_rules rules;
      rules.jwks_file = path;
      auto loaded = herald::key_set::load(rules);
      std::remove(path.c_str());
      if (auto* set = std::get_if<0>(&loaded))
        check((*set)->verify("eyJhbGciOiJSUzI1NiJ9.e30.c2ln", now));
      break;
    }
  }
  return 0;
}

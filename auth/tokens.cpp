#include "auth/tokens.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <jwt/jwt.hpp>
#include <nlohmann/json.hpp>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "storage/topic_pattern.hpp"

namespace herald {
namespace {

using json = nlohmann::json;

constexpr std::size_t min_hs_secret_bytes = 32;
constexpr std::size_t max_grants = 256;

bool is_hs(std::string_view alg) {
  return alg == "HS256" || alg == "HS384" || alg == "HS512";
}

bool is_rs(std::string_view alg) {
  return alg == "RS256" || alg == "RS384" || alg == "RS512";
}

bool is_es(std::string_view alg) {
  return alg == "ES256" || alg == "ES384" || alg == "ES512";
}

bool is_ps(std::string_view alg) {
  return alg == "PS256" || alg == "PS384" || alg == "PS512";
}

/// The digest of an RSxxx/PSxxx/ESxxx algorithm.
const EVP_MD* digest_of(std::string_view alg) {
  auto bits = alg.substr(2);
  return bits == "256" ? EVP_sha256() : bits == "384" ? EVP_sha384() : EVP_sha512();
}

/// The named curve an ESxxx key must be on (RFC 7518 3.4).
const char* es_curve(std::string_view alg) {
  return alg == "ES256" ? "prime256v1" : alg == "ES384" ? "secp384r1" : "secp521r1";
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// Only the base64url alphabet: the library's decoder indexes a table by each byte unchecked.
bool base64url_chars(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
           || c == '_';
  });
}

std::string b64url_decode(std::string_view s) {
  return jwt::base64_uri_decode(s.data(), s.size());
}

using pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

/// The public key in `pem`, or null.
pkey_ptr read_public_key(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new_mem_buf(pem.data(),
                                                                static_cast<int>(pem.size())),
                                                BIO_free};
  return pkey_ptr{bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr,
                  EVP_PKEY_free};
}

std::string to_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new(BIO_s_mem()), BIO_free};
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1)
    return {};
  char* data = nullptr;
  auto n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

/// Checks that a PEM public key suits `alg` (RSA of at least 2048 bits, the alg's curve, or an
/// Edwards curve for EdDSA).
std::optional<std::string> check_public_key(const std::string& pem, const std::string& alg) {
  auto key = read_public_key(pem);
  if (!key)
    return std::string{"is not a PEM public key"};
  if (alg == "EdDSA") {
    auto type = EVP_PKEY_base_id(key.get());
    if (type != EVP_PKEY_ED25519 && type != EVP_PKEY_ED448)
      return std::string{"EdDSA needs an Ed25519 or Ed448 key"};
    return std::nullopt;
  }
  if (is_rs(alg) || is_ps(alg)) {
    if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA)
      return alg + " needs an RSA key";
    if (EVP_PKEY_get_bits(key.get()) < 2048)
      return std::string{"RSA keys must have at least 2048 bits"};
    return std::nullopt;
  }
  if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_EC)
    return alg + " needs an EC key";
  char group[64] = {0};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                     &len)
        != 1
      || std::string{group} != es_curve(alg))
    return alg + " needs a key on curve " + es_curve(alg);
  return std::nullopt;
}

/// A JWK's string member `name`, or "" when it is absent or not a string (a JWKS document is
/// anyone's JSON: `value()` would throw on `"kty": 1`, and a reload must refuse it, not end).
std::string jwk_string(const json& jwk, const char* name) {
  auto it = jwk.find(name);
  return it != jwk.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

/// The PEM of a JWK's public key (RSA: n, e; EC: crv, x, y), or an error.
std::variant<std::string, std::string> jwk_public_pem(const json& jwk) {
  using result = std::variant<std::string, std::string>;
  auto member = [&](const char* name) -> std::optional<std::string> {
    auto it = jwk.find(name);
    if (it == jwk.end() || !it->is_string() || !base64url_chars(it->get<std::string>()))
      return std::nullopt;
    return b64url_decode(it->get<std::string>());
  };
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld{OSSL_PARAM_BLD_new(),
                                                                      OSSL_PARAM_BLD_free};
  std::vector<std::unique_ptr<BIGNUM, decltype(&BN_free)>> nums;
  const char* type = nullptr;
  std::string point;
  if (jwk_string(jwk, "kty") == "RSA") {
    auto n = member("n");
    auto e = member("e");
    if (!n || !e)
      return result{std::in_place_index<1>, "an RSA JWK needs base64url 'n' and 'e'"};
    for (auto* raw : {&*n, &*e})
      nums.emplace_back(BN_bin2bn(reinterpret_cast<const unsigned char*>(raw->data()),
                                  static_cast<int>(raw->size()), nullptr),
                        BN_free);
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, nums[0].get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, nums[1].get());
    type = "RSA";
  } else if (jwk_string(jwk, "kty") == "EC") {
    static const std::pair<const char*, const char*> curves[] = {
      {"P-256", "prime256v1"}, {"P-384", "secp384r1"}, {"P-521", "secp521r1"}};
    auto crv = jwk_string(jwk, "crv");
    const char* group = nullptr;
    for (auto& [jose, ossl] : curves)
      if (crv == jose)
        group = ossl;
    auto x = member("x");
    auto y = member("y");
    if (group == nullptr || !x || !y)
      return result{std::in_place_index<1>,
                    "an EC JWK needs 'crv' (P-256, P-384 or P-521) and base64url 'x' and 'y'"};
    point = std::string(1, '\x04') + *x + *y; // uncompressed point
    OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                     point.size());
    type = "EC";
  } else if (jwk_string(jwk, "kty") == "OKP") {
    auto crv = jwk_string(jwk, "crv");
    auto x = member("x");
    int id = crv == "Ed25519" ? EVP_PKEY_ED25519 : crv == "Ed448" ? EVP_PKEY_ED448 : 0;
    if (id == 0 || !x)
      return result{std::in_place_index<1>,
                    "an OKP JWK needs 'crv' (Ed25519 or Ed448) and base64url 'x'"};
    pkey_ptr key{EVP_PKEY_new_raw_public_key(id, nullptr,
                                             reinterpret_cast<const unsigned char*>(x->data()),
                                             x->size()),
                 EVP_PKEY_free};
    if (!key)
      return result{std::in_place_index<1>, "the key parameters do not form a valid public key"};
    return result{std::in_place_index<0>, to_pem(key.get())};
  } else {
    return result{std::in_place_index<1>, "'kty' must be RSA, EC, OKP or oct"};
  }
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params{
    OSSL_PARAM_BLD_to_param(bld.get()), OSSL_PARAM_free};
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx{
    EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr), EVP_PKEY_CTX_free};
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1
      || EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return result{std::in_place_index<1>, "the key parameters do not form a valid public key"};
  pkey_ptr key{raw, EVP_PKEY_free};
  auto pem = to_pem(key.get());
  if (pem.empty())
    return result{std::in_place_index<1>, "the key could not be encoded"};
  return result{std::in_place_index<0>, std::move(pem)};
}

/// Adds the keys of the JWKS document at `path`.
std::optional<std::string> load_jwks(const std::string& path, std::vector<key_set::key>& out) {
  auto text = read_file(path);
  if (!text)
    return "auth.jwks_file: cannot read '" + path + "'";
  auto doc = json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array())
    return "auth.jwks_file: '" + path + "' is not a JWKS document ({\"keys\": [...]})";
  std::size_t i = 0;
  for (auto& jwk : doc["keys"]) {
    auto where = "auth.jwks_file: keys[" + std::to_string(i++) + "]: ";
    if (!jwk.is_object())
      return where + "must be an object";
    if (jwk.contains("use") && jwk["use"] != "sig")
      continue; // an encryption key: not for verifying tokens
    key_set::key k;
    if (!jwk.contains("alg") || !jwk["alg"].is_string())
      return where + "needs 'alg' (each key is bound to one algorithm)";
    k.alg = jwk["alg"].get<std::string>();
    if (jwk.contains("kid")) {
      if (!jwk["kid"].is_string())
        return where + "'kid' must be a string";
      k.kid = jwk["kid"].get<std::string>();
    }
    if (std::find(supported_algorithms().begin(), supported_algorithms().end(), k.alg)
        == supported_algorithms().end())
      return where + "alg '" + k.alg + "' is not supported";
    if (is_hs(k.alg)) {
      if (jwk_string(jwk, "kty") != "oct" || !jwk.contains("k") || !jwk["k"].is_string()
          || !base64url_chars(jwk["k"].get<std::string>()))
        return where + "an " + k.alg + " key must be kty 'oct' with base64url 'k'";
      k.material = b64url_decode(jwk["k"].get<std::string>());
      if (k.material.size() < min_hs_secret_bytes)
        return where + "HS secrets must be at least 32 bytes";
    } else {
      auto pem = jwk_public_pem(jwk);
      if (auto* err = std::get_if<1>(&pem))
        return where + *err;
      k.material = std::get<0>(pem);
      if (auto err = check_public_key(k.material, k.alg))
        return where + *err;
    }
    out.push_back(std::move(k));
  }
  return std::nullopt;
}

std::variant<principal, token_refusal> refuse(const char* code, std::string message) {
  return token_refusal{code, std::move(message)};
}

/// A list of topic selectors from a claim, or nullopt when it is not one.
std::optional<std::vector<std::string>> selectors(const json& v) {
  if (!v.is_array() || v.size() > max_grants)
    return std::nullopt;
  std::vector<std::string> out;
  for (auto& s : v) {
    if (!s.is_string() || validate_pattern(s.get_ref<const std::string&>()))
      return std::nullopt;
    out.push_back(s.get<std::string>());
  }
  return out;
}

/// The `herald` claim into `p`; an error message when it is malformed.
std::optional<std::string> read_herald_claim(const json& claims, principal& p) {
  auto it = claims.find("herald");
  if (it == claims.end())
    return std::nullopt; // a token that grants nothing (but authenticates its sub)
  if (!it->is_object())
    return std::string{"the 'herald' claim must be an object"};
  for (auto m = it->begin(); m != it->end(); ++m) {
    auto& k = m.key();
    if (k == "publish" || k == "subscribe") {
      auto list = selectors(*m);
      if (!list)
        return "herald." + k + " must be a list of at most 256 topic selectors";
      (k == "publish" ? p.publish : p.subscribe) = std::move(*list);
    } else if (k == "admin") {
      if (!m->is_boolean())
        return std::string{"herald.admin must be a boolean"};
      p.admin = m->get<bool>();
    } else if (k == "roles") {
      if (!m->is_array() || m->size() > max_grants)
        return std::string{"herald.roles must be a list of at most 256 strings"};
      for (auto& r : *m) {
        if (!r.is_string() || r.get_ref<const std::string&>().empty())
          return std::string{"herald.roles must contain only non-empty strings"};
        p.roles.push_back(r.get<std::string>());
      }
    }
    // Other members are ignored: newer tokens may carry more.
  }
  return std::nullopt;
}

/// The `mercure` claim into `p` (Mercure's protocol); an error message when it is malformed.
/// Selectors are any strings (IRIs, `*`, URI templates), each at most 2,048 bytes.
std::optional<std::string> read_mercure_claim(const json& claims, principal& p) {
  auto it = claims.find("mercure");
  if (it == claims.end())
    return std::nullopt;
  if (!it->is_object())
    return std::string{"the 'mercure' claim must be an object"};
  for (auto m = it->begin(); m != it->end(); ++m) {
    auto& k = m.key();
    if (k == "publish" || k == "subscribe") {
      auto& into = k == "publish" ? p.mercure_publish : p.mercure_subscribe;
      if (!m->is_array() || m->size() > max_grants)
        return "mercure." + k + " must be a list of at most 256 topic selectors";
      for (auto& s : *m) {
        if (!s.is_string() || s.get_ref<const std::string&>().size() > 2048)
          return "mercure." + k + " must contain only strings of at most 2048 bytes";
        into.push_back(s.get<std::string>());
      }
    } else if (k == "payload") {
      p.mercure_payload = m->dump();
    }
  }
  return std::nullopt;
}

/// A NumericDate claim (RFC 7519 2) as whole seconds, or nullopt when it is not a number.
std::optional<std::int64_t> numeric_date(const json& v) {
  if (v.is_number_integer())
    return v.get<std::int64_t>();
  if (v.is_number_unsigned())
    return static_cast<std::int64_t>(std::min<std::uint64_t>(v.get<std::uint64_t>(), INT64_MAX));
  if (v.is_number_float()) {
    auto d = v.get<double>();
    if (d != d || d > 9.2e18 || d < -9.2e18)
      return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

bool verify_signature(const key_set::key& k, std::string_view signing_input,
                      std::string_view signature) {
  if (is_hs(k.alg)) {
    // HMAC through OpenSSL, compared in constant time (the library compares with ==).
    const EVP_MD* md = k.alg == "HS256" ? EVP_sha256() : k.alg == "HS384" ? EVP_sha384()
                                                                           : EVP_sha512();
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (HMAC(md, k.material.data(), static_cast<int>(k.material.size()),
             reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(),
             mac, &len)
        == nullptr)
      return false;
    auto given = b64url_decode(signature);
    return given.size() == len && CRYPTO_memcmp(given.data(), mac, len) == 0;
  }
  if (is_ps(k.alg) || k.alg == "EdDSA") {
    // Algorithms the library does not implement, through OpenSSL's EVP interface: RSASSA-PSS
    // with MGF1 of the same hash and a salt as long as the hash (RFC 7518 3.5), and Ed25519 /
    // Ed448 (RFC 8037). The signature's bytes come from the library's base64url decoder.
    auto key = read_public_key(k.material);
    if (!key)
      return false;
    auto sig = b64url_decode(signature);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(),
                                                                 EVP_MD_CTX_free};
    EVP_PKEY_CTX* pctx = nullptr;
    const EVP_MD* md = k.alg == "EdDSA" ? nullptr : digest_of(k.alg);
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key.get()) != 1)
      return false;
    if (md != nullptr
        && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1
            || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1))
      return false;
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                            sig.size(),
                            reinterpret_cast<const unsigned char*>(signing_input.data()),
                            signing_input.size())
           == 1;
  }
  jwt::jwt_signature sig{k.material};
  jwt::jwt_header header{jwt::str_to_alg(k.alg)};
  auto [ok, ec] = sig.verify(header, signing_input, signature);
  return ok && !ec;
}

} // namespace

const std::vector<std::string>& supported_algorithms() {
  static const std::vector<std::string> algs{"HS256", "HS384", "HS512", "RS256", "RS384",
                                             "RS512", "PS256", "PS384", "PS512", "ES256",
                                             "ES384", "ES512", "EdDSA"};
  return algs;
}

std::variant<std::shared_ptr<const key_set>, std::string> key_set::load(const token_rules& rules) {
  using result = std::variant<std::shared_ptr<const key_set>, std::string>;
  auto set = std::make_shared<key_set>();
  set->rules_ = rules;
  std::size_t i = 0;
  for (auto& spec : rules.keys) {
    auto where = "auth.keys[" + std::to_string(i++) + "]"
                 + (spec.kid.empty() ? std::string{} : " (kid '" + spec.kid + "')") + ": ";
    if (std::find(supported_algorithms().begin(), supported_algorithms().end(), spec.alg)
        == supported_algorithms().end())
      return result{std::in_place_index<1>,
                    where + "alg '" + spec.alg
                      + "' is not supported (HS256/384/512, RS256/384/512, PS256/384/512, "
                        "ES256/384/512, EdDSA)"};
    key k{spec.kid, spec.alg, {}};
    if (is_hs(spec.alg)) {
      if (!spec.public_key_file.empty())
        return result{std::in_place_index<1>, where + spec.alg + " takes a secret, not a public key"};
      if (!spec.secret.empty() == !spec.secret_file.empty())
        return result{std::in_place_index<1>, where + "give exactly one of secret, secret_file"};
      if (!spec.secret_file.empty()) {
        auto text = read_file(spec.secret_file);
        if (!text)
          return result{std::in_place_index<1>, where + "cannot read '" + spec.secret_file + "'"};
        // A trailing newline (echo > file) is not part of the secret.
        while (!text->empty() && (text->back() == '\n' || text->back() == '\r'))
          text->pop_back();
        k.material = std::move(*text);
      } else {
        k.material = spec.secret;
      }
      if (k.material.size() < min_hs_secret_bytes)
        return result{std::in_place_index<1>,
                      where + "HS secrets must be at least 32 bytes (this one has "
                        + std::to_string(k.material.size()) + ")"};
    } else {
      if (spec.public_key_file.empty() || !spec.secret.empty() || !spec.secret_file.empty())
        return result{std::in_place_index<1>, where + spec.alg + " needs public_key_file only"};
      auto pem = read_file(spec.public_key_file);
      if (!pem)
        return result{std::in_place_index<1>,
                      where + "cannot read '" + spec.public_key_file + "'"};
      if (auto err = check_public_key(*pem, spec.alg))
        return result{std::in_place_index<1>, where + "'" + spec.public_key_file + "' " + *err};
      k.material = std::move(*pem);
    }
    set->keys_.push_back(std::move(k));
  }
  if (!rules.jwks_file.empty())
    if (auto err = load_jwks(rules.jwks_file, set->keys_))
      return result{std::in_place_index<1>, *err};
  for (std::size_t a = 0; a < set->keys_.size(); ++a)
    for (std::size_t b = a + 1; b < set->keys_.size(); ++b)
      if (!set->keys_[a].kid.empty() && set->keys_[a].kid == set->keys_[b].kid)
        return result{std::in_place_index<1>,
                      "auth: two keys have the kid '" + set->keys_[a].kid + "'"};
  return result{std::in_place_index<0>, std::move(set)};
}

std::variant<principal, token_refusal> key_set::verify(std::string_view token,
                                                       std::int64_t now) const {
  if (token.size() > max_token_bytes)
    return refuse("token_too_large", "the token is over 8 KiB");
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return refuse("token_malformed", "a token is three base64url parts separated by '.'");
  auto head_part = token.substr(0, dot1);
  auto claims_part = token.substr(dot1 + 1, dot2 - dot1 - 1);
  auto sig_part = token.substr(dot2 + 1);
  if (head_part.empty() || claims_part.empty() || !base64url_chars(head_part)
      || !base64url_chars(claims_part) || !base64url_chars(sig_part))
    return refuse("token_malformed", "a token is three base64url parts separated by '.'");
  auto header = json::parse(b64url_decode(head_part), nullptr, false);
  if (header.is_discarded() || !header.is_object())
    return refuse("token_malformed", "the token's header is not a JSON object");
  auto alg_it = header.find("alg");
  if (alg_it == header.end() || !alg_it->is_string())
    return refuse("token_malformed", "the token's header has no 'alg'");
  auto alg = alg_it->get<std::string>();
  if (header.contains("crit"))
    return refuse("token_malformed", "the token's header has critical extensions ('crit')");
  if (sig_part.empty())
    return refuse("alg_not_allowed", "unsigned tokens are never accepted");
  std::vector<const key*> candidates;
  if (auto kid_it = header.find("kid"); kid_it != header.end()) {
    if (!kid_it->is_string())
      return refuse("token_malformed", "the token's 'kid' must be a string");
    auto kid = kid_it->get<std::string>();
    auto it = std::find_if(keys_.begin(), keys_.end(), [&](const key& k) { return k.kid == kid; });
    if (it == keys_.end())
      return refuse("unknown_key", "no key has the token's kid");
    if (it->alg != alg)
      return refuse("alg_not_allowed", "the token's alg is not the algorithm of its key");
    candidates.push_back(&*it);
  } else {
    for (auto& k : keys_)
      if (k.alg == alg)
        candidates.push_back(&k);
    if (candidates.empty())
      return refuse("alg_not_allowed", "no key accepts tokens signed with this alg");
  }
  auto signing_input = token.substr(0, dot2);
  bool verified = false;
  try {
    verified = std::any_of(candidates.begin(), candidates.end(), [&](const key* k) {
      return verify_signature(*k, signing_input, sig_part);
    });
  } catch (const std::exception&) {
    verified = false;
  }
  if (!verified)
    return refuse("bad_signature", "the token's signature does not verify");
  // Signed by one of our keys: now its claims may be read.
  auto claims = json::parse(b64url_decode(claims_part), nullptr, false);
  if (claims.is_discarded() || !claims.is_object())
    return refuse("token_malformed", "the token's claims are not a JSON object");
  principal p;
  p.from = principal::origin::token;
  if (auto exp = claims.find("exp"); exp != claims.end()) {
    auto t = numeric_date(*exp);
    if (!t)
      return refuse("token_malformed", "'exp' must be a number of seconds");
    // RFC 7519 4.1.4: not accepted on or after exp (plus the leeway).
    if (now >= *t + rules_.leeway_seconds)
      return refuse("token_expired", "the token has expired");
    p.expires_at = *t;
  }
  if (auto nbf = claims.find("nbf"); nbf != claims.end()) {
    auto t = numeric_date(*nbf);
    if (!t)
      return refuse("token_malformed", "'nbf' must be a number of seconds");
    if (now + rules_.leeway_seconds < *t)
      return refuse("token_not_yet_valid", "the token is not valid yet");
  }
  if (!rules_.issuer.empty()) {
    auto iss = claims.find("iss");
    if (iss == claims.end() || !iss->is_string() || *iss != rules_.issuer)
      return refuse("wrong_issuer", "the token's issuer is not accepted here");
  }
  if (!rules_.audience.empty()) {
    auto aud = claims.find("aud");
    bool ok = aud != claims.end()
              && ((aud->is_string() && *aud == rules_.audience)
                  || (aud->is_array()
                      && std::find(aud->begin(), aud->end(), json(rules_.audience))
                           != aud->end()));
    if (!ok)
      return refuse("wrong_audience", "the token is not meant for this hub");
  }
  // Mercure's tokens usually name no subject: with a `mercure` claim, `sub` is optional.
  auto sub = claims.find("sub");
  bool mercure = claims.contains("mercure");
  if (sub == claims.end() && mercure) {
    // no subject
  } else if (sub == claims.end() || !sub->is_string()
             || sub->get_ref<const std::string&>().empty()
             || sub->get_ref<const std::string&>().size() > 256) {
    return refuse("token_malformed", "'sub' is required (a string of 1 to 256 bytes)");
  } else {
    p.sub = sub->get<std::string>();
  }
  if (auto err = read_herald_claim(claims, p))
    return refuse("token_malformed", *err);
  if (auto err = read_mercure_claim(claims, p))
    return refuse("token_malformed", *err);
  if (p.sub.empty() && (!p.publish.empty() || !p.subscribe.empty() || p.admin || !p.roles.empty()))
    return refuse("token_malformed", "a token with 'herald' grants needs a 'sub'");
  return p;
}

std::variant<std::string, std::string> mint_token(const std::string& alg, const std::string& key,
                                                  const std::string& kid,
                                                  const std::string& claims_json) {
  using result = std::variant<std::string, std::string>;
  if (!is_hs(alg) && !is_rs(alg) && !is_es(alg))
    return result{std::in_place_index<1>,
                  "herald token signs HS*, RS* and ES* (the JWT library's algorithms); mint "
                  "PS* and EdDSA tokens with your identity provider"};
  if (is_hs(alg) && key.size() < min_hs_secret_bytes)
    return result{std::in_place_index<1>, "HS secrets must be at least 32 bytes"};
  auto claims = json::parse(claims_json, nullptr, false);
  if (!claims.is_object())
    return result{std::in_place_index<1>, "claims must be a JSON object"};
  try {
    jwt::jwt_object obj{jwt::params::algorithm(alg), jwt::params::secret(key)};
    if (!kid.empty())
      obj.header().add_header("kid", kid);
    for (auto it = claims.begin(); it != claims.end(); ++it)
      obj.payload().add_claim(it.key(), it.value());
    std::error_code ec;
    auto token = obj.signature(ec);
    if (ec)
      return result{std::in_place_index<1>, "signing failed: " + ec.message()};
    return result{std::in_place_index<0>, std::move(token)};
  } catch (const std::exception& e) {
    return result{std::in_place_index<1>, std::string{"signing failed: "} + e.what()};
  }
}

} // namespace herald

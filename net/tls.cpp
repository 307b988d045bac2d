#include "net/tls.hpp"

#include <openssl/ssl.h>

namespace herald {

std::variant<std::shared_ptr<boost::asio::ssl::context>, std::string>
make_tls_context(const std::string& cert_file, const std::string& key_file) {
  namespace ssl = boost::asio::ssl;
  using result = std::variant<std::shared_ptr<ssl::context>, std::string>;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2
                     | ssl::context::no_sslv3 | ssl::context::no_tlsv1
                     | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                   ec);
  auto* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // TLS 1.2: ECDHE with AES-GCM or ChaCha20-Poly1305 only (TLS 1.3's suites are all AEAD).
  SSL_CTX_set_cipher_list(native, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec)
    return result{std::in_place_index<1>,
                  "tls.cert_file '" + cert_file + "': " + ec.message()};
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec)
    return result{std::in_place_index<1>, "tls.key_file '" + key_file + "': " + ec.message()};
  if (SSL_CTX_check_private_key(native) != 1)
    return result{std::in_place_index<1>,
                  "tls.key_file '" + key_file + "' does not match tls.cert_file"};
  return result{std::in_place_index<0>, std::move(ctx)};
}

} // namespace herald

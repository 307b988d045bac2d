#pragma once
// HTTPS: the TLS context of the listener (tls.cert_file, tls.key_file; PEM, chain allowed), TLS
// 1.2 and 1.3 only, with forward-secret AEAD ciphers. Reloaded on SIGHUP: connections accepted
// after the reload use the new certificate, those already open keep theirs.

#include <memory>
#include <string>
#include <variant>

#include <boost/asio/ssl/context.hpp>

namespace herald {

/// The server context for `cert_file` and `key_file`, or why it cannot be made.
std::variant<std::shared_ptr<boost::asio::ssl::context>, std::string>
make_tls_context(const std::string& cert_file, const std::string& key_file);

} // namespace herald

// Outbox-Signature: the receiver recomputes the HMAC over the raw body with the shared secret and
// compares, so it can tell our POSTs from anyone else's (the GitHub/Stripe webhook convention).
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "outbox/errors.hpp"
#include "outbox/webhook.hpp"

namespace outbox::webhook {

std::string signature(const std::string& secret, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &length) == nullptr) {
    throw Error("OpenSSL could not compute an HMAC-SHA256");
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned int i = 0; i < length; ++i) {
    out += digits[mac[i] >> 4];
    out += digits[mac[i] & 0xf];
  }
  return out;
}

}  // namespace outbox::webhook

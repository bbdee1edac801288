// The HTTP webhook sink (cpp-httplib and OpenSSL, linked privately; neither header is included here).
//
// URI form, as the CLI takes it:
//   http[s]://[USER:PASSWORD@]HOST[:PORT][/PATH][?format=json|cloudevents&batch=N&timeout_ms=N
//                                                 &secret_env=VAR&ca_file=PATH&source=URI]
// The query belongs to the sink and is not sent; every key of it must be one of the above.
// Each message is POSTed to PATH; docs/webhook.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "outbox/scheme.hpp"
#include "outbox/sink.hpp"

namespace outbox::webhook {

struct SinkOptions {
  bool tls = false;  // https://
  std::string host = "127.0.0.1";
  int port = 0;  // 0: 80 for http, 443 for https
  std::string path = "/";
  // The endpoint's own query string (without '?'), sent with every POST; from the URI's
  // percent-encoded `query=` parameter, since the URI's query holds the sink's options. Never shown
  // in describe(), health or logs: endpoints often carry a token there.
  std::string query;
  std::string user;  // HTTP basic authentication, when password is set
  std::string password;
  // The body: the message's JSON form (outbox::to_json_line), or a CloudEvents structured-mode
  // document (Content-Type application/cloudevents+json).
  bool cloudevents = false;
  std::string cloudevents_source;  // CloudEvents `source`; defaults to "/outbox/{outbox}"
  // Messages per POST: 1 sends each message alone (with its envelope as Outbox-* headers); more
  // sends a JSON array of up to that many (application/cloudevents-batch+json in CloudEvents mode).
  int batch = 1;
  // Bounds connecting, sending and waiting for the answer; past it the message fails retryable.
  std::int64_t timeout_ms = 10000;
  // The HMAC-SHA256 key for the Outbox-Signature header: the *value* of this environment variable,
  // read when the sink is made. Empty: no signature.
  std::string secret_env;
  std::string secret;  // set from secret_env by make_sink; may be given directly
  // https: the CA certificates (PEM file) that the server's certificate must chain to; empty: the
  // system's. Verification is always on.
  std::string ca_file;
};

// Sends one POST at a time on one keep-alive connection, so per-key order holds trivially.
std::unique_ptr<Sink> make_sink(SinkOptions options);

// Parses the URI form above (make_sink reads secret_env from the environment); throws UsageError saying
// what is wrong, never echoing the password.
SinkOptions parse_uri(const std::string& uri);

// "sha256=" and the lower-case hex HMAC-SHA256 of `body` under `secret`: the Outbox-Signature value.
std::string signature(const std::string& secret, const std::string& body);

extern const SinkScheme sink_scheme;  // http://... and https://..., for the scheme table

}  // namespace outbox::webhook

// Fuzzes decoding of a message from its JSON form: message_from_json, which reads dead letters back
// from every store (they are stored as JSON text) and is how consumers of the file sink read its
// lines. The contract checked: it throws ValidationError or returns a message whose JSON line
// (to_json_line, what the file and stdout sinks write) parses, equals to_json of the message, and
// decodes again to the same message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "outbox/errors.hpp"
#include "outbox/message.hpp"

namespace {

bool same(const outbox::Message& a, const outbox::Message& b) {
  return a.id == b.id && a.outbox == b.outbox && a.type == b.type && a.key == b.key && a.data == b.data &&
         a.headers == b.headers && a.created == b.created && a.position == b.position;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  outbox::Message m;
  try {
    m = outbox::message_from_json(j);
  } catch (const outbox::ValidationError&) {
    return 0;
  }
  const std::string line = outbox::to_json_line(m);
  const nlohmann::json written = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (written.is_discarded()) std::abort();  // a sink would write a line no consumer can read
  if (written != outbox::to_json(m)) std::abort();
  outbox::Message again;
  try {
    again = outbox::message_from_json(written);
  } catch (const outbox::ValidationError&) {
    std::abort();  // what a sink wrote cannot be decoded again
  }
  if (!same(m, again)) std::abort();
  return 0;
}

#include "checked_json.hpp"

#include <optional>
#include <vector>

#include "outbox/errors.hpp"
#include "outbox/json_writer.hpp"

namespace outbox::detail {

namespace {

// Where the writer is in `data`, as a chain through the stack: nothing is built for it unless an
// error has to name the place.
struct PathStep {
  const PathStep* parent;
  const std::string* key;  // a member's name; null for an array element
  std::size_t index;
};

std::string pointer_of(const PathStep* at) {
  std::vector<const PathStep*> steps;
  for (const PathStep* s = at; s != nullptr; s = s->parent) steps.push_back(s);
  std::string out = "/data";
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    out += '/';
    out += (*it)->key != nullptr ? escape_pointer_token(*(*it)->key) : std::to_string((*it)->index);
  }
  return out;
}

// A JsonWriter walking a JSON value: tracks where it is, so that an error can name the place, and
// keeps the precedence of the errors.
class CheckedWriter {
 public:
  explicit CheckedWriter(std::size_t max_bytes, std::size_t max_depth) : out_(max_bytes), max_depth_(max_depth) {}

  void value(const nlohmann::json& v, std::size_t depth, const PathStep* at) {
    using Kind = nlohmann::json::value_t;
    switch (v.type()) {
      case Kind::object: {
        enter(depth, at);
        out_.put('{');
        bool first = true;
        for (const auto& [name, child] : v.get_ref<const nlohmann::json::object_t&>()) {
          if (!first) out_.put(',');
          first = false;
          const PathStep step{at, &name, 0};
          if (!out_.string(name)) note(&step, "utf-8", "member name is not valid UTF-8");
          out_.put(':');
          value(child, depth + 1, &step);
        }
        out_.put('}');
        break;
      }
      case Kind::array: {
        enter(depth, at);
        out_.put('[');
        std::size_t index = 0;
        for (const auto& child : v.get_ref<const nlohmann::json::array_t&>()) {
          if (index != 0) out_.put(',');
          const PathStep step{at, nullptr, index++};
          value(child, depth + 1, &step);
        }
        out_.put(']');
        break;
      }
      case Kind::string:
        if (!out_.string(v.get_ref<const std::string&>())) note(at, "utf-8", "string is not valid UTF-8");
        break;
      case Kind::boolean:
        out_.boolean(v.get<bool>());
        break;
      case Kind::null:
        out_.null();
        break;
      case Kind::number_integer:
        out_.integer(v.get<std::int64_t>());
        break;
      case Kind::number_unsigned:
        out_.integer(v.get<std::uint64_t>());
        break;
      case Kind::number_float:
        if (!out_.number(v.get<double>())) {
          note(at, "number-range",
               "number is not finite (NaN or infinity), which JSON cannot represent: send a finite number, or a "
               "string");
        }
        break;
      default:  // binary and discarded: not from JSON text; as dump() writes them
        out_.append(v.dump());
        break;
    }
  }

  std::string finish(std::size_t limit) {
    if (out_.exceeded()) {
      throw ValidationError("/data", "max_payload_bytes",
                            "data takes more than " + std::to_string(limit) +
                                " bytes serialized, the limit: send less, or raise Limits::max_payload_bytes");
    }
    if (bad_) throw *bad_;
    return out_.take();
  }

 private:
  void enter(std::size_t depth, const PathStep* at) {
    if (depth > max_depth_) {
      throw ValidationError(pointer_of(at), "max_depth",
                            "nesting deeper than " + std::to_string(max_depth_) + " levels");
    }
  }

  // Keeps the first bad value in document order; the walk goes on, since a nesting error further
  // on, or the size, takes precedence.
  void note(const PathStep* at, const char* rule, const char* what) {
    if (!bad_) bad_.emplace(pointer_of(at), rule, what);
  }

  JsonWriter out_;
  std::size_t max_depth_;
  std::optional<ValidationError> bad_;
};

}  // namespace

std::string serialize_checked(const nlohmann::json& data, const Limits& limits) {
  CheckedWriter writer(limits.max_payload_bytes, limits.max_depth);
  writer.value(data, 1, nullptr);
  return writer.finish(limits.max_payload_bytes);
}

std::string serialize_headers(const Headers& headers) {
  if (headers.empty()) return {};
  JsonWriter writer;
  writer.put('{');
  bool first = true;
  for (const auto& [name, value] : headers) {
    if (!first) writer.put(',');
    first = false;
    (void)writer.string(name);  // the registry refused headers that are not UTF-8
    writer.put(':');
    (void)writer.string(value);
  }
  writer.put('}');
  return writer.take();
}

std::string escape_pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

}  // namespace outbox::detail

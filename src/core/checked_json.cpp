#include "checked_json.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "outbox/errors.hpp"
#include "utf8.hpp"

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

// The letter of dump()'s two-character escape for `c` (\" \\ \b \f \n \r \t), or 0: \u00XX.
constexpr char short_escape(unsigned char c) {
  switch (c) {
    case '"':
      return '"';
    case '\\':
      return '\\';
    case '\b':
      return 'b';
    case '\f':
      return 'f';
    case '\n':
      return 'n';
    case '\r':
      return 'r';
    case '\t':
      return 't';
    default:
      return 0;
  }
}

class CheckedWriter {
 public:
  explicit CheckedWriter(std::size_t max_bytes, std::size_t max_depth) : max_bytes_(max_bytes), max_depth_(max_depth) {
    out_.reserve(std::min<std::size_t>(max_bytes, 256));  // most events fit: one allocation, no regrowth
  }

  void value(const nlohmann::json& v, std::size_t depth, const PathStep* at) {
    using Kind = nlohmann::json::value_t;
    switch (v.type()) {
      case Kind::object: {
        enter(depth, at);
        put('{');
        bool first = true;
        for (const auto& [name, child] : v.get_ref<const nlohmann::json::object_t&>()) {
          if (!first) put(',');
          first = false;
          const PathStep step{at, &name, 0};
          if (!string(name) && !bad_) {
            bad_.emplace(pointer_of(&step), "utf-8", "member name is not valid UTF-8");
          }
          put(':');
          value(child, depth + 1, &step);
        }
        put('}');
        break;
      }
      case Kind::array: {
        enter(depth, at);
        put('[');
        std::size_t index = 0;
        for (const auto& child : v.get_ref<const nlohmann::json::array_t&>()) {
          if (index != 0) put(',');
          const PathStep step{at, nullptr, index++};
          value(child, depth + 1, &step);
        }
        put(']');
        break;
      }
      case Kind::string:
        if (!string(v.get_ref<const std::string&>()) && !bad_) {
          bad_.emplace(pointer_of(at), "utf-8", "string is not valid UTF-8");
        }
        break;
      case Kind::boolean:
        v.get<bool>() ? append("true", 4) : append("false", 5);
        break;
      case Kind::null:
        append("null", 4);
        break;
      case Kind::number_integer:
        integer(v.get<std::int64_t>());
        break;
      case Kind::number_unsigned:
        integer(v.get<std::uint64_t>());
        break;
      case Kind::number_float: {
        const double x = v.get<double>();
        if (!std::isfinite(x)) {
          // JSON has no NaN or infinity; dump() would silently write null.
          if (!bad_) {
            bad_.emplace(pointer_of(at), "number-range",
                         "number is not finite (NaN or infinity), which JSON cannot represent: send a "
                         "finite number, or a string");
          }
          append("null", 4);
          break;
        }
        char text[64];
        char* end = nlohmann::detail::to_chars(text, text + sizeof text, x);  // dump()'s own shortest form
        append(text, static_cast<std::size_t>(end - text));
        break;
      }
      default: {  // binary and discarded: not from JSON text; as dump() writes them
        const std::string text = v.dump();
        append(text.data(), text.size());
        break;
      }
    }
  }

  std::string finish(std::size_t limit) {
    if (exceeded_) {
      throw ValidationError("/data", "max_payload_bytes",
                            "data takes more than " + std::to_string(limit) +
                                " bytes serialized, the limit: send less, or raise Limits::max_payload_bytes");
    }
    if (bad_) throw *bad_;
    return std::move(out_);
  }

  void put(char c) { append(&c, 1); }

  // A JSON string: dump()'s escapes (\" \\ \b \f \n \r \t, \u00XX for other control characters),
  // every other byte as is. False when `s` is not UTF-8 (written anyway: the caller refuses it).
  bool string(const std::string& s) {
    put('"');
    const char* run = s.data();
    const char* const end = s.data() + s.size();
    unsigned char high = 0;
    for (const char* p = run; p != end; ++p) {
      const auto c = static_cast<unsigned char>(*p);
      if (c >= 0x20 && c != '"' && c != '\\') {
        high |= c;
        continue;
      }
      append(run, static_cast<std::size_t>(p - run));
      run = p + 1;
      if (const char letter = short_escape(c); letter != 0) {
        const char escaped[2] = {'\\', letter};
        append(escaped, 2);
      } else {
        static constexpr char hex[] = "0123456789abcdef";
        const char escaped[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
        append(escaped, 6);
      }
    }
    append(run, static_cast<std::size_t>(end - run));
    put('"');
    return (high & 0x80) == 0 || utf8::valid(s);
  }

 private:
  void enter(std::size_t depth, const PathStep* at) {
    if (depth > max_depth_) {
      throw ValidationError(pointer_of(at), "max_depth",
                            "nesting deeper than " + std::to_string(max_depth_) + " levels");
    }
  }

  template <class Integer>
  void integer(Integer n) {
    char text[24];
    const auto r = std::to_chars(text, text + sizeof text, n);
    append(text, static_cast<std::size_t>(r.ptr - text));
  }

  // Past the limit nothing more is kept, but the walk goes on: a nesting error further on still
  // takes precedence, as it did when depth was checked in a pass of its own.
  void append(const char* s, std::size_t n) {
    if (exceeded_) return;
    if (n > max_bytes_ - out_.size()) {
      exceeded_ = true;
      return;
    }
    out_.append(s, n);
  }

  std::size_t max_bytes_;
  std::size_t max_depth_;
  std::string out_;
  bool exceeded_ = false;
  std::optional<ValidationError> bad_;  // the first bad value in document order
};

}  // namespace

std::string serialize_checked(const nlohmann::json& data, const Limits& limits) {
  CheckedWriter writer(limits.max_payload_bytes, limits.max_depth);
  writer.value(data, 1, nullptr);
  return writer.finish(limits.max_payload_bytes);
}

std::string serialize_headers(const Headers& headers) {
  if (headers.empty()) return {};
  CheckedWriter writer(std::numeric_limits<std::size_t>::max(), 1);
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
  return writer.finish(0);
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

// Typed messages: a C++ struct per message kind whose JSON conversion and JSON Schema both come
// from one declaration, so the two cannot drift apart (the seed's open problem).
//
//   struct OrderCreated { std::int64_t ordernr; std::string customer; std::optional<std::string> note; };
//   OUTBOX_MESSAGE(OrderCreated, "order_created", ordernr, customer, note)
//
//   using OrderEvents = outbox::MessageSet<OrderCreated, OrderCompleted>;
//   outbox::sqlite::Outbox orders("orders", OrderEvents::registry());
//   OrderEvents::put(writer, OrderCreated{42, "ada", {}}, "order-42");  // other types: no compile
//
// Member types map to schemas: bool, integers (unsigned ones get minimum 0), floating point,
// std::string, std::optional<T> (the member is not required and is omitted when empty),
// std::vector<T>, std::map<std::string, T>, nlohmann::json (anything), and structs declared with
// OUTBOX_STRUCT. Objects get "additionalProperties": false, so producers and schema agree exactly.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "outbox/errors.hpp"
#include "outbox/json_writer.hpp"
#include "outbox/message.hpp"
#include "outbox/schema.hpp"

// Declares the members of a struct (at the struct's namespace scope).
#define OUTBOX_STRUCT(Type, ...)                                                \
  template <class OutboxVisitor>                                                \
  constexpr void outbox_for_each_field(const Type*, OutboxVisitor&& visit) {    \
    using outbox_self_t = Type;                                                 \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(OUTBOX_DETAIL_FIELD, __VA_ARGS__)) \
  }

// Declares a message kind: its members and the message type name used in the outbox.
#define OUTBOX_MESSAGE(Type, type_name, ...) \
  OUTBOX_STRUCT(Type, __VA_ARGS__)           \
  constexpr std::string_view outbox_type_name(const Type*) { return type_name; }

#define OUTBOX_DETAIL_FIELD(member) visit(#member, &outbox_self_t::member);

namespace outbox {

template <class T>
concept Struct = requires(const T* p) {
  outbox_for_each_field(p, [](const char*, auto) {});
};

template <class T>
concept MessageKind = Struct<T> && requires(const T* p) {
  { outbox_type_name(p) } -> std::convertible_to<std::string_view>;
};

template <MessageKind T>
constexpr std::string_view type_name_of() {
  return outbox_type_name(static_cast<const T*>(nullptr));
}

namespace detail {

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T>
struct is_string_map : std::false_type {};
template <class T, class C, class A>
struct is_string_map<std::map<std::string, T, C, A>> : std::true_type {};

template <class T>
nlohmann::json schema_of();

// An array item's or map value's schema: an empty optional there is written as null (a member's
// is left out instead), so null is allowed.
template <class T>
nlohmann::json element_schema_of() {
  if constexpr (is_optional<T>::value) {
    return {{"anyOf", nlohmann::json::array({schema_of<typename T::value_type>(), {{"type", "null"}}})}};
  } else {
    return schema_of<T>();
  }
}

template <class T>
nlohmann::json schema_of() {
  if constexpr (std::is_same_v<T, bool>) {
    return {{"type", "boolean"}};
  } else if constexpr (std::is_integral_v<T>) {
    nlohmann::json s = {{"type", "integer"}};
    if constexpr (std::is_unsigned_v<T>) s["minimum"] = 0;
    if constexpr (sizeof(T) < 8) {
      s["minimum"] = std::numeric_limits<T>::min();
      s["maximum"] = std::numeric_limits<T>::max();
    }
    return s;
  } else if constexpr (std::is_floating_point_v<T>) {
    return {{"type", "number"}};
  } else if constexpr (std::is_same_v<T, std::string>) {
    return {{"type", "string"}};
  } else if constexpr (std::is_same_v<T, nlohmann::json>) {
    return nlohmann::json::object();
  } else if constexpr (is_optional<T>::value) {
    return schema_of<typename T::value_type>();
  } else if constexpr (is_vector<T>::value) {
    return {{"type", "array"}, {"items", element_schema_of<typename T::value_type>()}};
  } else if constexpr (is_string_map<T>::value) {
    return {{"type", "object"}, {"additionalProperties", element_schema_of<typename T::mapped_type>()}};
  } else {
    static_assert(Struct<T>, "declare this member's type with OUTBOX_STRUCT, or use a supported type");
    nlohmann::json properties = nlohmann::json::object();
    nlohmann::json required = nlohmann::json::array();
    outbox_for_each_field(static_cast<const T*>(nullptr), [&](const char* name, auto member) {
      using M = std::remove_cvref_t<decltype(std::declval<const T&>().*member)>;
      properties[name] = schema_of<M>();
      if (!is_optional<M>::value) required.push_back(name);
    });
    return {{"type", "object"}, {"properties", properties}, {"required", required}, {"additionalProperties", false}};
  }
}

template <class T>
nlohmann::json encode(const T& value) {
  if constexpr (is_optional<T>::value) {
    return value ? encode(*value) : nlohmann::json();
  } else if constexpr (is_vector<T>::value) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& v : value) a.push_back(encode(v));
    return a;
  } else if constexpr (is_string_map<T>::value) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& [k, v] : value) o[k] = encode(v);
    return o;
  } else if constexpr (Struct<T>) {
    nlohmann::json o = nlohmann::json::object();
    // Into the object's map directly: operator[] would look the name up, insert a null and then
    // assign, on every put.
    auto& members = o.get_ref<nlohmann::json::object_t&>();
    outbox_for_each_field(static_cast<const T*>(nullptr), [&](const char* name, auto member) {
      const auto& field = value.*member;
      if constexpr (is_optional<std::remove_cvref_t<decltype(field)>>::value) {
        if (!field) return;
      }
      members.emplace(name, encode(field));
    });
    return o;
  } else {
    return nlohmann::json(value);
  }
}

// True when T holds no nlohmann::json anywhere: its text can be written straight from the value
// (write_value below), every value of it being of a shape known at compile time.
template <class T>
constexpr bool writes_directly() {
  if constexpr (std::is_same_v<T, nlohmann::json>) {
    return false;
  } else if constexpr (is_optional<T>::value || is_vector<T>::value) {
    return writes_directly<typename T::value_type>();
  } else if constexpr (is_string_map<T>::value) {
    return writes_directly<typename T::mapped_type>();
  } else if constexpr (Struct<T>) {
    bool all = true;
    outbox_for_each_field(static_cast<const T*>(nullptr), [&all](const char*, auto member) {
      using M = std::remove_cvref_t<decltype(std::declval<const T&>().*member)>;
      all = all && writes_directly<M>();
    });
    return all;
  } else {
    return true;
  }
}

// A struct's member names, and their declaration indices in name order: the order nlohmann::json
// keeps an object's members in, and so the order dump() writes them in. Computed at compile time.
struct FieldNames {
  std::size_t count = 0;
  std::array<std::string_view, 64> names{};  // in declaration order (OUTBOX_STRUCT takes <= 63)
  std::array<std::uint8_t, 64> by_name{};
};

template <class T>
constexpr FieldNames field_names() {
  FieldNames f;
  outbox_for_each_field(static_cast<const T*>(nullptr), [&f](const char* name, auto) {
    f.names[f.count] = name;
    f.by_name[f.count] = static_cast<std::uint8_t>(f.count);
    ++f.count;
  });
  std::sort(f.by_name.begin(), f.by_name.begin() + static_cast<std::ptrdiff_t>(f.count),
            [&f](std::uint8_t a, std::uint8_t b) { return f.names[a] < f.names[b]; });
  return f;
}

template <class T>
inline constexpr FieldNames kFieldNames = field_names<T>();

// A typed value's text as it is written, and what the registry needs to know about it.
struct TypedText {
  JsonWriter out;
  std::size_t depth = 0;  // the deepest object or array, the data object being 1
  bool clean = true;      // every string UTF-8, every number finite

  void enter(std::size_t at) { depth = std::max(depth, at); }
  void member_name(std::string_view name) {  // a C++ identifier: nothing to escape
    out.put('"');
    out.append(name);
    out.append("\":", 2);
  }
};

template <class T>
void write_value(const T& value, TypedText& w, std::size_t depth);

// Writes the member of `value` declared at index I, preceded by a comma unless it is the first one
// written, or nothing when it is an empty optional (encode() omits it).
template <std::size_t I, class T>
void write_member(const T& value, TypedText& w, std::size_t depth, bool& first) {
  std::size_t index = 0;
  // Visits every member but acts on one: once inlined, the index is known at each visit and the
  // others fold away.
  outbox_for_each_field(static_cast<const T*>(nullptr), [&](const char*, auto member) {
    if (index++ != I) return;
    const auto& field = value.*member;
    if constexpr (is_optional<std::remove_cvref_t<decltype(field)>>::value) {
      if (!field) return;
    }
    if (!first) w.out.put(',');
    first = false;
    w.member_name(kFieldNames<T>.names[I]);
    write_value(field, w, depth + 1);
  });
}

// Writes what dump() writes for encode(value), without building that JSON value.
template <class T>
void write_value(const T& value, TypedText& w, std::size_t depth) {
  if constexpr (is_optional<T>::value) {
    value ? write_value(*value, w, depth) : w.out.null();
  } else if constexpr (is_vector<T>::value) {
    w.enter(depth);
    w.out.put('[');
    bool first = true;
    for (const auto& v : value) {
      if (!first) w.out.put(',');
      first = false;
      write_value(v, w, depth + 1);
    }
    w.out.put(']');
  } else if constexpr (is_string_map<T>::value) {
    w.enter(depth);
    w.out.put('{');
    bool first = true;
    for (const auto& [k, v] : value) {
      if (!first) w.out.put(',');
      first = false;
      w.clean = w.out.string(k) && w.clean;
      w.out.put(':');
      write_value(v, w, depth + 1);
    }
    w.out.put('}');
  } else if constexpr (Struct<T>) {
    w.enter(depth);
    w.out.put('{');
    // Straight in name order: nothing is written twice or moved.
    bool first = true;
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (write_member<kFieldNames<T>.by_name[K]>(value, w, depth, first), ...);
    }
    (std::make_index_sequence<kFieldNames<T>.count>{});
    w.out.put('}');
  } else if constexpr (std::is_same_v<T, bool>) {
    w.out.boolean(value);
  } else if constexpr (std::is_integral_v<T>) {
    if constexpr (std::is_signed_v<T>) {
      w.out.integer(static_cast<std::int64_t>(value));
    } else {
      w.out.integer(static_cast<std::uint64_t>(value));
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    w.clean = w.out.number(static_cast<double>(value)) && w.clean;
  } else {
    static_assert(std::is_same_v<T, std::string>, "a member type encode() does not write directly");
    w.clean = w.out.string(value) && w.clean;
  }
}

template <class T>
void decode(const nlohmann::json& j, T& out, const std::string& pointer) {
  try {
    if constexpr (is_optional<T>::value) {
      if (j.is_null()) {
        out.reset();
      } else {
        typename T::value_type v{};
        decode(j, v, pointer);
        out = std::move(v);
      }
    } else if constexpr (is_vector<T>::value) {
      out.clear();
      for (std::size_t i = 0; i < j.size(); ++i) {
        typename T::value_type v{};
        decode(j.at(i), v, pointer + "/" + std::to_string(i));
        out.push_back(std::move(v));
      }
    } else if constexpr (is_string_map<T>::value) {
      out.clear();
      for (const auto& [k, v] : j.items()) decode(v, out[k], pointer + "/" + k);
    } else if constexpr (Struct<T>) {
      if (!j.is_object()) throw ValidationError(pointer, "type", "expected an object");
      outbox_for_each_field(static_cast<const T*>(nullptr), [&](const char* name, auto member) {
        auto& field = out.*member;
        auto it = j.find(name);
        if (it == j.end()) {
          if constexpr (is_optional<std::remove_cvref_t<decltype(field)>>::value) {
            field.reset();
            return;
          } else {
            throw ValidationError(pointer + "/" + name, "required", "member is missing");
          }
        }
        decode(*it, field, pointer + "/" + name);
      });
    } else {
      out = j.get<T>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw ValidationError(pointer, "type", e.what());
  }
}

}  // namespace detail

// The JSON Schema of a message kind's `data`, derived from its declaration.
template <Struct T>
nlohmann::json schema_of() {
  return detail::schema_of<T>();
}

namespace detail {
struct TypedOriginAccess {
  static TypedOrigin make(const nlohmann::json* schema) noexcept { return TypedOrigin(schema); }

  template <class T>
  static TypedOrigin written(const nlohmann::json* schema, const T& value, const TypedText& text) noexcept {
    TypedOrigin o(schema);
    o.value_ = &value;
    o.encode_ = [](const void* v) { return encode(*static_cast<const T*>(v)); };
    o.depth_ = text.depth;
    o.clean_ = text.clean;
    return o;
  }
};
}  // namespace detail

// A closed set of message kinds for one outbox.
template <MessageKind... Kinds>
class MessageSet {
 public:
  template <class T>
  static constexpr bool contains = (std::same_as<T, Kinds> || ...);

  static SchemaRegistry registry(Limits limits = {}) {
    SchemaRegistry r(limits);
    (r.add(std::string(type_name_of<Kinds>()), schema_of<Kinds>()), ...);
    return r;
  }

  // Builds the envelope of a typed message. Only the set's own kinds compile.
  template <class T>
  requires contains<T>
  static Message make(const T& value, std::optional<std::string> key = {}, Headers headers = {}) {
    Message m;
    m.type = std::string(type_name_of<T>());
    m.key = std::move(key);
    m.data = detail::encode(value);
    m.headers = std::move(headers);
    return m;
  }

  // Puts through any writer with `Message put(Message)` (e.g. outbox::sqlite::Writer) that runs
  // outbox::prepare_put, as every store's does. The message goes to the writer marked with its
  // TypedOrigin: where the outbox's schema for the type is the derived one, the registry does not
  // check the schema again (the encoding guarantees it) and keeps the checks no type can guarantee.
  //
  // A type with no nlohmann::json member is written straight to text: the message reaches the
  // writer with `data_json` filled and `data` null, and so does the returned message (the caller
  // has the value; MessageSet::decode or serialized_data read it back). Other types build `data`.
  template <class Writer, class T>
  requires contains<T>
  static Message put(Writer& writer, const T& value, std::optional<std::string> key = {}, Headers headers = {}) {
    // `data` null, not the default empty object: no allocation.
    Message m{.id = {},
              .outbox = {},
              .type = std::string(type_name_of<T>()),
              .key = std::move(key),
              .data = nlohmann::json(),
              .headers = std::move(headers),
              .created = {},
              .position = 0,
              .checkpoint = {},
              .data_json = {},
              .typed_origin = {}};
    if constexpr (detail::writes_directly<T>()) {
      detail::TypedText text;
      detail::write_value(value, text, 1);
      m.data_json = text.out.take();
      m.typed_origin = detail::TypedOriginAccess::written(&derived_schema<T>(), value, text);
    } else {
      m.data = detail::encode(value);
      m.typed_origin = detail::TypedOriginAccess::make(&derived_schema<T>());
    }
    Message stored = writer.put(std::move(m));
    stored.typed_origin.reset();  // it points at `value`, which the caller may destroy next
    return stored;
  }

  // The schema derived from T, built once per program.
  template <class T>
  static const nlohmann::json& derived_schema() {
    static const nlohmann::json schema = schema_of<T>();
    return schema;
  }

  // Turns a delivered message back into its kind. Throws ValidationError for other types.
  static std::variant<Kinds...> decode(const Message& m) {
    std::optional<std::variant<Kinds...>> result;
    (try_decode<Kinds>(m, result), ...);
    if (!result) throw ValidationError("", "type", "unknown message type '" + m.type + "'");
    return std::move(*result);
  }

 private:
  template <class T>
  static void try_decode(const Message& m, std::optional<std::variant<Kinds...>>& result) {
    if (result || m.type != type_name_of<T>()) return;
    T value{};
    detail::decode(m.data, value, "");
    result.emplace(std::in_place_type<T>, std::move(value));
  }
};

}  // namespace outbox

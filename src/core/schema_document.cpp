// Prepares a draft-07 schema for valijson, which cannot be handed one as written:
//  - valijson resolves `$ref` while it compiles and applies schemas recursively while it
//    validates, so a cycle that never descends into the data ({"$ref": "#"}, a -> b -> a,
//    {"allOf": [{"$ref": "#"}]}) overflows the stack. The schema is read as a graph of its
//    subschemas first; such cycles are refused, naming them, and so is a schema whose validation
//    could recurse deeper than kMaxValidationRecursion for data within the depth limit.
//    Recursion through `properties`, `items` and the other keywords that descend into the data
//    is bounded by the data's depth and stays allowed (a tree of nodes).
//  - valijson follows `$id` only as draft 3's `id` and cannot fetch other documents, so every
//    `$ref` is resolved here (JSON pointers, `$id` base URIs, plain-name fragments) and rewritten
//    into a pointer into this one document; a reference to another document is refused.
//  - valijson's strict `type` says 1.0 is not an integer (draft-07 says it is), so `type` becomes
//    a custom keyword too.
//  - valijson runs `pattern`, `format` and `patternProperties` with std::regex (unbounded
//    backtracking, one stack frame per input character). They become custom keywords evaluated
//    with RE2 (schema.cpp). `patternProperties` is expressed through `additionalProperties` and
//    `allOf` (see rewrite_pattern_properties) so that valijson's own property handling, and its
//    interplay with `additionalProperties`, stays intact.
#include "schema_document.hpp"

#include <algorithm>
#include <cctype>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

#include <re2/re2.h>

#include "outbox/errors.hpp"

namespace outbox::schema_document {

namespace {

using json = nlohmann::json;
using Tokens = std::vector<std::string>;

constexpr const char* kMovedPatternProperties = "x-outbox-patternProperties";
constexpr const char* kMovedAdditionalProperties = "x-outbox-additionalProperties";

// JSON pointer text. '%' is escaped too: valijson percent-decodes pointer tokens (URI fragments).
std::string pointer_of(const Tokens& tokens) {
  std::string out;
  for (const auto& t : tokens) {
    out += '/';
    for (char c : t) {
      if (c == '~')
        out += "~0";
      else if (c == '/')
        out += "~1";
      else if (c == '%')
        out += "%25";
      else
        out += c;
    }
  }
  return out;
}

std::string display(const Tokens& tokens) { return "#" + pointer_of(tokens); }

const json* child_at(const json& node, const std::string& token) {
  if (node.is_object()) {
    auto it = node.find(token);
    return it == node.end() ? nullptr : &*it;
  }
  if (node.is_array()) {
    if (token.empty() || token.size() > 9 || token.find_first_not_of("0123456789") != std::string::npos ||
        (token.size() > 1 && token[0] == '0')) {
      return nullptr;
    }
    const std::size_t i = std::stoul(token);
    return i < node.size() ? &node[i] : nullptr;
  }
  return nullptr;
}

const json* at(const json& root, const Tokens& tokens) {
  const json* cur = &root;
  for (const auto& t : tokens) {
    cur = child_at(*cur, t);
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

bool is_schema(const json& v) { return v.is_object() || v.is_boolean(); }

// ---- URIs, as far as `$id` and `$ref` inside one document need them (RFC 3986 section 5.2) ----

std::string without_fragment(const std::string& uri) { return uri.substr(0, uri.find('#')); }

bool has_scheme(const std::string& uri) {
  if (uri.empty() || !std::isalpha(static_cast<unsigned char>(uri[0]))) return false;
  for (char c : uri) {
    if (c == ':') return true;
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return false;
  }
  return false;
}

std::string resolve_uri(const std::string& base, const std::string& ref) {
  if (ref.empty()) return base;
  if (has_scheme(ref) || base.empty()) return ref;
  if (ref[0] == '#') return without_fragment(base) + ref;
  const std::size_t colon = base.find(':');
  if (ref.rfind("//", 0) == 0) return base.substr(0, colon + 1) + ref;
  // Path end of the authority ("scheme://host"), if any.
  std::size_t path_start = colon + 1;
  if (base.compare(path_start, 2, "//") == 0) {
    path_start = base.find('/', path_start + 2);
    if (path_start == std::string::npos) path_start = base.size();
  }
  const std::string doc = without_fragment(base);
  if (ref[0] == '/') return doc.substr(0, path_start) + ref;
  const std::size_t slash = doc.rfind('/');
  if (slash == std::string::npos || slash < path_start) return doc.substr(0, path_start) + "/" + ref;
  return doc.substr(0, slash + 1) + ref;
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// "/a~1b/0" -> {"a/b", "0"}
Tokens pointer_tokens(const std::string& pointer) {
  Tokens out;
  std::size_t i = 1;
  while (i <= pointer.size()) {
    const std::size_t next = std::min(pointer.find('/', i), pointer.size());
    std::string t = pointer.substr(i, next - i), u;
    for (std::size_t k = 0; k < t.size(); ++k) {
      if (t[k] == '~' && k + 1 < t.size() && (t[k + 1] == '0' || t[k + 1] == '1')) {
        u += t[k + 1] == '0' ? '~' : '/';
        ++k;
      } else {
        u += t[k];
      }
    }
    out.push_back(std::move(u));
    i = next + 1;
  }
  return out;
}

// ---- the graph of subschemas ----

// How valijson applies a subschema relative to the schema that holds it.
enum class Applies {
  InPlace,   // to the same value: $ref, allOf, anyOf, oneOf, not, if/then/else, dependencies
  Descends,  // to a member, an item or a member name: one data level down
  Never,     // not applied where it is (definitions; then/else without if); only via $ref
};

struct Child {
  Tokens tokens;
  Applies how;
  std::string label;
};

// The subschemas of schema object `node` at `at`, except a `$ref` (handled by the caller).
std::vector<Child> children_of(const json& node, const Tokens& at) {
  std::vector<Child> out;
  const auto add = [&](const json& v, std::initializer_list<std::string> rel, Applies how, std::string label) {
    if (!is_schema(v)) return;
    Tokens full = at;
    full.insert(full.end(), rel.begin(), rel.end());
    out.push_back({std::move(full), how, std::move(label)});
  };
  const auto each_in_array = [&](const char* key, Applies how) {
    auto it = node.find(key);
    if (it == node.end() || !it->is_array()) return;
    for (std::size_t i = 0; i < it->size(); ++i) {
      add((*it)[i], {key, std::to_string(i)}, how, std::string(key) + "/" + std::to_string(i));
    }
  };
  const auto each_in_object = [&](const char* key, Applies how) {
    auto it = node.find(key);
    if (it == node.end() || !it->is_object()) return;
    for (const auto& [name, v] : it->items()) add(v, {key, name}, how, std::string(key) + "/" + name);
  };
  const auto single = [&](const char* key, Applies how) {
    auto it = node.find(key);
    if (it != node.end()) add(*it, {key}, how, key);
  };
  each_in_array("allOf", Applies::InPlace);
  each_in_array("anyOf", Applies::InPlace);
  each_in_array("oneOf", Applies::InPlace);
  single("not", Applies::InPlace);
  const bool has_if = node.contains("if");
  single("if", Applies::InPlace);
  single("then", has_if ? Applies::InPlace : Applies::Never);
  single("else", has_if ? Applies::InPlace : Applies::Never);
  each_in_object("dependencies", Applies::InPlace);  // arrays of names are skipped by add()
  each_in_object("properties", Applies::Descends);
  each_in_object("patternProperties", Applies::Descends);
  single("additionalProperties", Applies::Descends);
  single("propertyNames", Applies::Descends);
  single("contains", Applies::Descends);
  const auto items = node.find("items");
  if (items != node.end() && items->is_array()) {
    each_in_array("items", Applies::Descends);
    single("additionalItems", Applies::Descends);
  } else {
    single("items", Applies::Descends);
    single("additionalItems", Applies::Never);
  }
  each_in_object("definitions", Applies::Never);
  return out;
}

struct Edge {
  std::size_t to;
  Applies how;
  std::string label;
};

struct Node {
  Tokens tokens;
  std::vector<Edge> edges;
  bool is_ref = false;
  Tokens ref_target;  // when is_ref
};

class Analysis {
 public:
  Analysis(const json& doc, std::string where) : doc_(doc), where_(std::move(where)) {}

  void run() {
    index_ids();
    build_graph();
  }

  const std::vector<Node>& nodes() const { return nodes_; }

  // Refuses cycles of in-place edges among the subschemas validation can reach, and computes how
  // deep validation can recurse for data up to `max_data_depth` levels.
  void check_recursion(std::size_t max_data_depth) const;

 private:
  [[noreturn]] void fail(const std::string& what) const { throw UsageError(where_ + ": " + what); }

  const json* id_of(const json& node) const {
    if (!node.is_object() || node.contains("$ref")) return nullptr;  // draft-07: $ref hides $id
    auto it = node.find("$id");
    return it != node.end() && it->is_string() ? &*it : nullptr;
  }

  // Registers every `$id` (base URIs and plain-name fragments) at the document's schema positions.
  void index_ids() {
    struct Item {
      Tokens tokens;
      std::string base;
    };
    std::vector<Item> stack{{{}, ""}};
    while (!stack.empty()) {
      Item item = std::move(stack.back());
      stack.pop_back();
      const json* node = at(doc_, item.tokens);
      if (node == nullptr || !node->is_object()) continue;
      std::string base = item.base;
      if (const json* id = id_of(*node)) {
        const std::string resolved = resolve_uri(base, id->get<std::string>());
        const std::size_t hash = resolved.find('#');
        if (hash == std::string::npos || hash + 1 == resolved.size()) {
          base = without_fragment(resolved);
          documents_.emplace(base, item.tokens);
        } else {
          anchors_.emplace(resolved, item.tokens);
        }
      }
      if (item.tokens.empty()) documents_.emplace("", Tokens{});
      bases_[pointer_of(item.tokens)] = base;
      if (node->contains("$ref")) continue;
      for (auto& c : children_of(*node, item.tokens)) stack.push_back({std::move(c.tokens), base});
    }
  }

  // The base URI in effect at a location: that of its nearest indexed position.
  std::string base_of(const Tokens& tokens) const {
    for (std::size_t n = tokens.size() + 1; n-- > 0;) {
      auto it = bases_.find(pointer_of(Tokens(tokens.begin(), tokens.begin() + n)));
      if (it != bases_.end()) return it->second;
    }
    return "";
  }

  Tokens resolve_ref(const std::string& ref, const Tokens& from) const {
    const std::string here = display(from);
    const std::size_t hash = ref.find('#');
    const std::string uri_part = ref.substr(0, hash);
    const std::string fragment = hash == std::string::npos ? "" : percent_decode(ref.substr(hash + 1));
    const std::string base = base_of(from);
    const std::string document = uri_part.empty() ? base : without_fragment(resolve_uri(base, uri_part));
    auto doc = documents_.find(document);
    if (doc == documents_.end()) {
      fail("'$ref': '" + ref + "' at '" + here + "' refers to another document ('" + document +
           "'), which is not loaded: copy that schema into this one's 'definitions' and refer to it as "
           "'#/definitions/NAME'");
    }
    Tokens target;
    if (!fragment.empty() && fragment[0] != '/') {
      auto anchor = anchors_.find(document + "#" + fragment);
      if (anchor == anchors_.end()) {
        fail("'$ref': '" + ref + "' at '" + here + "' names '#" + fragment +
             "', which no '$id' in this schema declares: declare it or use a JSON pointer such as "
             "'#/definitions/NAME'");
      }
      target = anchor->second;
    } else {
      target = doc->second;
      if (!fragment.empty()) {
        for (auto& t : pointer_tokens(fragment)) target.push_back(std::move(t));
      }
    }
    const json* node = at(doc_, target);
    if (node == nullptr || !is_schema(*node)) {
      fail("'$ref': '" + ref + "' at '" + here + "' points " +
           (node == nullptr ? std::string("to nothing in this schema") : "to a value that is not a schema") +
           ": fix the pointer (keys are separated by '/', with '~1' for a '/' and '~0' for a '~' in a key)");
    }
    return target;
  }

  std::size_t intern(const Tokens& tokens) {
    const std::string key = pointer_of(tokens);
    auto [it, fresh] = ids_.emplace(key, nodes_.size());
    if (fresh) {
      nodes_.push_back(Node{tokens, {}, false, {}});
      queue_.push_back(it->second);
    }
    return it->second;
  }

  void build_graph() {
    intern({});
    while (!queue_.empty()) {
      const std::size_t i = queue_.front();
      queue_.pop_front();
      const Tokens tokens = nodes_[i].tokens;
      const json* node = at(doc_, tokens);
      if (node == nullptr || !node->is_object()) continue;
      if (auto ref = node->find("$ref"); ref != node->end() && ref->is_string()) {
        Tokens target = resolve_ref(ref->get<std::string>(), tokens);
        const std::size_t to = intern(target);
        nodes_[i].is_ref = true;
        nodes_[i].ref_target = std::move(target);
        nodes_[i].edges.push_back({to, Applies::InPlace, "$ref"});
        continue;
      }
      for (auto& c : children_of(*node, tokens)) {
        const std::size_t to = intern(c.tokens);
        nodes_[i].edges.push_back({to, c.how, std::move(c.label)});
      }
    }
  }

  const json& doc_;
  std::string where_;
  std::map<std::string, Tokens> documents_;  // base URI (no fragment) -> location
  std::map<std::string, Tokens> anchors_;    // URI with plain-name fragment -> location
  std::unordered_map<std::string, std::string> bases_;
  std::vector<Node> nodes_;
  std::unordered_map<std::string, std::size_t> ids_;
  std::deque<std::size_t> queue_;
};

void Analysis::check_recursion(std::size_t max_data_depth) const {
  const std::size_t n = nodes_.size();
  // Reachable from the root through keywords valijson applies.
  std::vector<char> reachable(n, 0);
  std::vector<std::size_t> work{0};
  reachable[0] = 1;
  while (!work.empty()) {
    const std::size_t v = work.back();
    work.pop_back();
    for (const auto& e : nodes_[v].edges) {
      if (e.how != Applies::Never && !reachable[e.to]) {
        reachable[e.to] = 1;
        work.push_back(e.to);
      }
    }
  }

  // Depth-first search over in-place edges: a back edge closes a cycle. The post-order is a
  // topological order of the in-place graph (successors first), used below.
  enum : char { White, Grey, Black };
  std::vector<char> colour(n, White);
  std::vector<std::size_t> post_order;
  struct Frame {
    std::size_t node;
    std::size_t next_edge;
  };
  for (std::size_t start = 0; start < n; ++start) {
    if (!reachable[start] || colour[start] != White) continue;
    std::vector<Frame> stack{{start, 0}};
    colour[start] = Grey;
    while (!stack.empty()) {
      Frame& f = stack.back();
      const auto& edges = nodes_[f.node].edges;
      if (f.next_edge == edges.size()) {
        colour[f.node] = Black;
        post_order.push_back(f.node);
        stack.pop_back();
        continue;
      }
      const Edge& e = edges[f.next_edge++];
      if (e.how != Applies::InPlace) continue;
      if (colour[e.to] == Grey) {
        // The cycle: from e.to along the stack to f.node, then back to e.to.
        std::size_t k = stack.size();
        while (stack[k - 1].node != e.to) --k;
        std::string text = display(nodes_[e.to].tokens);
        for (std::size_t j = k - 1; j < stack.size(); ++j) {
          const Edge& taken = nodes_[stack[j].node].edges[stack[j].next_edge - 1];
          text += " -(" + taken.label + ")-> " + display(nodes_[taken.to].tokens);
        }
        fail("it refers to itself without descending into the data: " + text +
             "; validating anything against it would recurse forever. Break the cycle: a recursive "
             "schema must go through 'properties', 'items' or a similar keyword before it refers back");
      }
      if (colour[e.to] == White) {
        colour[e.to] = Grey;
        stack.push_back({e.to, 0});
      }
    }
  }

  // Longest chain of subschemas validation can apply inside one another when at most c of them
  // descend into the data, for c = 0..max_data_depth (data deeper than that was refused before).
  const std::size_t limit = kMaxValidationRecursion;
  std::vector<std::size_t> prev(n, 0), cur(n, 0);
  for (std::size_t c = 0; c <= max_data_depth; ++c) {
    for (std::size_t v : post_order) {
      std::size_t best = 0;
      for (const auto& e : nodes_[v].edges) {
        if (e.how == Applies::InPlace)
          best = std::max(best, 1 + cur[e.to]);
        else if (e.how == Applies::Descends && c > 0)
          best = std::max(best, 1 + prev[e.to]);
      }
      cur[v] = std::min(best, limit + 1);
    }
    if (cur[0] > limit) {
      const std::string data = c > 0 ? ", for data nested " + std::to_string(c) + " levels deep" : "";
      fail("validation could apply more than " + std::to_string(limit) +
           " subschemas inside one another (through '$ref' and combinators" + data +
           "), beyond the validator's limit of " + std::to_string(limit) + ": shorten the chains of '$ref'/'allOf'" +
           (c > 0 ? " or lower the registry's max_depth" : ""));
    }
    if (c > 0 && cur == prev) break;  // no recursion through the data: deeper data changes nothing
    prev = cur;
  }
}

// ---- the rewrite ----

class Rewriter {
 public:
  Rewriter(const json& original, const std::vector<Node>& nodes, std::string where)
      : original_(original), nodes_(nodes), where_(std::move(where)) {
    for (const auto& node : nodes_) {
      const json* v = at(original_, node.tokens);
      if (v == nullptr || !v->is_object() || node.is_ref) continue;
      auto pp = v->find("patternProperties");
      if (pp != v->end() && pp->is_object()) moved_.insert(pointer_of(node.tokens));
    }
  }

  json run() {
    json out = original_;
    // Deepest first: a location's original path is still valid in `out` when it is rewritten,
    // because only its own keys and those of its descendants have been renamed by then.
    std::vector<const Node*> order;
    for (const auto& node : nodes_) order.push_back(&node);
    std::stable_sort(order.begin(), order.end(),
                     [](const Node* a, const Node* b) { return a->tokens.size() > b->tokens.size(); });
    for (const Node* node : order) rewrite(out, *node);
    return out;
  }

 private:
  // Where an original location ends up: keys renamed at nodes with patternProperties.
  Tokens moved(const Tokens& tokens) const {
    Tokens out;
    const json* cur = &original_;
    Tokens prefix;
    for (const auto& t : tokens) {
      std::string mapped = t;
      if (cur != nullptr && cur->is_object() && moved_.count(pointer_of(prefix))) {
        if (t == "patternProperties") {
          mapped = kMovedPatternProperties;
        } else if (t == "additionalProperties") {
          mapped = kMovedAdditionalProperties;
        }
      }
      // A pattern's subschema is stored in an array, in key order (see rewrite_pattern_properties).
      if (!out.empty() && out.back() == kMovedPatternProperties && cur != nullptr && cur->is_object()) {
        std::size_t index = 0;
        for (auto it = cur->begin(); it != cur->end() && it.key() != t; ++it) ++index;
        mapped = std::to_string(index);
      }
      out.push_back(mapped);
      prefix.push_back(t);
      cur = cur == nullptr ? nullptr : child_at(*cur, t);
    }
    return out;
  }

  std::string ref_to(const Tokens& original_tokens) const { return "#" + pointer_of(moved(original_tokens)); }

  void rewrite(json& out, const Node& node) {
    json* v = &out;
    for (const auto& t : node.tokens) {
      if (v->is_object())
        v = &(*v)[t];
      else
        v = &(*v)[std::stoul(t)];
    }
    if (!v->is_object()) return;
    if (node.is_ref) {
      (*v)["$ref"] = ref_to(node.ref_target);
      return;
    }
    const std::string here = display(node.tokens);
    if (auto p = v->find("pattern"); p != v->end() && p->is_string()) {
      check_regex(p->get<std::string>(), where_ + " at '" + here + "/pattern'");
      (*v)[kPattern] = std::move(*p);
      v->erase("pattern");
    }
    if (auto t = v->find("type"); t != v->end() && (t->is_string() || t->is_array())) {
      static const std::set<std::string> kTypes = {"null", "boolean", "object", "array", "number", "string", "integer"};
      const json names = t->is_string() ? json::array({*t}) : *t;
      for (const auto& name : names) {
        if (!name.is_string() || !kTypes.count(name.get<std::string>())) {
          throw UsageError(where_ + " at '" + here + "/type': " + name.dump() +
                           " is not a JSON Schema type: use null, boolean, object, array, number, string or integer");
        }
      }
      (*v)[kType] = names;
      v->erase("type");
    }
    if (auto f = v->find("format"); f != v->end() && f->is_string()) {
      (*v)[kFormat] = std::move(*f);
      v->erase("format");
    }
    if (moved_.count(pointer_of(node.tokens))) rewrite_pattern_properties(*v, node.tokens, here);
  }

  // {"properties": P, "patternProperties": {r: S, ...}, "additionalProperties": A} becomes
  //   "properties": P (as is),
  //   "allOf": [..., {"properties": {name: S}} for each name in P that r matches],
  //   "additionalProperties": {"allOf": [{"if": {name matches r}, "then": S}, ...,
  //                                      {"if": {name matches any r}, "else": A}]},
  // with S and A moved to inert keys and referred to by pointer, so that references into them
  // and their own `$ref`s keep working. Member names reach the name checks as valijson's
  // validation context.
  void rewrite_pattern_properties(json& v, const Tokens& tokens, const std::string& here) {
    const std::string self = ref_to(tokens);
    json patterns = json::array(), schemas = json::array(), dispatch = json::array();
    std::vector<std::pair<std::string, std::shared_ptr<const RE2>>> compiled;
    std::size_t index = 0;
    for (auto& [pattern, schema] : v["patternProperties"].items()) {
      compiled.emplace_back(pattern, compile_regex(pattern, where_ + " at '" + here + "/patternProperties'"));
      patterns.push_back(pattern);
      schemas.push_back(std::move(schema));
      dispatch.push_back({{"if", {{kNameMatches, pattern}}},
                          {"then", {{"$ref", self + "/" + kMovedPatternProperties + "/" + std::to_string(index)}}}});
      ++index;
    }
    v.erase("patternProperties");
    v[kMovedPatternProperties] = std::move(schemas);
    if (auto a = v.find("additionalProperties"); a != v.end()) {
      json additional = std::move(*a);
      v.erase("additionalProperties");
      if (additional.is_boolean() && !additional.get<bool>()) {
        dispatch.push_back({{"if", {{kNameMatchesAny, patterns}}}, {"else", {{kUnmatchedMember, true}}}});
      } else if (!additional.is_boolean()) {
        dispatch.push_back(
            {{"if", {{kNameMatchesAny, patterns}}}, {"else", {{"$ref", self + "/" + kMovedAdditionalProperties}}}});
      }
      v[kMovedAdditionalProperties] = std::move(additional);
    }
    v["additionalProperties"] = {{"allOf", std::move(dispatch)}};
    if (auto props = v.find("properties"); props != v.end() && props->is_object()) {
      json extra = json::array();
      for (const auto& [name, _] : props->items()) {
        for (std::size_t i = 0; i < compiled.size(); ++i) {
          if (!RE2::PartialMatch(name, *compiled[i].second)) continue;
          extra.push_back(
              {{"properties", {{name, {{"$ref", self + "/" + kMovedPatternProperties + "/" + std::to_string(i)}}}}}});
        }
      }
      if (!extra.empty()) {
        if (!v.contains("allOf")) v["allOf"] = json::array();
        if (v["allOf"].is_array()) {
          for (auto& e : extra) v["allOf"].push_back(std::move(e));
        }
      }
    }
  }

  const json& original_;
  const std::vector<Node>& nodes_;
  std::string where_;
  std::set<std::string> moved_;  // nodes whose patternProperties/additionalProperties were moved
};

// Nesting of the schema document, without recursion (valijson's parser recurses per level).
void check_nesting(const json& schema, const std::string& where) {
  struct Frame {
    const json* node;
    std::size_t depth;
  };
  std::vector<Frame> stack{{&schema, 1}};
  while (!stack.empty()) {
    const Frame f = stack.back();
    stack.pop_back();
    if (!f.node->is_structured()) continue;
    if (f.depth > kMaxSchemaNesting) {
      throw UsageError(where + " nests deeper than " + std::to_string(kMaxSchemaNesting) +
                       " levels: move inner schemas into 'definitions' and refer to them with '$ref'");
    }
    for (const auto& child : *f.node) stack.push_back({&child, f.depth + 1});
  }
}

}  // namespace

std::shared_ptr<const RE2> compile_regex(const std::string& pattern, const std::string& where) {
  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_max_mem(8 << 20);
  auto re = std::make_shared<const RE2>(pattern, opts);
  if (!re->ok()) {
    throw UsageError(where + ": pattern '" + pattern + "' cannot be used (" + re->error() +
                     "); patterns run on RE2, which has no backreferences or lookaround: rewrite it "
                     "without them");
  }
  return re;
}

void check_regex(const std::string& pattern, const std::string& where) { (void)compile_regex(pattern, where); }

json prepare(const json& schema, const std::string& where, std::size_t max_data_depth) {
  check_nesting(schema, where);
  if (schema.is_boolean()) return schema;
  Analysis analysis(schema, where);
  analysis.run();
  analysis.check_recursion(max_data_depth);
  return Rewriter(schema, analysis.nodes(), where).run();
}

}  // namespace outbox::schema_document

// libpq conninfo helpers shared by the PostgreSQL tests and benchmarks (each works in a database
// of its own on a shared throwaway server).
#pragma once

#include <libpq-fe.h>

#include <stdexcept>
#include <string>

namespace testing_support {

// `conninfo` (URI or key=value) with its database replaced by `dbname`, as a key=value string.
inline std::string with_dbname(const std::string& conninfo, const std::string& dbname) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    const std::string why = err ? err : "malformed";
    PQfreemem(err);
    throw std::runtime_error("not a libpq URI or conninfo: " + why);
  }
  auto quoted = [](const std::string& v) {
    std::string q = "'";
    for (char c : v) {
      if (c == '\'' || c == '\\') q += '\\';
      q += c;
    }
    return q + "'";
  };
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (o->val == nullptr || std::string(o->keyword) == "dbname") continue;
    out += std::string(o->keyword) + "=" + quoted(o->val) + " ";
  }
  PQconninfoFree(opts);
  return out + "dbname=" + quoted(dbname);
}

}  // namespace testing_support

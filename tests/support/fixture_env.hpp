// Where a test server started by a ctest fixture script listens: the script writes STATE/env
// ("export KEY=value" lines) and the tests find STATE through an environment variable. Setting KEY
// itself in the environment points the tests at another server instead.
#pragma once

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

namespace testing_support {

inline std::string fixture_value(const std::string& key, const std::string& state_variable,
                                 const std::string& start_script) {
  if (const char* v = std::getenv(key.c_str())) return v;
  const char* state = std::getenv(state_variable.c_str());
  if (!state) {
    throw std::runtime_error("set " + state_variable + " (the folder " + start_script + " wrote) or " + key);
  }
  std::ifstream in(std::string(state) + "/env");
  const std::string prefix = "export " + key + "=";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  throw std::runtime_error("no " + key + " in " + std::string(state) + "/env; is the server running?");
}

}  // namespace testing_support

// Shared by the integration tests: run the real `outbox` CLI (OUTBOX_CLI is its path, set by CMake)
// and read back what the file sink wrote.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace testing_support {

// scripts/test.sh sets MONGOC_DISABLE_SHM=1 (see there): so does every test binary that runs the
// CLI, for its children, so that a plain `ctest` does not meet a stale /dev/shm/mongoc-<pid> either.
inline const bool kMongocShmDisabled = setenv("MONGOC_DISABLE_SHM", "1", 0) == 0;

struct Run {
  int code;
  std::string output;  // stdout and stderr together
};

inline Run cli(const std::string& args) {
  const std::string cmd = std::string(OUTBOX_CLI) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (std::size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The JSON lines of a file sink's output.
inline std::vector<nlohmann::json> read_lines(const std::string& file) {
  std::vector<nlohmann::json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace testing_support

#include "data_argument.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "outbox/errors.hpp"
#include "printable.hpp"

namespace outbox::cli {

namespace {

std::string read_stream(std::FILE* in, const std::string& what, std::size_t max_bytes) {
  std::string out;
  char buffer[65536];
  for (;;) {
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, in);
    out.append(buffer, n);
    if (out.size() > max_bytes) {
      throw UsageError("--data " + what + " holds more than " + std::to_string(max_bytes) +
                       " bytes of JSON text, more than a message may carry; put less data in one message");
    }
    if (n < sizeof buffer) break;
  }
  if (std::ferror(in)) {
    throw UsageError("--data " + what + " could not be read: " + std::strerror(errno));
  }
  return out;
}

}  // namespace

std::string read_data_argument(const std::string& argument, std::size_t max_bytes) {
  if (argument == "-") return read_stream(stdin, "- (standard input)", max_bytes);
  if (argument.empty() || argument[0] != '@') return argument;
  const std::string path = argument.substr(1);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    throw UsageError("--data @" + printable(path) + ": cannot open the file: " + std::strerror(errno) +
                     " (give @PATH of a readable JSON file, - for standard input, or the JSON itself)");
  }
  return read_stream(file.get(), "@" + printable(path), max_bytes);
}

}  // namespace outbox::cli

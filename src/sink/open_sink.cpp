// Sink URIs -> sink objects. Each broker's sink is compiled in by its CMake option.
#include "outbox/errors.hpp"
#include "outbox/sink.hpp"
#include "file/file_sink.hpp"
#include "null/null_sink.hpp"
#include "stdout/stdout_sink.hpp"

namespace outbox {

std::unique_ptr<Sink> open_sink(const std::string& uri) {
  if (uri == "stdout:" || uri == "stdout" || uri == "-") return std::make_unique<sinks::StdoutSink>();
  if (uri == "null:" || uri == "null") return std::make_unique<sinks::NullSink>();
  if (uri.rfind("file:", 0) == 0 && uri.size() > 5) {
    std::string path = uri.substr(5);
    if (path.rfind("//", 0) == 0) path = path.substr(2);  // file:///abs/path
    return std::make_unique<sinks::FileSink>(path);
  }
  throw UsageError("unknown sink '" + uri + "': use stdout:, file:PATH or null:");
}

}  // namespace outbox

// The schemes of the sinks that need no client library (stdout:, file:PATH, null:).
#include "outbox/errors.hpp"
#include "outbox/scheme.hpp"
#include "sink/file/file_sink.hpp"
#include "sink/null/null_sink.hpp"
#include "sink/stdout/stdout_sink.hpp"

namespace outbox::sinks {

namespace {

void refuse_properties(const std::string& uri, const SinkProperties& properties) {
  if (!properties.empty()) {
    throw UsageError("sink '" + uri + "' takes no client properties; only broker sinks such as kafka:// do");
  }
}

bool is_stdout(std::string_view uri) { return uri == "stdout:" || uri == "stdout" || uri == "-"; }
bool is_null(std::string_view uri) { return uri == "null:" || uri == "null"; }
bool is_file(std::string_view uri) { return uri.starts_with("file:"); }

std::unique_ptr<Sink> open_stdout(const std::string& uri, const SinkProperties& properties) {
  refuse_properties(uri, properties);
  return std::make_unique<StdoutSink>();
}

std::unique_ptr<Sink> open_null(const std::string& uri, const SinkProperties& properties) {
  refuse_properties(uri, properties);
  return std::make_unique<NullSink>();
}

std::unique_ptr<Sink> open_file(const std::string& uri, const SinkProperties& properties) {
  refuse_properties(uri, properties);
  std::string path = uri.substr(5);
  if (path.starts_with("//")) path = path.substr(2);  // file:///abs/path
  if (path.empty()) throw UsageError("sink '" + uri + "' names no file: use file:PATH");
  return std::make_unique<FileSink>(path);
}

}  // namespace

const SinkScheme stdout_scheme{"stdout", "stdout:", is_stdout, open_stdout};
const SinkScheme file_scheme{"file", "file:PATH", is_file, open_file};
const SinkScheme null_scheme{"null", "null:", is_null, open_null};

}  // namespace outbox::sinks

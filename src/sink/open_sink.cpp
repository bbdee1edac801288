// Sink URIs -> sink objects. Each broker's sink is compiled in by its CMake option.
#include "outbox/errors.hpp"
#include "outbox/sink.hpp"
#include "file/file_sink.hpp"
#include "null/null_sink.hpp"
#include "stdout/stdout_sink.hpp"

#ifdef OUTBOX_WITH_KAFKA
#include "outbox/kafka.hpp"
#endif

namespace outbox {

std::unique_ptr<Sink> open_sink(const std::string& uri, const SinkProperties& properties) {
#ifdef OUTBOX_WITH_KAFKA
  if (uri.rfind("kafka://", 0) == 0) {
    auto options = kafka::parse_uri(uri);
    options.properties = properties;
    return kafka::make_sink(options);
  }
  const char* kafka_hint = ", kafka://HOST:PORT/TOPIC";
#else
  const char* kafka_hint = " (this build has no Kafka sink: configure with -DOUTBOX_WITH_KAFKA=ON)";
#endif
  if (!properties.empty()) {
    throw UsageError("sink '" + uri + "' takes no client properties (-X); only broker sinks such as kafka:// do");
  }
  if (uri == "stdout:" || uri == "stdout" || uri == "-") return std::make_unique<sinks::StdoutSink>();
  if (uri == "null:" || uri == "null") return std::make_unique<sinks::NullSink>();
  if (uri.rfind("file:", 0) == 0 && uri.size() > 5) {
    std::string path = uri.substr(5);
    if (path.rfind("//", 0) == 0) path = path.substr(2);  // file:///abs/path
    return std::make_unique<sinks::FileSink>(path);
  }
  throw UsageError("unknown sink '" + uri + "': use stdout:, file:PATH, null:" + kafka_hint);
}

}  // namespace outbox

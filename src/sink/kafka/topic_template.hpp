// Topic names from a template such as "{outbox}.{type}".
#pragma once

#include <string>

#include "outbox/message.hpp"

namespace outbox::kafka::detail {

// Throws UsageError for unknown placeholders or unbalanced braces.
void check_template(const std::string& topic_template);
// Renders the template; returns "" if the result is not a legal Kafka topic name
// ([A-Za-z0-9._-], 1 to 249 characters).
std::string render_topic(const std::string& topic_template, const Message& m);

}  // namespace outbox::kafka::detail

// Issue 13: the relay's first record waited about a second for its topic's metadata, which
// librdkafka fetches on its one-second topic scan. The sink now asks for a fixed topic's metadata
// when it opens (figures: docs/benchmarks.md, bench/kafka_first_record.sh); these tests check that
// it asks, that a topic template is left alone, and that a broker that is down does not stop the
// sink from opening. Through the real `outbox` with -v, whose log shows the request.
#include <netinet/in.h>
#include <sys/socket.h>

#include "cli_run.hpp"
#include "kafka_fixture.hpp"

namespace {

// A loopback TCP port nobody listens on right now.
int closed_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &n);
  close(s);
  return ntohs(a.sin_port);
}

}  // namespace

class KafkaStartup : public testing_kafka::KafkaTest {
 protected:
  testing_support::Run drain(const std::string& sink) {
    return testing_support::cli("-v relay --store " + uri() + " --outbox orders --drain --sink '" + sink + "'");
  }
};

TEST_F(KafkaStartup, AFixedTopicsMetadataIsFetchedWhenTheSinkOpens) {
  const auto topic = testing_kafka::unique_topic("startup");
  testing_kafka::create_topic(topic, 1, {});
  put_committed(1, 1);
  const auto r = drain("kafka://" + testing_kafka::bootstrap() + "/" + topic);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("metadata of topic '" + topic + "' fetched in"), std::string::npos) << r.output;
  EXPECT_EQ(testing_kafka::consume({topic}, 1, std::chrono::seconds(30)).size(), 1u);
}

TEST_F(KafkaStartup, ATopicTemplateIsNotAskedFor) {
  const auto r = drain("kafka://" + testing_kafka::bootstrap() + "/startup_{type}");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("metadata of topic"), std::string::npos) << r.output;
}

TEST_F(KafkaStartup, TheSinkOpensWhileTheBrokerIsDown) {
  // An empty outbox: --drain ends once the relay ran and found nothing, broker or not.
  const auto r = drain("kafka://127.0.0.1:" + std::to_string(closed_port()) + "/startup");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("no metadata of topic 'startup'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("relay stopped"), std::string::npos) << r.output;
}

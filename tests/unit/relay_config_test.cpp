// The relay's settings from flags, OUTBOX_* variables and the TOML file (src/cli/relay_config.cpp):
// precedence of each pair, strict refusal naming the key and line or the variable, several
// [[relay]] entries, and what `outbox config --print` hides (src/cli/config_print.cpp).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <toml++/toml.h>

#include "../../src/cli/config_print.hpp"
#include "../../src/cli/host_port.hpp"
#include "../../src/cli/relay_config.hpp"
#include "outbox/errors.hpp"

using namespace outbox;
using namespace outbox::cli;

namespace {

class RelayConfigTest : public ::testing::Test {
 protected:
  std::string dir =
      (std::filesystem::temp_directory_path() / ("relay_config_test_" + std::to_string(::getpid()) + "_" +
                                                 ::testing::UnitTest::GetInstance()->current_test_info()->name()))
          .string();
  void SetUp() override { std::filesystem::create_directories(dir); }
  void TearDown() override { std::filesystem::remove_all(dir); }

  std::string file(const std::string& text) {
    const std::string path = dir + "/relay.toml";
    std::ofstream(path) << text;
    return path;
  }
  static SettingLayer flags(std::initializer_list<std::pair<const std::string, GivenSetting>> items = {}) {
    return SettingLayer(items);
  }
  // The UsageError's text (fails the test if there is none).
  static std::string refusal(const SettingLayer& f, const std::map<std::string, std::string>& env) {
    try {
      load_relay_config(f, env);
    } catch (const UsageError& e) {
      return e.what();
    }
    ADD_FAILURE() << "accepted";
    return "";
  }
  static GivenSetting flag(SettingValue v, const char* name) { return {std::move(v), name}; }
};

const std::string kMinimal = "store = \"sqlite:file.db\"\noutbox = \"orders\"\nsink = \"null:\"\n";

TEST_F(RelayConfigTest, FileAloneGivesEverySetting) {
  const auto path =
      file(kMinimal +
           "consumer = \"billing\"\nbatch_size = 50\nmax_in_flight = 700\nmax_attempts = 3\nshutdown_timeout = 2.5\n"
           "max_count = 7\nmax_age = 60\nhard_max_count = 9\nretention_interval = 2\nlease_ttl = 12\n"
           "checkpoint_interval_ms = 0\npoll = true\nno_wait = true\ndrain = true\n"
           "metrics = \"9464\"\n[sink_properties]\nlinger.ms = 5\n\"acks\" = \"all\"\n");
  const auto c = load_relay_config(flags({{"config", flag(path, "--config")}}), {});
  ASSERT_EQ(c.relays.size(), 1u);
  const auto& r = c.relays[0];
  EXPECT_EQ(r.store, "sqlite:file.db");
  EXPECT_EQ(r.outbox, "orders");
  EXPECT_EQ(r.sink, "null:");
  EXPECT_EQ(r.consumer, "billing");
  EXPECT_EQ(r.batch_size, 50);
  EXPECT_EQ(r.max_in_flight, 700);
  EXPECT_EQ(r.max_attempts, 3);
  EXPECT_EQ(r.shutdown_timeout, 2.5);
  EXPECT_EQ(r.max_count, 7);
  EXPECT_EQ(r.max_age, 60);
  EXPECT_EQ(r.hard_max_count, 9);
  EXPECT_EQ(r.retention_interval, 2);
  EXPECT_EQ(r.lease_ttl, 12);
  EXPECT_EQ(r.checkpoint_interval_ms, 0);
  EXPECT_TRUE(r.poll);
  EXPECT_TRUE(r.no_wait);
  EXPECT_TRUE(c.drain);
  EXPECT_EQ(c.metrics, "9464");
  EXPECT_EQ(r.sink_properties.at("linger.ms"), "5") << "a dotted name need not be quoted";
  EXPECT_EQ(r.sink_properties.at("acks"), "all");
}

TEST_F(RelayConfigTest, EnvironmentOverridesFile) {
  const auto path = file(kMinimal + "batch_size = 50\n");
  const auto c = load_relay_config(flags({{"config", flag(path, "--config")}}),
                                   {{"OUTBOX_BATCH_SIZE", "60"}, {"OUTBOX_STORE", "sqlite:env.db"}});
  EXPECT_EQ(c.relays.at(0).batch_size, 60);
  EXPECT_EQ(c.relays.at(0).store, "sqlite:env.db");
}

TEST_F(RelayConfigTest, FlagsOverrideFile) {
  const auto path = file(kMinimal + "batch_size = 50\n");
  const auto c = load_relay_config(
      flags({{"config", flag(path, "--config")}, {"batch_size", flag(std::int64_t{70}, "--batch-size")}}), {});
  EXPECT_EQ(c.relays.at(0).batch_size, 70);
}

TEST_F(RelayConfigTest, FlagsOverrideEnvironment) {
  const auto c = load_relay_config(flags({{"store", flag(std::string("sqlite:flag.db"), "--store")},
                                          {"sink", flag(std::string("null:"), "--sink")},
                                          {"lease_ttl", flag(std::int64_t{5}, "--lease-ttl")}}),
                                   {{"OUTBOX_STORE", "sqlite:env.db"},
                                    {"OUTBOX_OUTBOX", "orders"},
                                    {"OUTBOX_LEASE_TTL", "6"},
                                    {"OUTBOX_METRICS", "127.0.0.1:9464"}});
  EXPECT_EQ(c.relays.at(0).store, "sqlite:flag.db");
  EXPECT_EQ(c.relays.at(0).outbox, "orders") << "required settings may come from the environment";
  EXPECT_EQ(c.relays.at(0).lease_ttl, 5);
  EXPECT_EQ(c.metrics, "127.0.0.1:9464");
}

TEST_F(RelayConfigTest, ConfigFileMayBeNamedByTheEnvironment) {
  const auto path = file(kMinimal);
  const auto c = load_relay_config({}, {{"OUTBOX_CONFIG", path}});
  EXPECT_EQ(c.relays.at(0).outbox, "orders");
  EXPECT_EQ(c.config_file, path);
}

TEST_F(RelayConfigTest, SinkPropertiesMergeNameByName) {
  const auto path = file(kMinimal + "sink_properties = { \"linger.ms\" = \"5\", acks = \"all\" }\n");
  const auto c =
      load_relay_config(flags({{"config", flag(path, "--config")},
                               {"sink_properties", flag(std::map<std::string, std::string>{{"acks", "1"}}, "-X")}}),
                        {{"OUTBOX_SINK_PROPERTIES", "sasl.password=p,linger.ms=9"}});
  const auto& p = c.relays.at(0).sink_properties;
  EXPECT_EQ(p.at("linger.ms"), "9");
  EXPECT_EQ(p.at("acks"), "1");
  EXPECT_EQ(p.at("sasl.password"), "p");
}

TEST_F(RelayConfigTest, UnknownKeyIsRefusedWithItsLine) {
  const auto path = file(kMinimal + "\nbatchsize = 5\n");
  const auto e = refusal(flags({{"config", flag(path, "--config")}}), {});
  EXPECT_NE(e.find(path + ":5:"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'batchsize'"), std::string::npos) << e;
  EXPECT_NE(e.find("batch_size"), std::string::npos) << "lists the keys: " << e;
}

TEST_F(RelayConfigTest, UnknownKeyInAnEntryIsRefusedWithItsLine) {
  const auto path = file(
      "store = \"sqlite:x.db\"\nsink = \"null:\"\n[[relay]]\noutbox = \"a\"\n[[relay]]\n"
      "outbox = \"b\"\nconsumr = \"c\"\n");
  const auto e = refusal(flags({{"config", flag(path, "--config")}}), {});
  EXPECT_NE(e.find(path + ":7:"), std::string::npos) << e;
  EXPECT_NE(e.find("'consumr'"), std::string::npos) << e;
  EXPECT_NE(e.find("entry 2"), std::string::npos) << e;
}

TEST_F(RelayConfigTest, WrongTypeIsRefusedWithItsLine) {
  const auto path = file(kMinimal + "lease_ttl = 30\nbatch_size = \"100\"\n");
  const auto e = refusal(flags({{"config", flag(path, "--config")}}), {});
  EXPECT_NE(e.find(path + ":5:"), std::string::npos) << e;
  EXPECT_NE(e.find("batch_size must be an integer"), std::string::npos) << e;
  for (const char* bad :
       {"poll = \"yes\"\n", "shutdown_timeout = true\n", "store = 5\n", "sink_properties = 3\n", "lease_ttl = 1.5\n"}) {
    const auto p = file("outbox = \"orders\"\n" + std::string(bad));
    const auto e2 = refusal(flags({{"config", flag(p, "--config")}}), {});
    EXPECT_NE(e2.find(p + ":2:"), std::string::npos) << bad << e2;
  }
}

TEST_F(RelayConfigTest, OutOfRangeIsRefusedNamingTheSource) {
  const auto path = file(kMinimal + "batch_size = 0\n");
  auto e = refusal(flags({{"config", flag(path, "--config")}}), {});
  EXPECT_NE(e.find(path + ":4: batch_size must be from 1 to 100000, not 0"), std::string::npos) << e;
  e = refusal({}, {{"OUTBOX_STORE", "sqlite:x.db"},
                   {"OUTBOX_OUTBOX", "orders"},
                   {"OUTBOX_SINK", "null:"},
                   {"OUTBOX_LEASE_TTL", "0"}});
  EXPECT_NE(e.find("OUTBOX_LEASE_TTL"), std::string::npos) << e;
  const auto zero = file(kMinimal + "retention_interval = 0\n");
  e = refusal(flags({{"config", flag(zero, "--config")}}), {});
  EXPECT_NE(e.find(zero + ":4: retention_interval must be from 1 to 86400, not 0"), std::string::npos) << e;
}

TEST_F(RelayConfigTest, SyntaxErrorNamesFileLineAndColumn) {
  const auto path = file(kMinimal + "batch_size = = 3\n");
  const auto e = refusal(flags({{"config", flag(path, "--config")}}), {});
  EXPECT_NE(e.find(path + ":4:"), std::string::npos) << e;
  EXPECT_NE(e.find("not valid TOML"), std::string::npos) << e;
}

TEST_F(RelayConfigTest, MissingFileIsRefused) {
  const auto e = refusal(flags({{"config", flag(dir + "/none.toml", "--config")}}), {});
  EXPECT_NE(e.find("none.toml"), std::string::npos) << e;
}

TEST_F(RelayConfigTest, BadEnvironmentValueNamesTheVariable) {
  const std::map<std::string, std::string> base = {
      {"OUTBOX_STORE", "sqlite:x.db"}, {"OUTBOX_OUTBOX", "orders"}, {"OUTBOX_SINK", "null:"}};
  for (const auto& [name, value] : std::map<std::string, std::string>{{"OUTBOX_BATCH_SIZE", "ten"},
                                                                      {"OUTBOX_POLL", "yes please"},
                                                                      {"OUTBOX_SHUTDOWN_TIMEOUT", "1s"},
                                                                      {"OUTBOX_SINK_PROPERTIES", "acks"},
                                                                      {"OUTBOX_CONSUMER", "Bad-Name"},
                                                                      {"OUTBOX_METRICS", "localhost"}}) {
    auto env = base;
    env[name] = value;
    const auto e = refusal({}, env);
    EXPECT_NE(e.find(name), std::string::npos) << name << ": " << e;
  }
}

TEST_F(RelayConfigTest, UnknownOutboxVariablesAreWarnedAbout) {
  const auto c = load_relay_config(
      {}, {{"OUTBOX_STORE", "sqlite:x.db"}, {"OUTBOX_OUTBOX", "o"}, {"OUTBOX_SINK", "null:"}, {"OUTBOX_NAME", "o"}});
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("OUTBOX_NAME"), std::string::npos) << c.warnings[0];
}

TEST_F(RelayConfigTest, RequiredSettingNamesAllThreeWays) {
  const auto e = refusal(
      flags({{"outbox", flag(std::string("orders"), "--outbox")}, {"sink", flag(std::string("null:"), "--sink")}}), {});
  for (const char* way : {"--store", "OUTBOX_STORE", "store = ", "--config"})
    EXPECT_NE(e.find(way), std::string::npos) << way << ": " << e;
}

const std::string kTwo =
    "store = \"sqlite:x.db\"\nsink = \"null:\"\nbatch_size = 10\n"
    "[[relay]]\noutbox = \"orders\"\n"
    "[[relay]]\noutbox = \"payments\"\nconsumer = \"billing\"\nbatch_size = 20\nsink = \"file:p.jsonl\"\n";

TEST_F(RelayConfigTest, EntriesTakeTopLevelDefaultsAndOverrideThem) {
  const auto path = file(kTwo);
  const auto c = load_relay_config(flags({{"config", flag(path, "--config")}}), {{"OUTBOX_LEASE_TTL", "9"}});
  ASSERT_EQ(c.relays.size(), 2u);
  EXPECT_EQ(c.relays[0].outbox, "orders");
  EXPECT_EQ(c.relays[0].consumer, "default");
  EXPECT_EQ(c.relays[0].batch_size, 10);
  EXPECT_EQ(c.relays[0].sink, "null:");
  EXPECT_EQ(c.relays[1].outbox, "payments");
  EXPECT_EQ(c.relays[1].consumer, "billing");
  EXPECT_EQ(c.relays[1].batch_size, 20);
  EXPECT_EQ(c.relays[1].sink, "file:p.jsonl");
  for (const auto& r : c.relays) EXPECT_EQ(r.lease_ttl, 9) << "the environment sets every entry";
  for (const auto& r : c.relays) EXPECT_EQ(r.store, "sqlite:x.db");
  const auto f = load_relay_config(
      flags({{"config", flag(path, "--config")}, {"batch_size", flag(std::int64_t{30}, "--batch-size")}}), {});
  for (const auto& r : f.relays) EXPECT_EQ(r.batch_size, 30) << "a flag sets every entry, over the entry's own key";
}

TEST_F(RelayConfigTest, IdentityByFlagOrEnvironmentIsRefusedWithSeveralEntries) {
  const auto path = file(kTwo);
  auto e = refusal(flags({{"config", flag(path, "--config")}}), {{"OUTBOX_OUTBOX", "orders"}});
  EXPECT_NE(e.find("OUTBOX_OUTBOX"), std::string::npos) << e;
  e = refusal(flags({{"config", flag(path, "--config")}, {"consumer", flag(std::string("x"), "--consumer")}}), {});
  EXPECT_NE(e.find("--consumer"), std::string::npos) << e;
  // With one entry, a flag naming the outbox is just an override.
  const auto one = file(kMinimal);
  EXPECT_EQ(
      load_relay_config(flags({{"config", flag(one, "--config")}}), {{"OUTBOX_OUTBOX", "other"}}).relays.at(0).outbox,
      "other");
}

TEST_F(RelayConfigTest, DuplicateEntriesAreRefused) {
  const auto path = file(
      "store = \"sqlite:x.db\"\nsink = \"null:\"\n[[relay]]\noutbox = \"orders\"\n"
      "[[relay]]\noutbox = \"orders\"\nconsumer = \"default\"\n");
  const auto e = refusal(flags({{"config", flag(path, "--config")}}), {});
  EXPECT_NE(e.find("entries 1"), std::string::npos) << e;
  EXPECT_NE(e.find(path + ":5"), std::string::npos) << "names where the second is: " << e;
  // Two consumers of one outbox are two relays.
  const auto two = file(
      "store = \"sqlite:x.db\"\nsink = \"null:\"\n[[relay]]\noutbox = \"orders\"\n"
      "[[relay]]\noutbox = \"orders\"\nconsumer = \"audit\"\n");
  EXPECT_EQ(load_relay_config(flags({{"config", flag(two, "--config")}}), {}).relays.size(), 2u);
}

TEST_F(RelayConfigTest, ProcessSettingsBelongAtTheTop) {
  const auto path = file(
      "store = \"sqlite:x.db\"\nsink = \"null:\"\n[[relay]]\noutbox = \"orders\"\n"
      "metrics = \"9464\"\n");
  const auto e = refusal(flags({{"config", flag(path, "--config")}}), {});
  EXPECT_NE(e.find(path + ":5:"), std::string::npos) << e;
  EXPECT_NE(e.find("top"), std::string::npos) << e;
}

TEST_F(RelayConfigTest, MetricsTakesABarePortOnLoopback) {
  const auto a = parse_host_port("9464", "--metrics");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9464);
  const auto b = parse_host_port("0.0.0.0:9464", "--metrics");
  EXPECT_EQ(b.host, "0.0.0.0");
  for (const char* bad : {"0", "65536", "99999999", "-1"}) EXPECT_THROW(parse_host_port(bad, "--metrics"), UsageError);
}

TEST_F(RelayConfigTest, PrintRedactsSecretsAndReadsBack) {
  const auto path = file(
      "store = \"postgresql://relay:pgsecret@db.example/app\"\noutbox = \"orders\"\n"
      "sink = \"https://hooks.example/in?query=token%3Dhooktoken&secret_env=HOOK\"\n"
      "[sink_properties]\n\"sasl.password\" = \"saslsecret\"\n\"ssl.key.pem\" = \"keysecret\"\n"
      "\"api_token\" = \"tokensecret\"\nacks = \"all\"\n");
  const auto c = load_relay_config(flags({{"config", flag(path, "--config")}}), {});
  const std::string text = config_as_toml(c);
  for (const char* secret : {"pgsecret", "hooktoken", "saslsecret", "keysecret", "tokensecret"})
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " shows:\n" << text;
  EXPECT_NE(text.find("postgresql://relay:***@db.example/app"), std::string::npos) << text;
  EXPECT_NE(text.find("secret_env=HOOK"), std::string::npos) << "a variable's name is no secret:\n" << text;
  EXPECT_NE(text.find("'all'"), std::string::npos) << text;
  // What it prints is a config file the relay reads (with the redacted values).
  const auto again = load_relay_config(flags({{"config", flag(file(text), "--config")}}), {});
  ASSERT_EQ(again.relays.size(), 1u);
  EXPECT_EQ(again.relays[0].outbox, "orders");
  EXPECT_EQ(again.relays[0].sink_properties.at("acks"), "all");
}

TEST_F(RelayConfigTest, SecretPropertyNames) {
  for (const char* n : {"sasl.password", "SASL.PASSWORD", "client.secret", "token", "ssl.key.pem"})
    EXPECT_TRUE(is_secret_property(n)) << n;
  for (const char* n : {"acks", "linger.ms", "bootstrap.servers"}) EXPECT_FALSE(is_secret_property(n)) << n;
  EXPECT_EQ(redact_sink_uri("https://h/p?format=json&query=a%3Db"), "https://h/p?format=json&query=***");
  EXPECT_EQ(redact_sink_uri("https://h/p?query=a%3Db&format=json"), "https://h/p?query=***&format=json");
}

}  // namespace

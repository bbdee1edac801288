// `outbox put` input checks (issue 10, item 14): header names that would corrupt or forge headers
// downstream are refused with exit 2 and shown escaped; --data takes @FILE and - (stdin), so data
// between the kernel's 128 KiB argument limit and the 1 MiB payload limit can be put.
#include "cli_fixture.hpp"

using namespace testing_cli;

namespace {

struct Result {
  std::optional<int> status;
  std::string out, err;
};

// Runs the CLI with exact argv bytes (no shell), stdin from `input`.
Result run(const std::string& dir, std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), OUTBOX_CLI);
  const std::string in_path = dir + "/stdin", out_path = dir + "/stdout", err_path = dir + "/stderr";
  std::ofstream(in_path, std::ios::binary) << input;
  std::filesystem::remove(err_path);
  const int in = open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  Result r;
  {
    Process p(args, err_path, out, in);
    r.status = p.wait(60s);
  }
  close(in);
  close(out);
  r.out = testing_support::read_text(out_path);
  r.err = testing_support::read_text(err_path);
  return r;
}

}  // namespace

class CliPut : public CliTest {
 protected:
  std::vector<std::string> put(std::vector<std::string> extra) {
    std::vector<std::string> argv = {"put",      "--store",     uri(),    "--outbox",     "orders",
                                     "--schema", schema_file(), "--type", "order_created"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  std::int64_t rows() { return testing_sqlite::count(db, "SELECT count(*) FROM outbox_orders"); }
};

TEST_F(CliPut, HeaderNamesAreCheckedAndShownEscaped) {
  const std::pair<std::string, std::string> cases[] = {
      {"x-a:b", "x-a:b"},
      {"x-a\r\nInjected: 1", "x-a\\r\\nInjected: 1"},
      {"   ", "   "},
      {"tab\there", "tab\\there"},
      {"\x1b[31mred", "\\x1b[31mred"},
      {"ümlaut\xff", "ümlaut\\xff"},
  };
  for (const auto& [name, shown] : cases) {
    const auto r = run(dir, put({"--data", R"({"ordernr": 1})", "--header", name + "=v"}));
    EXPECT_TRUE(exited_with(r.status, 2)) << shown << ": " << describe(r.status) << " " << r.err;
    EXPECT_NE(r.err.find("--header name '" + shown + "' is not a valid header name"), std::string::npos) << r.err;
    for (char raw : {'\r', '\x1b', '\t'}) EXPECT_EQ(r.err.find(raw), std::string::npos) << "raw byte in: " << r.err;
    EXPECT_EQ(r.err.find('\xff'), std::string::npos) << r.err;
  }
  EXPECT_EQ(rows(), 0) << "a message with a bad header name was written";

  const auto ok = run(dir, put({"--data", R"({"ordernr": 1})", "--header", "traceparent=00-ab-01", "--header",
                                "x.custom_Name-2=a value: with spaces"}));
  ASSERT_TRUE(exited_with(ok.status, 0)) << ok.err;
  EXPECT_EQ(rows(), 1);
}

TEST_F(CliPut, DataFromAFileOrStdinCarriesMoreThanAnArgumentCan) {
  // 600 KiB: beyond what one argument may hold (128 KiB), within the 1 MiB payload limit.
  const std::string big = R"({"ordernr": 7, "note": ")" + std::string(600 * 1024, 'x') + "\"}";
  const std::string file = dir + "/big.json";
  std::ofstream(file) << big;

  const auto from_file = run(dir, put({"--data", "@" + file}));
  ASSERT_TRUE(exited_with(from_file.status, 0)) << describe(from_file.status) << " " << from_file.err;
  EXPECT_EQ(nlohmann::json::parse(from_file.out)["position"], 1) << from_file.out;

  const auto from_stdin = run(dir, put({"--data", "-"}), big);
  ASSERT_TRUE(exited_with(from_stdin.status, 0)) << describe(from_stdin.status) << " " << from_stdin.err;
  EXPECT_EQ(nlohmann::json::parse(from_stdin.out)["position"], 2) << from_stdin.out;

  const auto tail = run(dir, {"tail", "--store", uri(), "--outbox", "orders"});
  ASSERT_TRUE(exited_with(tail.status, 0)) << tail.err;
  std::istringstream lines(tail.out);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    EXPECT_EQ(nlohmann::json::parse(line)["data"]["note"].get<std::string>().size(), 600u * 1024);
  }
  EXPECT_EQ(n, 2);

  // Over the payload limit: refused by the library's check, exit 2.
  std::ofstream(file) << R"({"ordernr": 8, "note": ")" + std::string(1100 * 1024, 'x') + "\"}";
  const auto too_big = run(dir, put({"--data", "@" + file}));
  EXPECT_TRUE(exited_with(too_big.status, 2)) << describe(too_big.status) << " " << too_big.err;
  EXPECT_NE(too_big.err.find("max_payload_bytes"), std::string::npos) << too_big.err;

  const auto missing = run(dir, put({"--data", "@" + dir + "/no-such.json"}));
  EXPECT_TRUE(exited_with(missing.status, 2)) << describe(missing.status) << " " << missing.err;
  EXPECT_NE(missing.err.find("cannot open the file"), std::string::npos) << missing.err;
  EXPECT_EQ(rows(), 2);
}

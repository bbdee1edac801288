// Small helpers shared by the benchmark programs: flags, clocks, statistics, process figures.
// The benchmarks print figures; they never pass or fail on time.
#pragma once

#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

// --name=value or --name value; bare --name means "true". Unknown flags are an error, so that a
// typo does not silently run the default.
class Flags {
 public:
  Flags(int argc, char** argv, std::map<std::string, std::string> defaults, const char* usage)
      : values_(std::move(defaults)) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        std::printf("%s\nflags (default):\n", usage);
        for (const auto& [k, v] : values_) std::printf("  --%s (%s)\n", k.c_str(), v.c_str());
        std::exit(0);
      }
      if (a.rfind("--", 0) != 0) fail("unexpected argument '" + a + "'");
      a = a.substr(2);
      std::string value = "true";
      if (auto eq = a.find('='); eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
      } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
        value = argv[++i];
      }
      if (!values_.count(a)) fail("unknown flag --" + a + " (try --help)");
      values_[a] = value;
    }
  }
  std::string str(const std::string& k) const { return values_.at(k); }
  double num(const std::string& k) const { return std::stod(values_.at(k)); }
  std::int64_t integer(const std::string& k) const { return std::stoll(values_.at(k)); }
  bool flag(const std::string& k) const { return values_.at(k) == "true" || values_.at(k) == "1"; }
  std::string command_line() const {
    std::string s;
    for (const auto& [k, v] : values_) s += " --" + k + "=" + v;
    return s;
  }

 private:
  [[noreturn]] static void fail(const std::string& why) {
    std::fprintf(stderr, "%s\n", why.c_str());
    std::exit(2);
  }
  std::map<std::string, std::string> values_;
};

inline std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline double seconds_since(std::int64_t start_ns) { return static_cast<double>(mono_ns() - start_ns) / 1e9; }

// Nearest-rank percentile of an unsorted sample (copied and sorted).
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size());
  std::size_t i = rank <= 1 ? 0 : static_cast<std::size_t>(std::ceil(rank)) - 1;
  return v[std::min(i, v.size() - 1)];
}

inline double median(std::vector<double> v) { return percentile(std::move(v), 50); }

// Runs `run(item)` for every item, `rounds` times, alternating the order (A B C, then C B A, ...)
// so that drift (caches, WAL growth, other load) falls on every item alike; `after_round(r)` runs
// after round r (0-based). The caller warms up and takes the medians.
template <class T, class Run, class AfterRound>
void alternate_rounds(std::vector<T>& items, int rounds, Run run, AfterRound after_round) {
  for (int r = 0; r < rounds; ++r) {
    if (r % 2 == 0) {
      for (auto& item : items) run(item);
    } else {
      for (auto it = items.rbegin(); it != items.rend(); ++it) run(*it);
    }
    after_round(r);
  }
}

// For bench/report.sh's distribution plots: when OUTBOX_BENCH_SAMPLES names a file, appends one
// data set to it: a "# label" line, then "latency_ms cumulative_fraction" per sample in order, then
// two blank lines (gnuplot's separator between data sets, chosen with `index`).
inline void append_samples(const std::string& label, std::vector<double> v) {
  const char* path = std::getenv("OUTBOX_BENCH_SAMPLES");
  if (path == nullptr || *path == '\0' || v.empty()) return;
  std::sort(v.begin(), v.end());
  std::ofstream out(path, std::ios::app);
  out << "# " << label << '\n';
  for (std::size_t i = 0; i < v.size(); ++i) out << v[i] << ' ' << static_cast<double>(i + 1) / v.size() << '\n';
  out << "\n\n";
  if (!out) std::fprintf(stderr, "could not write the samples to %s (OUTBOX_BENCH_SAMPLES)\n", path);
}

// Peak resident set (VmHWM) and current resident set (VmRSS) of this process, in kB.
inline std::int64_t proc_status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::atoll(line.c_str() + prefix.size());
  }
  return -1;
}

struct CpuTimes {
  double user_s = 0, system_s = 0;
  long voluntary_switches = 0, involuntary_switches = 0;
  double total() const { return user_s + system_s; }
};

inline CpuTimes cpu_self() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  CpuTimes c;
  c.user_s = static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) / 1e6;
  c.system_s = static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) / 1e6;
  c.voluntary_switches = ru.ru_nvcsw;
  c.involuntary_switches = ru.ru_nivcsw;
  return c;
}

// CPU time the whole machine spent busy (user, nice, system, irq, softirq: not idle, iowait, or
// steal, which is time the hypervisor gave to other machines) since boot, in ns, from /proc/stat.
// A benchmark whose server runs in other processes (PostgreSQL's backends) divides the difference
// by its work done: with nothing else running, that is the CPU one unit of work costs everyone, a
// figure that a commit's varying flush time does not move.
inline std::int64_t machine_busy_cpu_ns() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq;
  if (!in || cpu != "cpu") return 0;
  static const long ticks = sysconf(_SC_CLK_TCK);
  return (user + nice + system + irq + softirq) * (1'000'000'000LL / ticks);
}

// A fresh folder for the run's database files (on the disk that --dir names; /tmp here is the
// root ext4 disk, not tmpfs, so fsync costs what it costs in production on this machine).
inline std::filesystem::path make_run_dir(const std::string& parent, const std::string& name) {
  std::filesystem::create_directories(parent);
  std::string templ = (std::filesystem::path(parent) / (name + "-XXXXXX")).string();
  if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed in " + parent);
  return templ;
}

inline std::string filesystem_of(const std::filesystem::path& p) {
  // Best effort: the mount with the longest prefix of p in /proc/mounts.
  std::ifstream in("/proc/mounts");
  std::string dev, mnt, type, rest, best_type = "?";
  std::size_t best = 0;
  const std::string abs = std::filesystem::absolute(p).string();
  while (in >> dev >> mnt >> type && std::getline(in, rest)) {
    if (abs.rfind(mnt, 0) == 0 && mnt.size() >= best) {
      best = mnt.size();
      best_type = type + " (" + dev + " on " + mnt + ")";
    }
  }
  return best_type;
}

// The 1-, 5- and 15-minute load averages: other work on the machine skews every figure.
inline std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  in >> a >> b >> c;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", a, b, c);
  return buf;
}

inline void print_machine(const std::filesystem::path& dir) {
  utsname u{};
  uname(&u);
  std::string cpu = "?";
  {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("model name", 0) == 0) {
        cpu = line.substr(line.find(':') + 2);
        break;
      }
    }
  }
  std::printf("machine: %ld cores, %s, Linux %s; files in %s on %s; load average %s\n", sysconf(_SC_NPROCESSORS_ONLN),
              cpu.c_str(), u.release, dir.c_str(), filesystem_of(dir).c_str(), loadavg().c_str());
}

}  // namespace bench

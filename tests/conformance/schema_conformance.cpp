// Runs every case of the JSON-Schema-Test-Suite's draft-07 files through SchemaRegistry (the code
// path `put` uses: the schema is loaded with add(), each instance checked with validate_data())
// and prints passed / excluded / failed. A case passes when the validator's verdict matches the
// suite's; a schema refused at load fails all its cases. Exclusions are below, each with its
// reason (and in docs/validation.md); one that matches nothing fails the run, so the list cannot
// outlive the behaviour it excuses.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "outbox/errors.hpp"
#include "outbox/schema.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Exclusion {
  std::string file;   // relative to the draft7 directory
  std::string group;  // "" = every group of the file
  std::string test;   // "" = every test of the group
  std::string reason;
};

const std::string kRemote = "refers to another document; only references inside the schema are supported";
const std::string kFormat =
    "format not checked: only date, time, date-time and uuid are (other formats are "
    "annotations in draft-07)";

const std::vector<Exclusion> kExclusions = {
    {"refRemote.json", "", "", kRemote},
    {"definitions.json", "", "", kRemote + " (the draft-07 meta-schema)"},
    {"ref.json", "remote ref, containing refs itself", "", kRemote + " (the draft-07 meta-schema)"},
    {"optional/content.json", "", "", "contentMediaType and contentEncoding are annotations in draft-07; not checked"},
    {"optional/ecmascript-regex.json", "", "", kFormat + " (this case is format 'regex')"},
    {"optional/format/email.json", "", "", kFormat},
    {"optional/format/hostname.json", "", "", kFormat},
    {"optional/format/idn-email.json", "", "", kFormat},
    {"optional/format/idn-hostname.json", "", "", kFormat},
    {"optional/format/ipv4.json", "", "", kFormat},
    {"optional/format/ipv6.json", "", "", kFormat},
    {"optional/format/iri-reference.json", "", "", kFormat},
    {"optional/format/iri.json", "", "", kFormat},
    {"optional/format/json-pointer.json", "", "", kFormat},
    {"optional/format/regex.json", "", "", kFormat},
    {"optional/format/relative-json-pointer.json", "", "", kFormat},
    {"optional/format/uri-reference.json", "", "", kFormat},
    {"optional/format/uri-template.json", "", "", kFormat},
    {"optional/format/uri.json", "", "", kFormat},
};

const Exclusion* excluded(const std::string& file, const std::string& group, const std::string& test,
                          std::set<const Exclusion*>& used) {
  for (const auto& e : kExclusions) {
    if (e.file == file && (e.group.empty() || e.group == group) && (e.test.empty() || e.test == test)) {
      used.insert(&e);
      return &e;
    }
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: schema_conformance DRAFT7_DIRECTORY\n";
    return 2;
  }
  const fs::path root = argv[1];
  if (!fs::is_directory(root)) {
    std::cerr << "no JSON-Schema-Test-Suite at " << root
              << ": install the Debian package json-schema-test-suite (scripts/install-deps.sh does)\n";
    return 1;
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());

  int passed = 0, skipped = 0, failed = 0;
  std::set<const Exclusion*> used;
  std::map<std::string, int> excluded_by_reason;
  for (const auto& path : files) {
    const std::string file = fs::relative(path, root).generic_string();
    std::ifstream in(path);
    const json groups = json::parse(in);
    for (const auto& group : groups) {
      const std::string gname = group.at("description");
      outbox::SchemaRegistry registry;
      std::string load_error;
      try {
        registry.add("t", group.at("schema"));
      } catch (const outbox::UsageError& e) {
        load_error = e.what();
      }
      for (const auto& test : group.at("tests")) {
        const std::string tname = test.at("description");
        if (const Exclusion* e = excluded(file, gname, tname, used)) {
          ++skipped;
          ++excluded_by_reason[e->reason];
          continue;
        }
        const bool expected = test.at("valid");
        std::string verdict;
        bool valid = false;
        if (load_error.empty()) {
          try {
            registry.validate_data("t", test.at("data"));
            valid = true;
          } catch (const outbox::ValidationError& e) {
            verdict = e.what();
          }
        }
        if (load_error.empty() && valid == expected) {
          ++passed;
          continue;
        }
        ++failed;
        std::cout << "FAIL " << file << ": " << gname << " / " << tname << ": expected "
                  << (expected ? "valid" : "invalid") << ", "
                  << (!load_error.empty() ? "schema refused at load: " + load_error
                      : valid             ? std::string("accepted")
                                          : "refused: " + verdict)
                  << "\n";
      }
    }
  }
  for (const auto& e : kExclusions) {
    if (!used.count(&e)) {
      ++failed;
      std::cout << "FAIL stale exclusion (matches no case): " << e.file << " / " << e.group << " / " << e.test << "\n";
    }
  }
  std::cout << "excluded, by reason:\n";
  for (const auto& [reason, n] : excluded_by_reason) std::cout << "  " << n << ": " << reason << "\n";
  std::cout << "JSON-Schema-Test-Suite draft-07: passed " << passed << ", excluded " << skipped << ", failed " << failed
            << "\n";
  return failed == 0 ? 0 : 1;
}

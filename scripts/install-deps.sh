#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build and test service-outbox (as root, or with sudo).
# Does nothing when everything is present already.
set -euo pipefail
packages=(
  g++ cmake ninja-build pkg-config ccache
  libsqlite3-dev sqlite3
  nlohmann-json3-dev libvalijson-dev libre2-dev
  libspdlog-dev libfmt-dev libcli11-dev libcpp-httplib-dev
  # the relay's config file (outbox relay --config)
  libtomlplusplus-dev
  librdkafka-dev
  # the Redis Streams sink (hiredis) and the throwaway server its tests start (scripts/redis/)
  libhiredis-dev redis-server
  # the RabbitMQ sink (librabbitmq) and the throwaway broker its tests start (scripts/rabbitmq/)
  librabbitmq-dev rabbitmq-server
  # the NATS JetStream sink (libnats) and the real server its tests start (tests/integration/nats/)
  libnats-dev nats-server
  libgtest-dev libbenchmark-dev
  # the PostgreSQL store (libpq) and the throwaway server its tests start (scripts/postgres/)
  libpq-dev libpqxx-dev postgresql-15
  # the throwaway CA and server certificate of the PostgreSQL TLS tests (scripts/postgres/start.sh --tls)
  openssl
  # the MongoDB store (libmongoc + libbson); its tests build FerretDB with Go (scripts/ferretdb/)
  libmongoc-dev libbson-dev
  # the real Kafka broker for the integration tests (scripts/kafka/ fetches it with Maven)
  openjdk-17-jre-headless maven
  # the official JSON Schema test suite (draft-07 conformance of the validator)
  json-schema-test-suite
  # the sanitizer and libFuzzer builds (scripts/sanitize.sh, scripts/fuzz.sh)
  clang libclang-rt-14-dev
  # the benchmark report's plots (bench/report.sh; run by hand)
  gnuplot-nox
  # the committed style (.clang-format, checked by scripts/test.sh) and scripts/lint.sh (.clang-tidy)
  clang-format clang-tidy
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q || { echo "install-deps: apt-get update failed; check the network or your apt sources" >&2; exit 1; }
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" || {
  echo "install-deps: apt-get install failed for: ${missing[*]}; install them by hand and rerun" >&2
  exit 1
}

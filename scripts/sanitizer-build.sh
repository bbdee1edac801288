#!/usr/bin/env bash
# Configures a sanitizer build (clang) and builds the given targets only; used by scripts/sanitize.sh
# and scripts/fuzz.sh, which share the ASan build so that the library is compiled once for both.
#   scripts/sanitizer-build.sh asan|tsan TARGET...
#   asan: ASan + UBSan (+ libFuzzer coverage, -fsanitize=fuzzer-no-link) in ASAN_BUILD_DIR
#         (default build-asan), with the fuzz harnesses enabled (OUTBOX_BUILD_FUZZERS).
#   tsan: TSan in TSAN_BUILD_DIR (default build-tsan), SQLite, PostgreSQL and Kafka (what its tests need).
# Both build at -O1 with line tables (what OSS-Fuzz uses: fast to compile, stacks with file:line),
# without benchmarks and examples, through ccache when it is installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:?usage: scripts/sanitizer-build.sh asan|tsan TARGET...}
shift
case $kind in
  asan)
    build=${ASAN_BUILD_DIR:-$root/build-asan}
    flags="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all"
    options=(-DOUTBOX_BUILD_FUZZERS=ON)
    ;;
  tsan)
    build=${TSAN_BUILD_DIR:-$root/build-tsan}
    flags="-fsanitize=thread"
    options=(-DOUTBOX_WITH_MONGODB=OFF)
    ;;
  *) echo "sanitizer-build: unknown kind '$kind': use asan or tsan" >&2; exit 2 ;;
esac

command -v clang++ > /dev/null || { echo "sanitizer-build: clang++ not found; scripts/install-deps.sh installs clang" >&2; exit 1; }
launcher=()
if command -v ccache > /dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
fi
mkdir -p "$build"
echo "sanitizer-build: configuring $build ($flags)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCMAKE_CXX_FLAGS="$flags -fno-omit-frame-pointer" \
  -DOUTBOX_BUILD_BENCH=OFF -DOUTBOX_BUILD_EXAMPLES=OFF "${options[@]}" "${launcher[@]}" > "$build/configure.log" 2>&1 || {
  cat "$build/configure.log" >&2
  echo "sanitizer-build: cmake configuration failed (see above); scripts/install-deps.sh installs what is missing" >&2
  exit 1
}
targets=()
for t in "$@"; do targets+=(--target "$t"); done
echo "sanitizer-build: building $* in $build"
cmake --build "$build" -j "$(nproc)" "${targets[@]}"

#!/usr/bin/env bash
# Runs clang-tidy with the committed .clang-tidy over the library's sources (or the files given),
# using compile_commands.json from BUILD_DIR (default build; scripts/build.sh writes it). Prints
# each file's findings and a count; exits 1 when there are findings. Takes a few minutes per 10
# files on 2 cores, so CI does not run it; run it before sending a change to src/.
#   scripts/lint.sh [FILE...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
command -v clang-tidy > /dev/null || { echo "lint: clang-tidy not found; apt-get install clang-tidy" >&2; exit 1; }
[[ -f $build/compile_commands.json ]] || {
  echo "lint: $build/compile_commands.json is missing; configure the build first (scripts/build.sh)" >&2
  exit 1
}
cd "$root"
if (($#)); then files=("$@"); else mapfile -t files < <(git ls-files 'src/*.cpp'); fi
findings=0
for i in "${!files[@]}"; do
  f=${files[$i]}
  echo "lint: [$((i + 1))/${#files[@]}] $f" >&2
  out=$(clang-tidy -p "$build" --quiet "$f" 2> /dev/null || true)
  n=$(grep -c ': warning: ' <<< "$out" || true)
  if ((n > 0)); then
    echo "$out"
    findings=$((findings + n))
  fi
done
echo "lint: $findings findings in ${#files[@]} files"
((findings == 0))

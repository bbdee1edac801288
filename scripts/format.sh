#!/usr/bin/env bash
# Formats the C++ sources with the committed .clang-format, or checks them (--check: lists the
# files that differ and exits 1). Debian's clang-format package provides the tool.
#   scripts/format.sh [--check]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command -v clang-format > /dev/null || { echo "format: clang-format not found; apt-get install clang-format" >&2; exit 1; }
cd "$root"
mapfile -t files < <(git ls-files 'src/*.cpp' 'src/*.hpp' 'src/*.in' 'include/*.hpp' 'tests/*.cpp' 'tests/*.hpp' \
  'bench/*.cpp' 'bench/*.hpp' 'examples/*.cpp' 'examples/*.hpp' | grep -v '\.in$')
if [[ ${1:-} == --check ]]; then
  bad=()
  for f in "${files[@]}"; do
    clang-format --dry-run -Werror "$f" > /dev/null 2>&1 || bad+=("$f")
  done
  if ((${#bad[@]})); then
    printf 'format: %s\n' "${bad[@]}" >&2
    echo "format: ${#bad[@]} of ${#files[@]} files differ from .clang-format; run scripts/format.sh to fix them" >&2
    exit 1
  fi
  echo "format: all ${#files[@]} files follow .clang-format"
else
  clang-format -i "${files[@]}"
  echo "format: formatted ${#files[@]} files"
fi

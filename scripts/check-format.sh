#!/usr/bin/env bash
# check-format.sh: every tracked C, C++, CUDA and HIP file must match .clang-format.
#
#   scripts/check-format.sh          list the files that differ (exit 1 if any)
#   scripts/check-format.sh --fix    reformat them in place
#
# The style is pinned to clang-format 14 (Debian 12's `clang-format`): another major version lays
# out some constructs differently, so a different one is refused rather than trusted. CLANG_FORMAT
# names the binary when it is not the `clang-format` on the PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
cf=${CLANG_FORMAT:-clang-format}
command -v "$cf" >/dev/null || { echo "check-format: $cf not found (Debian: apt-get install clang-format)" >&2; exit 2; }
version=$("$cf" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [ "$version" != 14 ]; then
    echo "check-format: clang-format 14 expected (the pinned style), got '$("$cf" --version)'" >&2
    exit 2
fi
# golden/ holds data only; every other tracked source file is checked.
mapfile -t files < <(git ls-files -- '*.c' '*.cc' '*.cpp' '*.h' '*.hpp' '*.cu' '*.cuh' '*.hip' | grep -v '^golden/')
if [ "${1:-}" = --fix ]; then
    "$cf" -i "${files[@]}"
    exit 0
fi
bad=()
for f in "${files[@]}"; do
    "$cf" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
    printf 'check-format: not formatted: %s\n' "${bad[@]}" >&2
    echo "check-format: ${#bad[@]} of ${#files[@]} files differ from .clang-format; scripts/check-format.sh --fix reformats them" >&2
    exit 1
fi
echo "check-format: ${#files[@]} files match .clang-format"

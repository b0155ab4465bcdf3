#!/usr/bin/env bash
# Builds gdn with sanitizers (CUDA off) and runs the CPU-side tests under them:
#   build-asan  AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer), every report fatal
#   build-tsan  ThreadSanitizer, with the oneTBB suppressions of tests/sanitizers/tsan.supp
# Tests: core, the CPU backend suite, registry, faults, concurrency, the fuzz corpora (replayed)
# and the CLI tests. See docs/reliability.md for what each build finds and why each setting.
#
# Environment:
#   SANITIZERS   which builds, default "asan tsan"
#   TESTS_ASAN   ctest -R regex for the ASan build (default: every test)
#   TESTS_TSAN   ctest -R regex for the TSan build (default: every test)
#   JOBS         build and ctest parallelism (default: nproc)
#   CC, CXX      compilers (default gcc, g++)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${JOBS:-$(nproc)}
export CC=${CC:-gcc} CXX=${CXX:-g++}

configure() {  # <dir> <sanitizer flags>
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGDN_BUILD_CUDA=OFF -DGDN_BUILD_BENCH=OFF \
    -DCMAKE_C_FLAGS="$2" -DCMAKE_CXX_FLAGS="$2" \
    -DCMAKE_EXE_LINKER_FLAGS="$2" -DCMAKE_SHARED_LINKER_FLAGS="$2" -DCMAKE_MODULE_LINKER_FLAGS="$2" >/dev/null
  cmake --build "$1" -j "$jobs"
}

run_tests() {  # <dir> <regex>
  local args=(--test-dir "$1" --output-on-failure -j "$jobs")
  [ -n "$2" ] && args+=(-R "$2")
  ctest "${args[@]}"
}

for san in ${SANITIZERS:-asan tsan}; do
  start=$SECONDS
  case $san in
    asan)
      # -O1 keeps the build and the runs fast; the CPU kernels keep their own -O3.
      configure build-asan "-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
      # allocator_may_return_null: the tests ask for absurd sizes on purpose and expect an
      # error, not an abort. detect_leaks: LeakSanitizer at exit of every test program.
      ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1:detect_stack_use_after_return=1" \
      UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
      LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0" \
        run_tests build-asan "${TESTS_ASAN:-}"
      ;;
    tsan)
      configure build-tsan "-O1 -g -fsanitize=thread -fno-omit-frame-pointer"
      # GDN_PLUGIN_NODELETE: plugins stay mapped after their last user is gone, so that TSan
      # never sees a new library at the address of an unloaded one (it keeps the old one's
      # shadow state and reports races between the two). See docs/reliability.md.
      GDN_PLUGIN_NODELETE=1 \
      TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/sanitizers/tsan.supp:print_suppressions=0" \
        run_tests build-tsan "${TESTS_TSAN:-}"
      ;;
    *) echo "sanitize: unknown sanitizer '$san' (asan or tsan)" >&2; exit 2 ;;
  esac
  echo "sanitize: $san passed in $((SECONDS - start)) s"
done

#!/usr/bin/env bash
# Builds gdn with sanitizers (GPU plugins off) and runs the CPU-side tests under them:
#   build-asan  AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer), every report fatal
#   build-tsan  ThreadSanitizer, with the oneTBB suppressions of tests/sanitizers/tsan.supp
# Tests: core, the CPU backend suite, registry, faults, concurrency, the fuzz corpora (replayed)
# and the CLI tests. See docs/reliability.md for what each build finds and why each setting.
#
# Environment:
#   SANITIZERS   which builds, default "asan tsan"
#   TESTS_ASAN   ctest -R regex for the ASan build (default: every test)
#   TESTS_TSAN   ctest -R regex for the strict TSan pass (default: every test)
#   TESTS_TSAN_WORKERS   ctest -R regex for the TSan pass with oneTBB workers (default: the
#                concurrency tests, the registry's thread tests, and the tests that ask for
#                worker threads themselves)
#   TARGETS_ASAN, TARGETS_TSAN   build only these targets (default: everything); for a subset of
#                the tests, name the test programs they need (and gdn_test_plugins, gdn_plugin_cpu)
#   SANITIZE_PYTHON=1  also build the Python package in the ASan build and run its pytest suites
#                there, with the runtimes preloaded (not in CI: it adds the package's instrumented build)
#   JOBS         build and ctest parallelism (default: nproc)
#   CC, CXX      compilers (default gcc, g++)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${JOBS:-$(nproc)}
export CC=${CC:-gcc} CXX=${CXX:-g++}

configure() {  # <dir> <sanitizer flags> [targets]
  # The Python package only where asked for (SANITIZE_PYTHON=1, ASan only): its tests need the
  # sanitizer runtime preloaded into python3 (docs/reliability.md).
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGDN_BUILD_CUDA=OFF -DGDN_BUILD_ROCM=OFF -DGDN_BUILD_BENCH=OFF \
    -DGDN_BUILD_PYTHON="${python_build:-OFF}" \
    -DCMAKE_C_FLAGS="$2" -DCMAKE_CXX_FLAGS="$2" \
    -DCMAKE_EXE_LINKER_FLAGS="$2" -DCMAKE_SHARED_LINKER_FLAGS="$2" -DCMAKE_MODULE_LINKER_FLAGS="$2" >/dev/null
  local targets=()
  [ -n "${3:-}" ] && targets=(--target $3)
  cmake --build "$1" -j "$jobs" "${targets[@]}"
}

run_tests() {  # <dir> <regex> [exclude regex]
  local args=(--test-dir "$1" --output-on-failure -j "$jobs")
  [ -n "$2" ] && args+=(-R "$2")
  [ -n "${3:-}" ] && args+=(-E "$3")
  ctest "${args[@]}"
}

for san in ${SANITIZERS:-asan tsan}; do
  start=$SECONDS
  case $san in
    asan)
      # -O1 keeps the build and the runs fast; the CPU kernels keep their own -O3.
      python_build=OFF
      [ "${SANITIZE_PYTHON:-0}" = 1 ] && python_build=ON
      configure build-asan "-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
        "${TARGETS_ASAN:-}"
      # allocator_may_return_null: the tests ask for absurd sizes on purpose and expect an
      # error, not an abort. detect_leaks: LeakSanitizer at exit of every test program.
      ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1:detect_stack_use_after_return=1" \
      UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
      LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0" \
        run_tests build-asan "${TESTS_ASAN:-}" "python/"
      if [ "$python_build" = ON ]; then
        # The pytest suites under ASan + UBSan: the runtimes preloaded into python3 (which is not
        # instrumented); no LeakSanitizer (the interpreter keeps its allocations until exit).
        echo "sanitize: asan, the Python package's tests (runtimes preloaded)"
        LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" GDN_SANITIZER=asan \
        ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=0:allocator_may_return_null=1" \
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
          run_tests build-asan "python/"
      fi
      ;;
    tsan)
      python_build=OFF
      configure build-tsan "-O1 -g -fsanitize=thread -fno-omit-frame-pointer" "${TARGETS_TSAN:-}"
      # history_size=7: the deepest access history, so that the stack of the earlier access of a
      # race can be restored (and, in the second pass, matched against the suppressions).
      # GDN_PLUGIN_NODELETE: plugins stay mapped after their last user is gone, so that TSan
      # never sees a new library at the address of an unloaded one (it keeps the old one's
      # shadow state and reports races between the two). See docs/reliability.md.
      opts="halt_on_error=1:history_size=7:second_deadlock_stack=1:allocator_may_return_null=1"
      # Strict pass: no suppression at all. GDN_NUM_THREADS=1 gives every CPU stream one thread,
      # whose forward calls run without oneTBB (libtbb is not instrumented; see tsan.supp).
      # Tests that ask for worker threads explicitly (--threads 2, test_unload) run in the next pass.
      with_workers="load, run and unload|gdn run on cpu"
      echo "sanitize: tsan, strict pass (no suppressions, GDN_NUM_THREADS=1)"
      GDN_PLUGIN_NODELETE=1 GDN_NUM_THREADS=1 TSAN_OPTIONS="$opts" \
        run_tests build-tsan "${TESTS_TSAN:-}" "$with_workers"
      # Worker pass: the tests that run several host threads, now with oneTBB worker threads too,
      # suppressing reports from inside oneTBB (tests/sanitizers/tsan.supp says why).
      echo "sanitize: tsan, worker pass (oneTBB workers, tests/sanitizers/tsan.supp)"
      GDN_PLUGIN_NODELETE=1 TSAN_OPTIONS="$opts:suppressions=$root/tests/sanitizers/tsan.supp:print_suppressions=0" \
        run_tests build-tsan "${TESTS_TSAN_WORKERS:-concurrency/|registry/.*thread|$with_workers}"
      ;;
    *) echo "sanitize: unknown sanitizer '$san' (asan, tsan; the GPU sanitizers run in scripts/gpu-check.sh)" >&2; exit 2 ;;
  esac
  echo "sanitize: $san passed in $((SECONDS - start)) s"
done

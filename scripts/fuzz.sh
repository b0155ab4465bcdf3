#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan + libFuzzer, GPU plugins off) into
# build-fuzz and runs each one for a bounded time, starting from the seed corpus in the repo.
#
#   ./scripts/fuzz.sh                      every target, FUZZ_SECONDS (default 60) each
#   FUZZ_SECONDS=3600 ./scripts/fuzz.sh forward     one target, an hour
#
# Targets: safetensors, plugin_file, forward, slot_blob, golden, tensor. The corpus a run grows is
# kept in build-fuzz/corpus/<target>/ (not in the repo); an input that crashes is written to
# build-fuzz/crashes/<target>/ and the script fails. Such an input becomes a regression test by
# copying it into tests/fuzz/corpus/<target>/ (named crash-<what>): ctest replays that directory
# in every build (fuzz_replay_<target>), under the sanitizers of that build.
# Environment: FUZZ_SECONDS, FUZZ_JOBS (targets fuzzed at once, default 1), CC/CXX (clang),
# FUZZ_SEED (libFuzzer's -seed; unset: a fresh random seed each run, printed in the log). CI fixes
# the seed so that a stop can be rerun with the same mutations (coverage feedback still changes
# with the code, and thread scheduling with the run); longer runs without a seed explore.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(safetensors plugin_file forward slot_blob golden tensor)

if ! command -v clang++ >/dev/null || ! echo 'int main(){}' | clang++ -x c++ -fsanitize=fuzzer-no-link - -o /dev/null 2>/dev/null; then
  echo "fuzz: installing clang and its sanitizer runtimes"
  if [ "$(id -u)" -ne 0 ]; then echo "fuzz: run as root to install clang" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends clang libclang-rt-dev >/dev/null
fi
export CC=${CC:-clang} CXX=${CXX:-clang++}

# Everything is built with ASan + UBSan; gdn_core, gdn_testing and gdn_registry also with coverage for libFuzzer
# (tests/fuzz/CMakeLists.txt). Plugins are linked with --no-undefined, so the sanitizer runtime is
# the shared one (-shared-libsan), found through an rpath to clang's runtime directory.
rtdir=$(dirname "$($CXX -print-file-name=libclang_rt.asan-x86_64.so)")
san="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
link="-shared-libsan -Wl,-rpath,$rtdir"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGDN_BUILD_CUDA=OFF -DGDN_BUILD_ROCM=OFF -DGDN_BUILD_BENCH=OFF \
  -DGDN_FUZZ=ON -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" \
  -DCMAKE_EXE_LINKER_FLAGS="$link" -DCMAKE_SHARED_LINKER_FLAGS="$link" -DCMAKE_MODULE_LINKER_FLAGS="$link" >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}")

export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
status=0
fuzz_one() {
  local t=$1 corpus=build-fuzz/corpus/$1 crashes=build-fuzz/crashes/$1 log=build-fuzz/fuzz-$1.log
  mkdir -p "$corpus" "$crashes"
  cp -n "$root/tests/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
  # libFuzzer puts libstdc++ before the shared ASan runtime in the executable's dependencies;
  # preloading the runtime puts it first again, as ASan requires.
  local seed_arg=()
  [ -n "${FUZZ_SEED:-}" ] && seed_arg=(-seed="$FUZZ_SEED")
  if LD_PRELOAD="$rtdir/libclang_rt.asan-x86_64.so" ./build-fuzz/bin/fuzz_"$t" "$corpus" "${seed_arg[@]}" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
       -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1; then
    echo "fuzz: $t: seed $(grep -m1 -o 'Seed: [0-9]*' "$log" | awk '{print $2}'), $(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}') executions in ${seconds} s, no crash," \
         "corpus $(ls "$corpus" | wc -l) inputs"
  else
    echo "fuzz: $t: CRASH (seed $(grep -m1 -o 'Seed: [0-9]*' "$log" | awk '{print $2}')), input in $crashes/ (log: $log)" >&2
    grep -E "ERROR|SUMMARY|runtime error" "$log" | head -5 >&2
    return 1
  fi
}
jobs=${FUZZ_JOBS:-1}
pids=()
for t in "${targets[@]}"; do
  fuzz_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}" || status=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status

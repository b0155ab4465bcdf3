#!/usr/bin/env bash
# gpu-check.sh: build gdn on a GPU machine and run everything that needs the GPU.
#
#   scripts/gpu-check.sh            (from the repository root)
#
# Steps, each logged to $OUT/<step>.log and summarized in $OUT/summary.md (a failing step does
# not stop the later ones; the exit status is non-zero if any step failed):
#   configure + build (Release, CUDA arch from GDN_CUDA_ARCH, default 90)
#   ctest                                       the project's test suite
#   gdn check --backend cuda                    gdn's golden vectors (golden/)
#   gdn_cuda_check --golden golden              the CUDA plugin against the fp64 reference
#   the same with GDN_CUDA_PREFILL=recurrent    the token-by-token extend (the fallback where the
#                                               chunked prefill's shared memory does not fit)
#   gdn_cuda_check, forced variants             every Dv slice width of the sequential prefill
#                                               (GDN_CUDA_DVS), the staged decode (rows per warp 8)
#                                               the prep kernel's grouped value heads on every
#                                               random shape (GDN_CUDA_PREP_HEADS=all) and the
#                                               decode launched in order (GDN_CUDA_OVERLAP=0)
#   conformance invariants, forced variants     the suite's invariant, wrapped-stream and decay
#                                               cases (prefill then decode, a batch against its
#                                               requests one by one, strong decay, ...) on each of
#                                               those forced paths and the token-by-token extend
#   gdn conformance --backend cuda              the conformance suite (report in $OUT/conformance.json)
#   test_concurrency on cuda                    the thread-safety contract, 8 threads, on the GPU
#   compute-memcheck, compute-racecheck         the conformance suite (fewer random cases) and the
#                                               graph / wrapped-stream checks under compute-sanitizer;
#                                               racecheck again with GDN_CUDA_PREP_HEADS=all
#   gdn_cuda_bench                              our timings (CUDA events)
#   gdn_cuda_bench per Dv slice width           prefill timings with GDN_CUDA_DVS pinned (a report)
#   bench/cuda/fla_peer.py                      FLA's timings, same call, same card (needs .peer)
#   rocm-on-cuda                                the ROCm plugin's code paths (test_backend chunked,
#                                               recurrent, planned for 64 KiB of LDS; the conformance
#                                               suite) through its verification build, when
#                                               GDN_ROCM_VERIFY_DIR names a folder holding it (build
#                                               it anywhere nvcc runs: cmake -DGDN_BUILD_ROCM=ON
#                                               -DGDN_ROCM_VERIFY_ON_CUDA=ON, target gdn_rocm_on_cuda,
#                                               then copy lib/gdn/rocm-on-cuda/libgdn_rocm.so; carry it)
#
# What must travel with the tree (ignored folders, name them in the device tool's `carry`):
#   .gpu-deps   Debian packages the GPU machine lacks (../shared/tools/gpu-deps.sh .gpu-deps)
#   .peer       FLA's source (git archive HEAD fla of fla-org/flash-linear-attention)
#
# GDN_GPU_CHECK_SKIP="cuda-bench fla-peer" skips steps by name; GDN_GPU_CHECK_ONLY="..." runs only
# the steps named (configure and build always run; they are incremental). On an H100 the whole
# script takes about 5 minutes (2026-11-27: 285 s with the ROCm verification, FLA's script 162 s), inside one
# 10-minute device call:
#   GDN_SANITIZER_LIMIT=100 bash scripts/gpu-check.sh
# On a slower machine, split it into two calls back to back (the second finds the first one's
# build in build-gpu/ while the machine is still warm):
#   GDN_GPU_CHECK_SKIP="concurrency compute-memcheck compute-memcheck-graphs compute-racecheck" bash scripts/gpu-check.sh
#   GDN_GPU_CHECK_ONLY="concurrency compute-memcheck compute-memcheck-graphs compute-racecheck" bash scripts/gpu-check.sh
# Each sanitizer step is cut off after GDN_SANITIZER_LIMIT seconds (default 150; rc 124 = cut off).
set -uo pipefail
cd "$(dirname "$0")/.."
SKIP=" ${GDN_GPU_CHECK_SKIP:-} "
ONLY=" ${GDN_GPU_CHECK_ONLY:-} "
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
BUILD=${GDN_GPU_BUILD:-$PWD/build-gpu}
ARCH=${GDN_CUDA_ARCH:-90}
declare -a NAMES STATUS
step() {  # step <name> <command...>
    local name=$1
    shift
    if [[ $SKIP == *" $name "* ]] ||
       [[ $ONLY != "  " && $ONLY != *" $name "* && $name != configure && $name != build ]]; then
        echo "== $name: skipped"
        return 0
    fi
    local t0=$SECONDS
    "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    NAMES+=("$name")
    STATUS+=("$([ $rc -eq 0 ] && echo ok || echo "FAILED (rc $rc)") in $((SECONDS - t0)) s")
    echo "== $name: ${STATUS[-1]}"
    return $rc
}

PREFIX=()
if [ -d .gpu-deps ]; then
    mkdir -p /tmp/gdn-deps
    for f in .gpu-deps/*.deb; do dpkg -x "$f" /tmp/gdn-deps; done
    export LD_LIBRARY_PATH=/tmp/gdn-deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
    PREFIX=(-DCMAKE_PREFIX_PATH=/tmp/gdn-deps/usr)
fi
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)

step configure cmake -S . -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release "${PREFIX[@]}" \
    -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DGDN_BUILD_CUDA=ON
step build cmake --build "$BUILD" -j "$(nproc)"
step ctest ctest --test-dir "$BUILD" --output-on-failure -j 8 --timeout "${GDN_CTEST_TIMEOUT:-300}"
step gdn-check "$BUILD/bin/gdn" check --backend cuda
step cuda-check "$BUILD/bin/gdn_cuda_check" --golden golden --cases 40
step cuda-check-recurrent env GDN_CUDA_PREFILL=recurrent "$BUILD/bin/gdn_cuda_check" --golden golden --cases 12
step conformance "$BUILD/bin/gdn" conformance --backend cuda --json "$OUT/conformance.json"
step cuda-check-forced bash -c "for d in 16 32 64 128; do GDN_CUDA_DVS=\$d '$BUILD/bin/gdn_cuda_check' --cases 8 || exit 1; done
    GDN_CUDA_DECODE_RPW=8 '$BUILD/bin/gdn_cuda_check' --cases 12 || exit 1
    GDN_CUDA_PREP_HEADS=all '$BUILD/bin/gdn_cuda_check' --cases 12 || exit 1
    GDN_CUDA_OVERLAP=0 '$BUILD/bin/gdn_cuda_check' --cases 12"
step invariants-forced bash -c "for v in GDN_CUDA_PREFILL=recurrent GDN_CUDA_DVS=16 GDN_CUDA_DVS=32 GDN_CUDA_DVS=64 \
    GDN_CUDA_DVS=128 GDN_CUDA_DECODE_RPW=8 GDN_CUDA_PREP_HEADS=all GDN_CUDA_OVERLAP=0; do
    env \$v '$BUILD/bin/gdn' conformance --backend cuda --no-golden --random 0 --case 'invariant-*,decay-*' || exit 1; done"
step concurrency env GDN_TEST_BACKEND=cuda GDN_TEST_THREADS=8 "$BUILD/bin/test_concurrency"
# compute-sanitizer: memcheck (out-of-bounds and misaligned device accesses, leaks of device
# memory) and racecheck (shared-memory hazards between the threads of a block). Both slow the
# kernels down by orders of magnitude, hence fewer random cases (and no coverage verdict, which
# needs every declared value drawn) and a time limit per step.
CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
SAN_LIMIT=${GDN_SANITIZER_LIMIT:-150}
step compute-memcheck timeout "$SAN_LIMIT" "$CS" --tool memcheck --leak-check full --error-exitcode 1 \
    "$BUILD/bin/gdn" conformance --backend cuda --random 6 --skip coverage-declared
step compute-memcheck-graphs timeout "$SAN_LIMIT" "$CS" --tool memcheck --error-exitcode 1 \
    "$BUILD/bin/gdn_cuda_check" --cases 2
step compute-racecheck timeout "$SAN_LIMIT" "$CS" --tool racecheck --racecheck-report all --error-exitcode 1 \
    "$BUILD/bin/gdn" conformance --backend cuda --no-golden --random 3 --skip coverage-declared
# the same with a key head's value heads in one prep block (its pair path for GVA 2)
step compute-racecheck-prep-heads env GDN_CUDA_PREP_HEADS=all timeout "$SAN_LIMIT" "$CS" --tool racecheck \
    --racecheck-report all --error-exitcode 1 "$BUILD/bin/gdn" conformance --backend cuda --no-golden --random 3 --skip coverage-declared
step cuda-bench "$BUILD/bin/gdn_cuda_bench"
step dvs-sweep bash -c "for d in 16 32 64 128; do echo \"dvs \$d\"; GDN_CUDA_DVS=\$d '$BUILD/bin/gdn_cuda_bench' --quick --no-decode | grep '^prefill'; done"
if [ -n "${GDN_ROCM_VERIFY_DIR:-}" ]; then
    step rocm-on-cuda env GDN_PLUGIN_PATH="$(cd "$GDN_ROCM_VERIFY_DIR" && pwd)" GDN_TEST_BACKEND=rocm bash -c "
        '$BUILD/bin/test_backend' && GDN_ROCM_PREFILL=recurrent '$BUILD/bin/test_backend' &&
        GDN_ROCM_LDS_LIMIT=65536 '$BUILD/bin/test_backend' &&
        '$BUILD/bin/gdn' conformance --backend rocm"
fi
if [ -d .peer/fla ]; then
    step fla-peer env PYTHONPATH="$PWD/.peer" PYTHONUNBUFFERED=1 python3 bench/cuda/fla_peer.py
fi

{
    echo "# gpu-check $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/card: /'
    echo
    echo "| step | result |"
    echo "|---|---|"
    for i in "${!NAMES[@]}"; do echo "| ${NAMES[$i]} | ${STATUS[$i]} |"; done
    echo
    echo '```'
    grep -H -E "^(PASSED|FAILED)" "$OUT/cuda-check.log" "$OUT/cuda-check-recurrent.log" "$OUT/cuda-check-forced.log" 2>/dev/null
    tail -n 3 "$OUT/conformance.log" 2>/dev/null
    for t in compute-memcheck compute-memcheck-graphs compute-racecheck; do
        grep -h -E "ERROR SUMMARY|RACECHECK SUMMARY|LEAK SUMMARY" "$OUT/$t.log" 2>/dev/null | sed "s/^/$t: /"
    done
    grep -E "copy bandwidth|^prefill|^decode" "$OUT/cuda-bench.log" 2>/dev/null
    sed 's/^/dvs-sweep: /' "$OUT/dvs-sweep.log" 2>/dev/null
    grep -h -E "^All tests passed|test cases failed|^rocm: |^conformance: " "$OUT/rocm-on-cuda.log" 2>/dev/null | sed 's/^/rocm-on-cuda: /'
    grep -E "^prefill|^decode|copy_TBps" "$OUT/fla-peer.log" 2>/dev/null
    echo '```'
} >"$OUT/summary.md"
# every log in one archive as well, for tools that copy back only a few files
tar czf "$OUT/00-gpu-check-logs.tar.gz" -C "$OUT" --exclude=00-gpu-check-logs.tar.gz . 2>/dev/null || true
cat "$OUT/summary.md"
for s in "${STATUS[@]}"; do [[ $s == ok* ]] || exit 1; done
exit 0

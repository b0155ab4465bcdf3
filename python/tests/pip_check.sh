#!/usr/bin/env bash
# The documented offline pip install from a checkout (docs/python.md, README "Python"): a virtual
# environment that sees Debian's NumPy and torch, `pip install --no-build-isolation --no-index
# ./python` (setup.py runs the project's CMake build in build-pip/), then the installed package
# imported from elsewhere and one layer run on the cpu plugin inside the wheel. .ci/run runs it.
#   python/tests/pip_check.sh [work dir, default build-pip-check]
# The wheel is built without the GPU plugins, with ccache where installed (as scripts/setup.sh),
# and GDN_CMAKE_ARGS appended.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(realpath -m "${1:-$root/build-pip-check}")
rm -rf "$work" && mkdir -p "$work"

args="-DGDN_BUILD_CUDA=OFF -DGDN_BUILD_ROCM=OFF"
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
  args+=" -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
fi

/usr/bin/python3 -m venv --system-site-packages "$work/venv"
GDN_CMAKE_ARGS="$args ${GDN_CMAKE_ARGS:-}" \
  "$work/venv/bin/python" -m pip install -q --no-build-isolation --no-index "$root/python"

cd "$work"  # away from the checkout: the installed package, never python/gdn
env -u PYTHONPATH -u GDN_PLUGIN_PATH -u GDN_BACKEND PYTHONDONTWRITEBYTECODE=1 "$work/venv/bin/python" - "$work/venv" <<'PY'
import sys

import numpy as np

import gdn

venv = sys.argv[1]
assert gdn.__file__.startswith(venv), gdn.__file__
assert gdn.plugin_directory().startswith(venv), gdn.plugin_directory()
cpu = gdn.open("cpu")
assert cpu.path.startswith(venv), cpu.path
H, HV, D, Kc, T = 1, 2, 16, 4, 5
C = 2 * H * D + HV * D
rng = np.random.default_rng(20261205)
x = rng.standard_normal((T, C)).astype(np.float32)
a = rng.standard_normal((T, HV)).astype(np.float32)
b = rng.standard_normal((T, HV)).astype(np.float32)
w = (0.5 * rng.standard_normal((C, Kc))).astype(np.float32)
A_log = rng.uniform(-1.0, 0.5, HV).astype(np.float32)
dt_bias = (0.1 * rng.standard_normal(HV)).astype(np.float32)
pool = gdn.GDNPool(cpu, 1, 2, H, HV, D, D, Kc, "f32")
slot = pool.alloc_slot()
out = gdn.RadixLinearAttention(0, 0, H, HV, D, D, w, A_log, dt_bias).forward(
    gdn.ForwardBatch.extend(pool, [slot], [T]), x, a, b)
# Against the fp64 reference inside the wheel, from zero states (the golden README's f32 bound).
want, _, _ = gdn.reference_forward(H, HV, D, D, x, a, b, w, A_log, dt_bias, [0, T],
                                   np.zeros((1, C, Kc - 1), np.float32), np.zeros((1, HV, D, D), np.float32))
err = np.linalg.norm(out - want) / np.linalg.norm(want)
assert out.shape == (T, HV * D) and err <= 2e-5, err
print(f"pip-installed gdn {gdn.__version__}: {gdn.__file__}; cpu plugin {cpu.path}; rel. L2 error {err:.1e}")
PY

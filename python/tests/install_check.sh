#!/usr/bin/env bash
# The package as `cmake --install` lays it out: installed into a fresh prefix, imported from there
# by the configured interpreter (from another directory, without the build tree on any path), and
# one forward run on the plugin the installed registry finds beside the installed libraries.
#   install_check.sh <build dir> <work dir> <python package dir, relative to the prefix> <python>
set -euo pipefail
build=$1 work=$2 pydir=$3 python=$4
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cd "$work"
env -u GDN_PLUGIN_PATH -u GDN_BACKEND PYTHONPATH="$work/prefix/$pydir" PYTHONDONTWRITEBYTECODE=1 "$python" - "$work/prefix" <<'PY'
import sys
import numpy as np
import gdn

prefix = sys.argv[1]
assert gdn.__file__.startswith(prefix), gdn.__file__
assert gdn.plugin_directory().startswith(prefix), gdn.plugin_directory()
cpu = gdn.open("cpu")
assert cpu.path.startswith(prefix), cpu.path
pool = gdn.GDNPool(cpu, 1, 2, 1, 2, 8, 8, 4, "f32")
C = 2 * 8 + 2 * 8
layer = gdn.RadixLinearAttention(0, 0, 1, 2, 8, 8, np.full((C, 4), 0.25, np.float32),
                                 np.zeros(2, np.float32), np.zeros(2, np.float32))
out = layer.forward(gdn.ForwardBatch.extend(pool, [pool.alloc_slot()], [3]), np.ones((3, C), np.float32),
                    np.zeros((3, 2), np.float32), np.zeros((3, 2), np.float32))
assert out.shape == (3, 16) and np.isfinite(out).all() and np.abs(out).sum() > 0
print("installed gdn package:", gdn.__file__, "plugin", cpu.path)
PY

"""gdn: the Gated DeltaNet linear-attention layer of hybrid LLMs (Qwen3-Next, Qwen3.5), with
backends that are shared libraries loaded at run time and chosen by name (cpu, cuda, rocm, or a
third party's plugin).

    import gdn, torch
    be = gdn.open("cpu")                                   # or "cuda", "auto"
    pool = gdn.GDNPool(be, num_layers=1, num_slots=8, num_k_heads=2, num_v_heads=4,
                       head_k_dim=32, head_v_dim=32, conv_kernel=4, dtype=torch.float32)
    layer = gdn.RadixLinearAttention(0, 0, 2, 4, 32, 32, conv_weight, A_log, dt_bias)
    slot = pool.alloc_slot()
    batch = gdn.ForwardBatch.extend(pool, [slot], [T])
    out = layer.forward(batch, mixed_qkv, a, b)            # torch in, torch out; [T, HV*Dv]

Tensors go in and out through DLPack and are never copied: torch in, torch out; NumPy in, NumPy
out; strided views (mixed_qkv as a column slice of a fused projection) are taken as they are. The
pool's states are exposed as views that alias the pool (GDNPool.recurrent_state, conv_state).
Errors are gdn.Error subclasses (InvalidArgument, Unsupported, OutOfMemory, NoDevice, Driver,
Runtime, Internal) carrying the C++ library's messages. gdn.torch adapts pymllm-style attention
backends (forward_gdn).
"""

from ._gdn import (  # noqa: F401  (the public API)
    Backend,
    CheckResult,
    Driver,
    Error,
    ForwardBatch,
    ForwardMode,
    GDNPool,
    Internal,
    InvalidArgument,
    LoadReport,
    MAX_DRAFT_TOKENS,
    NO_STATE_WRITE,
    NoDevice,
    OutOfMemory,
    PoolConfig,
    RadixLinearAttention,
    Runtime,
    Stream,
    TensorView,
    Unsupported,
    backends,
    check,
    export_slot,
    import_slot,
    load_golden,
    load_plugin,
    load_reports,
    open,
    plugin_directory,
    read_slot_blob,
    reference_forward,
    status_name,
)

__version__ = "0.1.0"

__all__ = [
    "Backend", "CheckResult", "Driver", "Error", "ForwardBatch", "ForwardMode", "GDNPool", "Internal",
    "InvalidArgument", "LoadReport", "MAX_DRAFT_TOKENS", "NO_STATE_WRITE", "NoDevice", "OutOfMemory", "PoolConfig", "RadixLinearAttention",
    "Runtime", "Stream", "TensorView", "Unsupported", "backends", "check", "export_slot", "import_slot", "load_golden", "load_plugin",
    "load_reports", "open", "plugin_directory", "read_slot_blob", "reference_forward", "status_name",
]

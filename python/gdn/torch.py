"""gdn as an attention backend for PyTorch engines (pymllm, sglang-style model runners).

An engine's linear-attention layer hands its projections to ``forward_gdn`` instead of running
its own kernels::

    from gdn.torch import GDNAttentionBackend
    backend = GDNAttentionBackend(pool)                     # a gdn.GDNPool on the engine's device
    out = backend.forward_gdn(layer, forward_batch, mixed_qkv, a, b)

``layer`` is either a ``gdn.RadixLinearAttention`` or any object with pymllm's layer fields
(``layer_id``, ``gdn_layer_idx``, ``num_k_heads``, ``num_v_heads``, ``head_k_dim``,
``head_v_dim``, ``conv_weight``, ``A_log``, ``dt_bias``); the gdn layer over its parameters is made
once and kept. ``forward_batch`` is the engine's batch with pymllm's fields:

- ``forward_mode``: an enum member named EXTEND, DECODE or MIXED (or a string);
- ``req_pool_indices``: each request's slot in the gdn pool (list or integer tensor);
- ``extend_seq_lens``: each request's new-token count (extend and mixed; ignored for decode).

Every GDN layer of one step shares one ``gdn.ForwardBatch``: it is built on the step's first
layer and reused while the engine passes the same batch object with the same index tensors.
"""

from __future__ import annotations

from typing import Any, Optional

from ._gdn import ForwardBatch, GDNPool, InvalidArgument, RadixLinearAttention

__all__ = ["GDNAttentionBackend", "forward_gdn", "set_default_pool", "gdn_layer_of"]

_LAYER_ATTR = "_gdn_layer"


def gdn_layer_of(layer: Any) -> RadixLinearAttention:
    """The gdn layer for an engine's layer object (made on first use and kept on the object)."""
    if isinstance(layer, RadixLinearAttention):
        return layer
    cached = getattr(layer, _LAYER_ATTR, None)
    if cached is not None:
        return cached
    made = RadixLinearAttention(
        int(layer.layer_id), int(layer.gdn_layer_idx), int(layer.num_k_heads), int(layer.num_v_heads),
        int(layer.head_k_dim), int(layer.head_v_dim), layer.conv_weight, layer.A_log, layer.dt_bias)
    try:
        setattr(layer, _LAYER_ATTR, made)
    except AttributeError:  # __slots__ or a frozen object: make it each time
        pass
    return made


def _mode_name(mode: Any) -> str:
    if isinstance(mode, str):
        return mode.lower()
    name = getattr(mode, "name", None)
    return (name if isinstance(name, str) else str(mode)).lower()


class GDNAttentionBackend:
    """Runs pymllm-style GDN layers on a gdn.GDNPool (its backend and device are the pool's)."""

    def __init__(self, pool: GDNPool) -> None:
        if not isinstance(pool, GDNPool):
            raise TypeError(f"pool: a gdn.GDNPool, got {type(pool).__name__}")
        self.pool = pool
        self._key: Optional[tuple] = None
        self._batch: Optional[ForwardBatch] = None

    def batch_for(self, forward_batch: Any) -> ForwardBatch:
        """The gdn.ForwardBatch of an engine batch (shared by every layer of the step)."""
        if isinstance(forward_batch, ForwardBatch):
            return forward_batch
        mode = forward_batch.forward_mode
        slots = forward_batch.req_pool_indices
        lens = getattr(forward_batch, "extend_seq_lens", None)
        key = self._key  # compared field by field: every GDN layer of a step runs this
        if key is not None and key[0] is forward_batch and key[1] is mode and key[2] is slots and key[3] is lens:
            return self._batch
        key = (forward_batch, mode, slots, lens)
        name = _mode_name(mode)
        if name == "decode":
            batch = ForwardBatch.decode(self.pool, slots)
        else:
            batch = ForwardBatch(name, self.pool, slots, lens)
        self._key, self._batch = key, batch
        return batch

    def forward_gdn(self, layer: Any, forward_batch: Any, mixed_qkv: Any, a: Any, b: Any) -> Any:
        """out [T, HV*Dv] of the layer on this step's tokens; the layer's state in the pool is updated."""
        return gdn_layer_of(layer).forward(self.batch_for(forward_batch), mixed_qkv, a, b)


_default: Optional[GDNAttentionBackend] = None


def set_default_pool(pool: Optional[GDNPool]) -> None:
    """The pool forward_gdn uses when the engine batch carries none (``forward_batch.gdn_pool``)."""
    global _default
    _default = GDNAttentionBackend(pool) if pool is not None else None


def forward_gdn(layer: Any, forward_batch: Any, mixed_qkv: Any, a: Any, b: Any) -> Any:
    """pymllm's attention-backend entry: ``forward_gdn(layer, forward_batch, mixed_qkv, a, b)``.

    The pool is ``forward_batch.gdn_pool`` when the engine batch has one (a gdn.GDNPool or a
    GDNAttentionBackend), else the one given to set_default_pool.
    """
    pool = getattr(forward_batch, "gdn_pool", None)
    if isinstance(pool, GDNAttentionBackend):
        backend = pool
    elif isinstance(pool, GDNPool):
        backend = getattr(forward_batch, "_gdn_backend", None)
        if backend is None or backend.pool is not pool:
            backend = GDNAttentionBackend(pool)
            try:
                forward_batch._gdn_backend = backend
            except AttributeError:
                pass
    elif _default is not None:
        backend = _default
    else:
        raise InvalidArgument("forward_batch: a gdn_pool attribute (gdn.GDNPool), or a pool given to "
                         "gdn.torch.set_default_pool, got neither")
    # backend.forward_gdn, inlined: one Python call fewer per layer and step.
    return gdn_layer_of(layer).forward(backend.batch_for(forward_batch), mixed_qkv, a, b)

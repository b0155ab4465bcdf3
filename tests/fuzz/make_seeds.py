#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/seed_*).

Run from anywhere; it rewrites only seed_* files, never the crash-* regression inputs that the
fuzzers found (those are added by hand, see docs/reliability.md).
"""
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed_" + name), "wb") as f:
        f.write(data)


def safetensors(header, payload=b"", pad=True):
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + payload


def seeds_safetensors():
    t = "safetensors"
    f32 = struct.pack("<6f", *[0.5 * i for i in range(6)])
    bf16 = bytes([0x80, 0x3F, 0x00, 0x40, 0x40, 0x40, 0x80, 0xBF])
    i64 = struct.pack("<2q", 0, 7)
    f16 = struct.pack("<H", 0x3C00)
    hdr = {
        "__metadata__": {"num_k_heads": "2", "mode": "extend", "activation_dtype": "bf16"},
        "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "x": {"dtype": "BF16", "shape": [4], "data_offsets": [24, 32]},
        "cu_seqlens": {"dtype": "I64", "shape": [2], "data_offsets": [32, 48]},
        "h": {"dtype": "F16", "shape": [1], "data_offsets": [48, 50]},
        "e": {"dtype": "I32", "shape": [0], "data_offsets": [50, 50]},
    }
    good = safetensors(hdr, f32 + bf16 + i64 + f16)
    write(t, "valid", good)
    write(t, "valid_no_metadata", safetensors({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}, f32[:4]))
    write(t, "truncated_data", good[:-10])
    write(t, "truncated_header", good[:40])
    write(t, "short", b"\x05\x00\x00")
    write(t, "header_too_long", struct.pack("<Q", 1 << 40) + b"{}")
    write(t, "not_json", struct.pack("<Q", 6) + b"{nope}")
    write(t, "not_object", safetensors([1, 2, 3]))
    write(t, "bad_dtype", safetensors({"a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8))
    write(t, "offsets_outside", safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8))
    write(t, "offsets_reversed", safetensors({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, b"\0" * 8))
    write(t, "size_mismatch", safetensors({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8))
    write(t, "negative_dim", safetensors({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}))
    write(t, "huge_dims", safetensors({"a": {"dtype": "F32", "shape": [1 << 40, 1 << 40], "data_offsets": [0, 0]}}))
    write(t, "metadata_not_string", safetensors({"__metadata__": {"k": 1}}))
    write(t, "meta_int_bad", safetensors({"__metadata__": {"num_k_heads": "99999999999", "x": "1e3"}}))
    write(t, "nested", struct.pack("<Q", 2000) + b"[" * 1000 + b"]" * 1000)


def seeds_plugin_file():
    t = "plugin_file"
    write(t, "text", b"This is a text file named like a gdn plugin.\n")
    write(t, "empty", b"")
    write(t, "elf_magic_only", b"\x7fELF")
    rnd = random.Random(1)
    write(t, "garbage", bytes(rnd.randrange(256) for _ in range(512)))
    for n in (0, 16, 64, 100, 300, 1000, 2000, 4096, 6000, 9000, 12000):
        write(t, "truncated_%d" % n, b"T" + struct.pack("<H", n))


def seeds_forward():
    t = "forward"
    rnd = random.Random(2)
    # All zero bytes decode to the smallest valid call; the others are random walks from it.
    write(t, "zeros", b"\0" * 256)
    for i in range(12):
        n = rnd.choice((64, 128, 256, 512))
        write(t, "random_%02d" % i, bytes(rnd.randrange(256) for _ in range(n)))


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def slot_blob(layers=2, h=1, hv=2, dk=4, dv=4, kc=3, act=1, state=0, rnd=None):
    """A slot blob as gdn/slot_transfer.hpp describes it (format version 1)."""
    size = {0: 4, 1: 2, 2: 2}
    conv_dim = 2 * h * dk + hv * dv
    rb, cb = hv * dv * dk * size[state], conv_dim * (kc - 1) * size[act]
    payload = bytearray()
    for _ in range(layers):
        if state == 0:
            payload += struct.pack("<%df" % (rb // 4), *[rnd.uniform(-1, 1) for _ in range(rb // 4)])
        else:
            payload += bytes(rnd.choice((0x00, 0x3F, 0xBF, 0x80)) for _ in range(rb))
        payload += struct.pack("<%dH" % (cb // 2), *[rnd.choice((0x3F80, 0xBF00, 0x3E00, 0)) for _ in range(cb // 2)])
    header = (b"GDNSLOT\0" + struct.pack("<III", 1, 96, 1) + struct.pack("<6I", layers, h, hv, dk, dv, kc)
              + struct.pack("<III", act, state, 0) + struct.pack("<QQQ", rb, cb, len(payload))
              + struct.pack("<I", 0) + b"\0" * 12)
    assert len(header) == 96
    blob = bytearray(header + payload)
    blob[80:84] = struct.pack("<I", crc32c(blob))
    return bytes(blob)


def seeds_slot_blob():
    # The first byte is the target's control byte: bit 0 reseals the checksum, bits 1-2 pick the
    # pool (0: this geometry; 1: 3 layers; 2: HV 4; 3: f16), bit 3 the slot.
    t = "slot_blob"
    rnd = random.Random(3)
    good = slot_blob(rnd=rnd)
    write(t, "valid", b"\0" + good)
    write(t, "valid_slot1", b"\x08" + good)
    for variant in (1, 2, 3):
        write(t, "pool_mismatch_%d" % variant, bytes([variant << 1]) + good)
    for n in (0, 50, 96, 200, len(good) - 1):
        write(t, "truncated_%d" % n, b"\0" + good[:n])
    flipped = bytearray(good)
    flipped[150] ^= 0x04
    write(t, "corrupt", b"\0" + bytes(flipped))
    write(t, "version_2", b"\x01" + good[:8] + struct.pack("<I", 2) + good[12:])
    write(t, "bf16_state", b"\x01" + slot_blob(state=1, rnd=rnd))
    write(t, "zeros", b"\x01" + b"\0" * 96)
    write(t, "trailing", b"\0" + good + b"\0")


def golden_file(rnd, h=1, hv=2, dk=8, dv=8, kc=4, act="f32", mode="extend", lens=(3, 2), cu=None, cu_dtype="I64",
                rows=None, meta=None, ints=None, floats=None):
    """A golden file as load_golden reads it: random values, shapes from the geometry and lens.

    ints: {name: (dtype, values)} rank-1 integer tensors (the serving fields accepted,
    checkpoint_cu, checkpoint_pos); floats: {name: (dtype, shape)} further float tensors."""
    c = 2 * h * dk + hv * dv
    cu = cu if cu is not None else [sum(lens[:i]) for i in range(len(lens) + 1)]
    t = rows if rows is not None else cu[-1]
    b = len(cu) - 1
    dt = {"f32": "F32", "bf16": "BF16", "f16": "F16"}[act]
    tensors = {
        "mixed_qkv": (dt, [t, c]), "a": (dt, [t, hv]), "b": (dt, [t, hv]), "conv_weight": (dt, [c, kc]),
        "A_log": ("F32", [hv]), "dt_bias": ("F32", [hv]), "conv_state_in": (dt, [b, c, kc - 1]),
        "conv_state_out": (dt, [b, c, kc - 1]), "recurrent_state_in": ("F32", [b, hv, dv, dk]),
        "recurrent_state_out": ("F32", [b, hv, dv, dk]), "out": ("F32", [t, hv * dv]),
    }
    tensors.update(floats or {})
    header = {"__metadata__": dict({"num_k_heads": str(h), "num_v_heads": str(hv), "head_k_dim": str(dk),
                                    "head_v_dim": str(dv), "conv_kernel": str(kc), "activation_dtype": act,
                                    "mode": mode}, **(meta or {}))}
    payload = b""
    for name, (dtype, shape) in tensors.items():
        n = 1
        for d in shape:
            n *= d
        if dtype == "F32":
            data = struct.pack("<%df" % n, *[rnd.uniform(-1, 1) if name != "A_log" else -0.5 for _ in range(n)])
        else:  # bf16 and f16: small values of either format's bit patterns
            data = struct.pack("<%dH" % n, *[rnd.choice((0x3C00, 0xBC00, 0x3800, 0x3F00, 0)) for _ in range(n)])
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(payload), len(payload) + len(data)]}
        payload += data
    for name, (dtype, values) in (ints or {}).items():
        data = struct.pack("<%d%s" % (len(values), "q" if dtype == "I64" else "i"), *values)
        header[name] = {"dtype": dtype, "shape": [len(values)], "data_offsets": [len(payload), len(payload) + len(data)]}
        payload += data
    cu_data = struct.pack("<%d%s" % (len(cu), "q" if cu_dtype == "I64" else "i"), *cu)
    header["cu_seqlens"] = {"dtype": cu_dtype, "shape": [len(cu)],
                            "data_offsets": [len(payload), len(payload) + len(cu_data)]}
    return safetensors(header, payload + cu_data)


def seeds_golden():
    t = "golden"
    rnd = random.Random(4)
    write(t, "valid_extend", golden_file(rnd))
    write(t, "valid_decode", golden_file(rnd, mode="decode", lens=(1, 1, 1)))
    write(t, "valid_mixed_bf16", golden_file(rnd, act="bf16", mode="mixed", lens=(1, 4, 0), hv=4, h=2))
    write(t, "valid_f16_i32_cu", golden_file(rnd, act="f16", cu_dtype="I32", kc=3))
    write(t, "valid_empty_batch", golden_file(rnd, lens=()))
    # The token count near 2^62 whose products wrap around to those of the rows the file holds.
    write(t, "tokens_near_2_62", golden_file(rnd, hv=4, cu=[0, (1 << 62) + 16], rows=16))
    write(t, "tokens_int64_max", golden_file(rnd, cu=[0, 0, (1 << 63) - 1], rows=5))
    write(t, "cu_decreasing", golden_file(rnd, cu=[0, 4, 2, 5], rows=5))
    write(t, "cu_not_zero", golden_file(rnd, cu=[1, 5], rows=5))
    write(t, "heads_not_multiple", golden_file(rnd, meta={"num_k_heads": "3"}))
    write(t, "conv_dim_overflow", golden_file(rnd, meta={"num_k_heads": "2147483647", "head_k_dim": "2147483647"}))
    write(t, "conv_kernel_1", golden_file(rnd, meta={"conv_kernel": "1"}))
    write(t, "activation_i32", golden_file(rnd, meta={"activation_dtype": "i32"}))
    # Serving-state files (ABI 1.2): verify + commit, checkpoints, and their fields out of range.
    c = 2 * 1 * 8 + 2 * 8
    checkpoints = {"checkpoint_recurrent": ("F32", [2, 2, 8, 8]), "checkpoint_conv": ("F32", [2, c, 3])}
    ck_ints = {"checkpoint_cu": ("I64", [0, 1, 2]), "checkpoint_pos": ("I64", [2, 1])}
    write(t, "serving_valid_verify", golden_file(rnd, act="bf16", meta={"state_dtype": "bf16", "mode": "verify"},
                                                 ints={"accepted": ("I64", [1, 2])}))
    write(t, "serving_valid_checkpoints", golden_file(rnd, meta={"state_dtype": "f16"}, ints=ck_ints, floats=checkpoints))
    write(t, "serving_state_dtype_i64", golden_file(rnd, meta={"state_dtype": "i64"}))
    write(t, "serving_accepted_huge", golden_file(rnd, meta={"state_dtype": "f32", "mode": "verify"},
                                                  ints={"accepted": ("I64", [(1 << 62) + 1, 0])}))
    write(t, "serving_accepted_f32", golden_file(rnd, meta={"state_dtype": "f32", "mode": "verify"},
                                                 floats={"accepted": ("F32", [2])}))
    write(t, "serving_checkpoint_cu_int64_max", golden_file(
        rnd, meta={"state_dtype": "f32"}, floats=checkpoints,
        ints={"checkpoint_cu": ("I64", [0, (1 << 63) - 1, 2]), "checkpoint_pos": ("I64", [2, 1])}))
    write(t, "serving_checkpoint_pos_past_end", golden_file(
        rnd, meta={"state_dtype": "f32"}, floats=checkpoints,
        ints={"checkpoint_cu": ("I64", [0, 1, 2]), "checkpoint_pos": ("I64", [(1 << 63) - 1, 1])}))
    write(t, "serving_checkpoint_state_shape", golden_file(
        rnd, meta={"state_dtype": "f32"}, ints=ck_ints,
        floats={"checkpoint_recurrent": ("F32", [2, 8, 8, 2]), "checkpoint_conv": ("F32", [2, c, 3])}))


def seeds_tensor():
    t = "tensor"
    rnd = random.Random(5)
    write(t, "zeros", b"\0" * 64)
    for i in range(8):
        write(t, "random_%02d" % i, bytes(rnd.randrange(256) for _ in range(rnd.choice((32, 64, 128)))))


if __name__ == "__main__":
    seeds_safetensors()
    seeds_plugin_file()
    seeds_forward()
    seeds_slot_blob()
    seeds_golden()
    seeds_tensor()

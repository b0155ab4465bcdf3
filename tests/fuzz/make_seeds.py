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


if __name__ == "__main__":
    seeds_safetensors()
    seeds_plugin_file()
    seeds_forward()

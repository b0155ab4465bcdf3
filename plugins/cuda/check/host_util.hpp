// Host-side helpers shared by the CUDA plugin's check program and its benchmark: loading the
// plugin through its C table, device buffers through the table's own memory slots, dtype
// encoding, and building gdn_forward_args for a batch laid out in a two-layer state pool.
#pragma once

#include <gdn/plugin.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <dlfcn.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace gdn_host {

[[noreturn]] inline void die(const char* fmt, const char* a = "", const char* b = "") {
    std::fprintf(stderr, "FATAL: ");
    std::fprintf(stderr, fmt, a, b);
    std::fprintf(stderr, "\n");
    std::exit(2);
}

struct Plugin {
    void* lib = nullptr;
    const gdn_plugin* t = nullptr;
    gdn_stream stream = nullptr;
    char msg[1024] = {0};
    gdn_errbuf eb() { return gdn_errbuf{msg, sizeof(msg)}; }

    void check(gdn_status s, const char* what) {
        if (s != GDN_OK) {
            std::fprintf(stderr, "FATAL: %s failed: status %d: %s\n", what, static_cast<int>(s), msg);
            std::exit(2);
        }
    }
    // Returns false (with the message printed) when the plugin cannot run here.
    bool load(const char* path) {
        lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!lib) die("dlopen %s: %s", path, dlerror());
        auto entry = reinterpret_cast<gdn_plugin_entry_fn>(dlsym(lib, GDN_PLUGIN_ENTRY_SYMBOL));
        if (!entry) die("dlsym gdn_plugin_entry in %s: %s", path, dlerror());
        t = entry();
        if (!t) die("gdn_plugin_entry returned NULL%s%s");
        const gdn_status s = t->init(eb());
        if (s != GDN_OK) {
            std::printf("plugin init: status %d: %s\n", static_cast<int>(s), msg);
            return false;
        }
        check(t->stream_create(0, nullptr, &stream, eb()), "stream_create");
        return true;
    }
    void* alloc(size_t bytes) {
        void* p = nullptr;
        check(t->mem_alloc(0, bytes, &p, eb()), "mem_alloc");
        return p;
    }
    void free(void* p) { check(t->mem_free(0, p, eb()), "mem_free"); }
    void h2d(void* d, const void* h, size_t n) {
        check(t->mem_copy(stream, d, h, n, GDN_COPY_HOST_TO_DEVICE, eb()), "mem_copy h2d");
        sync();
    }
    void d2h(void* h, const void* d, size_t n) {
        check(t->mem_copy(stream, h, d, n, GDN_COPY_DEVICE_TO_HOST, eb()), "mem_copy d2h");
        sync();
    }
    void sync() { check(t->stream_synchronize(stream, eb()), "stream_synchronize"); }
    // A new stream: the plugin reads its GDN_CUDA_* overrides when a stream is created.
    void reopen_stream() {
        check(t->stream_destroy(stream, eb()), "stream_destroy");
        stream = nullptr;
        check(t->stream_create(0, nullptr, &stream, eb()), "stream_create");
    }
};

// ---- dtypes ---------------------------------------------------------------------------------------
inline size_t dsize(int dt) { return dt == GDN_DTYPE_F32 ? 4 : 2; }
inline const char* dname(int dt) { return dt == GDN_DTYPE_F32 ? "f32" : dt == GDN_DTYPE_BF16 ? "bf16" : "f16"; }

inline void encode(int dt, double v, void* dst) {
    if (dt == GDN_DTYPE_F32) {
        float f = static_cast<float>(v);
        std::memcpy(dst, &f, 4);
    } else if (dt == GDN_DTYPE_BF16) {
        __nv_bfloat16 b = __float2bfloat16_rn(static_cast<float>(v));
        std::memcpy(dst, &b, 2);
    } else {
        __half h = __float2half_rn(static_cast<float>(v));
        std::memcpy(dst, &h, 2);
    }
}
inline double decode(int dt, const void* src) {
    if (dt == GDN_DTYPE_F32) {
        float f;
        std::memcpy(&f, src, 4);
        return f;
    }
    if (dt == GDN_DTYPE_BF16) {
        __nv_bfloat16 b;
        std::memcpy(&b, src, 2);
        return __bfloat162float(b);
    }
    __half h;
    std::memcpy(&h, src, 2);
    return __half2float(h);
}
inline double round_to(int dt, double v) {
    unsigned char b[4];
    encode(dt, v, b);
    return decode(dt, b);
}

// A host byte buffer of one dtype.
struct Bytes {
    int dt = GDN_DTYPE_F32;
    std::vector<unsigned char> b;
    Bytes() = default;
    Bytes(int dtype, size_t n) : dt(dtype), b(n * dsize(dtype)) {}
    size_t n() const { return b.size() / dsize(dt); }
    double get(size_t i) const { return decode(dt, b.data() + i * dsize(dt)); }
    void set(size_t i, double v) { encode(dt, v, b.data() + i * dsize(dt)); }
};

inline gdn_tensor tensor(void* data, int dt, std::initializer_list<int64_t> shape,
                         std::initializer_list<int64_t> strides) {
    gdn_tensor t{};
    t.data = data;
    t.dtype = dt;
    t.rank = static_cast<int32_t>(shape.size());
    int i = 0;
    for (int64_t s : shape) t.shape[i++] = s;
    i = 0;
    for (int64_t s : strides) t.strides[i++] = s;
    return t;
}

}  // namespace gdn_host

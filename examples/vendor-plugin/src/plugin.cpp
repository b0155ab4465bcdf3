// The plugin table of the "myvendor" backend: a plain, single-threaded CPU implementation of
// the GDN layer, written to be read. It shows everything a gdn plugin has to do:
//   - export one symbol, gdn_plugin_entry, returning a static table (gdn_add_plugin hides the rest);
//   - answer every slot with a status code and a message in the caller's buffer;
//   - never let a C++ exception cross the boundary (every slot body runs inside `guarded`);
//   - keep no pointer the host passed in after the call returns;
//   - start no thread, so there is nothing to stop in shutdown.
// Memory is host memory, so "device" copies are memcpy and every stream is synchronous.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>

#include "forward.hpp"
#include "gdn/plugin.h"

namespace myvendor {

namespace {

gdn_status fail(gdn_errbuf err, gdn_status status, const char* message) {
    if (err.text && err.capacity) std::snprintf(err.text, err.capacity, "myvendor: %s", message);
    return status;
}

// Runs a slot body; an exception becomes a status and a message instead of crossing into the host.
template <class F>
gdn_status guarded(gdn_errbuf err, F&& body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc&) {
        return fail(err, GDN_ERR_OUT_OF_MEMORY, "out of host memory");
    } catch (const std::exception& e) {
        return fail(err, GDN_ERR_INTERNAL, e.what());
    } catch (...) {
        return fail(err, GDN_ERR_INTERNAL, "unknown exception");
    }
}

// The host passes structs sized as it was compiled; write only the prefix both sides know.
template <class T>
void copy_prefix(T full, T* dst) {
    const size_t n = dst->struct_size < sizeof(T) ? dst->struct_size : sizeof(T);
    full.struct_size = uint32_t(n);
    std::memcpy(dst, &full, n);
}

gdn_status check_device(int32_t device, gdn_errbuf err) {
    return device == 0 ? GDN_OK : fail(err, GDN_ERR_INVALID_ARGUMENT, "there is only device 0");
}

// ---- lifetime and devices ---------------------------------------------------------------------

gdn_status init(gdn_errbuf) { return GDN_OK; }  // nothing to start
void shutdown() {}                              // nothing to stop: no threads, no runtime

gdn_status device_count(int32_t* count, gdn_errbuf err) {
    if (!count) return fail(err, GDN_ERR_INVALID_ARGUMENT, "count is NULL");
    *count = 1;
    return GDN_OK;
}

gdn_status device_properties(int32_t device, gdn_device_properties* props, gdn_errbuf err) {
    if (gdn_status s = check_device(device, err)) return s;
    if (!props || props->struct_size < sizeof(uint32_t))
        return fail(err, GDN_ERR_INVALID_ARGUMENT, "props is NULL or too small");
    gdn_device_properties p{};
    p.kind = GDN_DEVICE_CPU;
    std::snprintf(p.name, sizeof p.name, "myvendor reference CPU (1 thread)");
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    p.memory_bytes = pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
    p.compute_units = 1;
    p.warp_size = 1;
    p.host_accessible = 1;
    copy_prefix(p, props);
    return GDN_OK;
}

gdn_status device_capabilities(int32_t device, gdn_capabilities* caps, gdn_errbuf err) {
    if (gdn_status s = check_device(device, err)) return s;
    if (!caps || caps->struct_size < sizeof(uint32_t))
        return fail(err, GDN_ERR_INVALID_ARGUMENT, "caps is NULL or too small");
    gdn_capabilities c{};
    c.activation_dtypes = (1u << GDN_DTYPE_F32) | (1u << GDN_DTYPE_BF16) | (1u << GDN_DTYPE_F16);
    c.head_k_dim = {kMinHeadDim, kMaxHeadDim, 1};
    c.head_v_dim = {kMinHeadDim, kMaxHeadDim, 1};
    for (int k = kMinConvKernel; k <= kMaxConvKernel; ++k) c.conv_kernels |= 1u << k;
    for (int r = 1; r <= kMaxGvaRatio; ++r) c.gva_ratios |= 1u << r;
    c.modes = (1u << GDN_MODE_EXTEND) | (1u << GDN_MODE_DECODE) | (1u << GDN_MODE_MIXED);
    c.deterministic = 1;  // one thread, one fixed order of every sum
    copy_prefix(c, caps);
    return GDN_OK;
}

// ---- streams: every call completes before it returns --------------------------------------------

struct Stream {
    int32_t device;
};

gdn_status stream_create(int32_t device, const gdn_stream_options*, gdn_stream* out, gdn_errbuf err) {
    if (gdn_status s = check_device(device, err)) return s;
    if (!out) return fail(err, GDN_ERR_INVALID_ARGUMENT, "out is NULL");
    return guarded(err, [&] {
        *out = reinterpret_cast<gdn_stream>(new Stream{device});
        return GDN_OK;
    });
}

gdn_status stream_destroy(gdn_stream stream, gdn_errbuf) {
    delete reinterpret_cast<Stream*>(stream);
    return GDN_OK;
}

gdn_status stream_synchronize(gdn_stream, gdn_errbuf) { return GDN_OK; }

// ---- memory: host memory ------------------------------------------------------------------------

gdn_status mem_alloc(int32_t device, size_t bytes, void** out, gdn_errbuf err) {
    if (gdn_status s = check_device(device, err)) return s;
    if (!out) return fail(err, GDN_ERR_INVALID_ARGUMENT, "out is NULL");
    const size_t rounded = (bytes + 255) / 256 * 256;  // aligned_alloc wants a multiple of the alignment
    *out = std::aligned_alloc(256, rounded ? rounded : 256);
    return *out ? GDN_OK : fail(err, GDN_ERR_OUT_OF_MEMORY, "aligned_alloc failed");
}

gdn_status mem_free(int32_t, void* ptr, gdn_errbuf) {
    std::free(ptr);
    return GDN_OK;
}

gdn_status mem_copy(gdn_stream, void* dst, const void* src, size_t bytes, int32_t, gdn_errbuf err) {
    if (bytes && (!dst || !src)) return fail(err, GDN_ERR_INVALID_ARGUMENT, "NULL pointer in mem_copy");
    if (bytes) std::memmove(dst, src, bytes);
    return GDN_OK;
}

gdn_status mem_set(gdn_stream, void* dst, int32_t value, size_t bytes, gdn_errbuf err) {
    if (bytes && !dst) return fail(err, GDN_ERR_INVALID_ARGUMENT, "NULL pointer in mem_set");
    if (bytes) std::memset(dst, value, bytes);
    return GDN_OK;
}

// ---- the layer ----------------------------------------------------------------------------------

gdn_status forward_gdn(gdn_stream, const gdn_forward_args* args, gdn_errbuf err) {
    if (!args) return fail(err, GDN_ERR_INVALID_ARGUMENT, "args is NULL");
    return guarded(err, [&] {
        if (gdn_status s = check_forward(*args, err)) return s;
        forward(*args);
        return GDN_OK;
    });
}

const gdn_plugin kTable = {
    sizeof(gdn_plugin),
    GDN_ABI_MAJOR,
    GDN_ABI_MINOR,
    "myvendor",
    "1.0.0",
    "example out-of-tree backend: plain single-threaded CPU reference (examples/vendor-plugin)",
    5,  // low: chosen automatically only when nothing faster is there
    &init,
    &shutdown,
    &device_count,
    &device_properties,
    &device_capabilities,
    &stream_create,
    &stream_destroy,
    &stream_synchronize,
    &mem_alloc,
    &mem_free,
    &mem_copy,
    &mem_set,
    &forward_gdn,
    nullptr,  // stream_wrap (ABI 1.1): host memory has no native streams to wrap
    nullptr,  // stream_native

};

}  // namespace

}  // namespace myvendor

extern "C" GDN_PLUGIN_EXPORT const gdn_plugin* gdn_plugin_entry(void) { return &myvendor::kTable; }

// The plugin table and its slots. Every slot catches everything: no C++ exception crosses the
// C boundary; failures become a status plus a message in the caller's gdn_errbuf.
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>

#include <oneapi/tbb/global_control.h>

#include "device.hpp"
#include "gdn/dtype.hpp"
#include "gdn/forward_batch.hpp"
#include "errors.hpp"
#include "forward.hpp"
#include "gdn/plugin.h"
#include "kernels.hpp"
#include "stream.hpp"

// The conformance suite builds these sources again as mutant plugins under other names.
#ifndef GDN_CPU_PLUGIN_NAME
#define GDN_CPU_PLUGIN_NAME "cpu"
#endif

namespace gdn_cpu {
namespace {

// Lifetime of oneTBB's worker threads. Unloading the plugin while TBB workers still run crashes
// (seen ~10% of unloads here), so shutdown() joins them with tbb::finalize through this handle,
// attached in init() before any arena exists. The library is also linked with -z nodelete
// (RTLD_NODELETE): finalize cannot join a worker while some other thread of the process still
// holds a TBB arena or TLS, and then the mapping must simply outlive it. nodelete also keeps this
// handle's state across a reload, which is why init() re-attaches after a finalize.
tbb::task_scheduler_handle g_scheduler;

template <class F>
gdn_status guarded(gdn_errbuf err, F&& body) noexcept {
    try {
        clear(err);
        return body();
    } catch (const std::bad_alloc&) {
        return fail(err, GDN_ERR_OUT_OF_MEMORY, "out of host memory");
    } catch (const std::exception& e) {
        return fail(err, GDN_ERR_INTERNAL, "internal error: %s", e.what());
    } catch (...) {
        return fail(err, GDN_ERR_INTERNAL, "internal error: unknown exception");
    }
}

gdn_status check_device(int32_t device, gdn_errbuf err) {
    if (device != 0) return fail(err, GDN_ERR_INVALID_ARGUMENT, "device: %d is not 0 (the one CPU device)", device);
    return GDN_OK;
}

// Copies the prefix of `full` that both sides know into the caller's struct of `caller_size`.
template <class T>
void copy_prefix(T& full, T* dst) {
    const std::size_t n = dst->struct_size < sizeof(T) ? dst->struct_size : sizeof(T);
    full.struct_size = uint32_t(n);
    std::memcpy(dst, &full, n);
}

gdn_status init(gdn_errbuf err) {
    return guarded(err, [&] {
        __builtin_cpu_init();
        if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
            return fail(err, GDN_ERR_UNSUPPORTED, "this CPU lacks AVX2/FMA; the cpu plugin is built for x86-64-v3");
        if (!g_scheduler) g_scheduler = tbb::task_scheduler_handle{tbb::attach{}};
        return GDN_OK;
    });
}

void shutdown() noexcept {
    try {
        if (g_scheduler) (void)tbb::finalize(g_scheduler, std::nothrow);
    } catch (...) {}
}

gdn_status device_count(int32_t* count, gdn_errbuf err) {
    return guarded(err, [&] {
        if (!count) return fail(err, GDN_ERR_INVALID_ARGUMENT, "count is NULL");
        *count = 1;
        return GDN_OK;
    });
}

gdn_status device_properties(int32_t device, gdn_device_properties* props, gdn_errbuf err) {
    return guarded(err, [&] {
        if (gdn_status s = check_device(device, err)) return s;
        if (!props) return fail(err, GDN_ERR_INVALID_ARGUMENT, "props is NULL");
        if (props->struct_size < sizeof(uint32_t))
            return fail(err, GDN_ERR_INVALID_ARGUMENT, "props->struct_size: %u is too small", props->struct_size);
        gdn_device_properties full{};
        describe_device(full);
        copy_prefix(full, props);
        return GDN_OK;
    });
}

gdn_status device_capabilities(int32_t device, gdn_capabilities* caps, gdn_errbuf err) {
    return guarded(err, [&] {
        if (gdn_status s = check_device(device, err)) return s;
        if (!caps) return fail(err, GDN_ERR_INVALID_ARGUMENT, "caps is NULL");
        if (caps->struct_size < sizeof(uint32_t))
            return fail(err, GDN_ERR_INVALID_ARGUMENT, "caps->struct_size: %u is too small", caps->struct_size);
        // Every activation dtype and mode (group.cpp instantiates the kernels per dtype).
        static_assert(gdn::kActivationDTypeCount == 3, "an activation dtype was added: mask, group.cpp, half.hpp");
        static_assert(gdn::kForwardModeCount == 3, "a mode was added: the modes mask and validate.cpp");
        gdn_capabilities full{};
        full.activation_dtypes = (1u << GDN_DTYPE_F32) | (1u << GDN_DTYPE_BF16) | (1u << GDN_DTYPE_F16);
        full.head_k_dim = {kMinHeadDim, kMaxHeadDim, 1};
        full.head_v_dim = {kMinHeadDim, kMaxHeadDim, 1};
        for (int k = kMinConvKernel; k <= kMaxConvKernel; ++k) full.conv_kernels |= 1u << k;
        for (int r = 1; r <= kMaxGvaRatio; ++r) full.gva_ratios |= 1u << r;
        full.modes = (1u << GDN_MODE_EXTEND) | (1u << GDN_MODE_DECODE) | (1u << GDN_MODE_MIXED);
        full.deterministic = 1;  // every sum has a fixed order, independent of threads
        full.state_dtypes = kStateDtypes;
        full.features = kFeatures;
        copy_prefix(full, caps);
        return GDN_OK;
    });
}

PrefillPath prefill_path_from_env() {
    const char* env = std::getenv("GDN_CPU_PREFILL");
    if (!env) return PrefillPath::automatic;
    if (std::strcmp(env, "recurrent") == 0) return PrefillPath::recurrent;
    if (std::strcmp(env, "chunked") == 0) return PrefillPath::chunked;
    return PrefillPath::automatic;
}

// GDN_VERBOSE, a comma-separated list ("plan", "all"), asks for the plan of every call.
bool verbose_plan_from_env() {
    const char* env = std::getenv("GDN_VERBOSE");
    if (!env) return false;
    for (const char* p = env; *p;) {
        const std::size_t len = std::strcspn(p, ",");
        if ((len == 4 && std::strncmp(p, "plan", 4) == 0) || (len == 3 && std::strncmp(p, "all", 3) == 0)) return true;
        p += len;
        if (*p == ',') ++p;
    }
    return false;
}

gdn_status stream_create(int32_t device, const gdn_stream_options* options, gdn_stream* out, gdn_errbuf err) {
    return guarded(err, [&] {
        if (gdn_status s = check_device(device, err)) return s;
        if (!out) return fail(err, GDN_ERR_INVALID_ARGUMENT, "out is NULL");
        int threads = 0;
        if (options && options->struct_size >= offsetof(gdn_stream_options, num_threads) + sizeof(int32_t))
            threads = options->num_threads;
        if (threads < 0 || threads > kMaxThreads)
            return fail(err, GDN_ERR_INVALID_ARGUMENT, "num_threads: %d is outside 0..%d (0: every thread available)",
                        threads, kMaxThreads);
        if (threads == 0) threads = default_threads();
        *out = new gdn_stream_impl(threads, prefill_path_from_env(), verbose_plan_from_env(), select_kernels());
        return GDN_OK;
    });
}

gdn_status stream_destroy(gdn_stream stream, gdn_errbuf err) {
    return guarded(err, [&] {
        if (!stream) return fail(err, GDN_ERR_INVALID_ARGUMENT, "stream is NULL");
        delete stream;
        return GDN_OK;
    });
}

gdn_status stream_synchronize(gdn_stream stream, gdn_errbuf err) {
    // Every call on a stream completes before it returns: nothing is ever pending.
    return guarded(err, [&] {
        if (!stream) return fail(err, GDN_ERR_INVALID_ARGUMENT, "stream is NULL");
        return GDN_OK;
    });
}

gdn_status mem_alloc(int32_t device, size_t bytes, void** out, gdn_errbuf err) {
    return guarded(err, [&] {
        if (gdn_status s = check_device(device, err)) return s;
        if (!out) return fail(err, GDN_ERR_INVALID_ARGUMENT, "out is NULL");
        // aligned_alloc wants a multiple of the alignment; 0 bytes still gets a unique pointer.
        const size_t rounded = bytes == 0 ? 256 : (bytes + 255) / 256 * 256;
        if (rounded < bytes) return fail(err, GDN_ERR_OUT_OF_MEMORY, "%zu bytes is too large", bytes);
        void* p = std::aligned_alloc(256, rounded);
        if (!p) return fail(err, GDN_ERR_OUT_OF_MEMORY, "%zu bytes of host memory are not available", bytes);
        *out = p;
        return GDN_OK;
    });
}

gdn_status mem_free(int32_t device, void* ptr, gdn_errbuf err) {
    return guarded(err, [&] {
        if (gdn_status s = check_device(device, err)) return s;
        std::free(ptr);
        return GDN_OK;
    });
}

gdn_status mem_copy(gdn_stream stream, void* dst, const void* src, size_t bytes, int32_t kind, gdn_errbuf err) {
    return guarded(err, [&] {
        (void)stream;  // synchronous: host memory, done before returning
        if (kind < GDN_COPY_HOST_TO_DEVICE || kind > GDN_COPY_DEVICE_TO_DEVICE)
            return fail(err, GDN_ERR_INVALID_ARGUMENT, "kind: %d is not a gdn_copy_kind", kind);
        if (bytes == 0) return GDN_OK;
        if (!dst || !src) return fail(err, GDN_ERR_INVALID_ARGUMENT, "%s is NULL", dst ? "src" : "dst");
        std::memmove(dst, src, bytes);
        return GDN_OK;
    });
}

gdn_status mem_set(gdn_stream stream, void* dst, int32_t byte_value, size_t bytes, gdn_errbuf err) {
    return guarded(err, [&] {
        (void)stream;
        if (bytes == 0) return GDN_OK;
        if (!dst) return fail(err, GDN_ERR_INVALID_ARGUMENT, "dst is NULL");
        std::memset(dst, byte_value, bytes);
        return GDN_OK;
    });
}

gdn_status forward_gdn(gdn_stream stream, const gdn_forward_args* args, gdn_errbuf err) {
    return guarded(err, [&] {
        if (!stream) return fail(err, GDN_ERR_INVALID_ARGUMENT, "stream is NULL");
        if (!args) return fail(err, GDN_ERR_INVALID_ARGUMENT, "args is NULL");
        return forward(*stream, *args, err);
    });
}

const gdn_plugin kTable = {
    sizeof(gdn_plugin),
    GDN_ABI_MAJOR,
    GDN_ABI_MINOR,
    GDN_CPU_PLUGIN_NAME,
    "0.1.0",
    "oneTBB CPU backend: chunked (WY/UT) prefill, token-by-token decode; f32/bf16/f16 activations",
    10,
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
}  // namespace gdn_cpu

extern "C" GDN_PLUGIN_EXPORT const gdn_plugin* gdn_plugin_entry(void) { return &gdn_cpu::kTable; }

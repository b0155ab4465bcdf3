// The ROCm backend plugin: the gdn_plugin table, devices, streams, memory and forward_gdn.
//
// The kernels are the CUDA plugin's (plugins/gpu, through the vendor layer); this file is the
// host side. It calls the runtime only through gdn_rt, so it builds with nvcc as well: the
// verification build (GDN_ROCM_VERIFY_ON_CUDA) runs this host logic and the kernels it picks,
// mma emulation included, on an NVIDIA GPU, since no AMD GPU is reachable where gdn is built.
//
// Every slot sets the device first (host threads may differ between calls), turns runtime
// errors into a status and a message, and lets no exception escape.
#include <gdn/plugin.h>

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "../gpu/gdn_common.cuh"
#include "forward.hpp"
#include "targets.hpp"

namespace {

using gdn_gpu::GdnParams;
using gdn_gpu::LaunchPlan;

#if defined(GDN_GPU_HIP)
constexpr const char* kGpu = "AMD GPU";
#else
constexpr const char* kGpu = "GPU (rocm plugin built with CUDA for verification)";
#endif

void set_err(gdn_errbuf err, const char* fmt, ...) {
    if (!err.text || err.capacity == 0) return;
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(err.text, err.capacity, fmt, ap);
    va_end(ap);
}

gdn_status status_of(gdn_rt::Error e) {
    if (gdn_rt::is_driver_error(e)) return GDN_ERR_DRIVER;
    if (e == gdn_rt::kErrNoDevice) return GDN_ERR_NO_DEVICE;
    if (e == gdn_rt::kErrMemoryAllocation) return GDN_ERR_OUT_OF_MEMORY;
    return GDN_ERR_RUNTIME;
}

// "<text> (<name>)", or the name alone where the runtime's text is the name (HIP 5.2).
struct ErrorText {
    char text[256];
    explicit ErrorText(gdn_rt::Error e) {
        const char* s = gdn_rt::error_string(e);
        const char* n = gdn_rt::error_name(e);
        if (s && n && std::strcmp(s, n) != 0)
            std::snprintf(text, sizeof text, "%s (%s)", s, n);
        else
            std::snprintf(text, sizeof text, "%s", n ? n : (s ? s : "unknown error"));
    }
};

// Reports a failed runtime call: status plus "<api><call>: <runtime text>", e.g.
// "hipMalloc: hipErrorOutOfMemory".
gdn_status fail(gdn_rt::Error e, gdn_errbuf err, const char* call) {
    (void)gdn_rt::get_last_error();  // clear a non-sticky error so the next call starts clean
    set_err(err, "%s%s: %s", gdn_rt::kApi, call, ErrorText(e).text);
    return status_of(e);
}

#define GDN_TRY(expr, call)                                   \
    do {                                                      \
        const gdn_rt::Error e_ = (expr);                      \
        if (e_ != gdn_rt::kSuccess) return fail(e_, err, call); \
    } while (0)

#define GDN_GUARD_BEGIN try {
#define GDN_GUARD_END                                                     \
    }                                                                     \
    catch (const std::bad_alloc&) {                                       \
        set_err(err, "out of host memory");                               \
        return GDN_ERR_OUT_OF_MEMORY;                                     \
    }                                                                     \
    catch (...) {                                                         \
        set_err(err, "internal error: unexpected exception in the ROCm plugin"); \
        return GDN_ERR_INTERNAL;                                          \
    }

constexpr int kMaxKDim = 256;
constexpr size_t kInitialCounters = 1 << 16;

struct StreamImpl {
    gdn_rt::Stream stream = nullptr;
    bool owned = true;  // false: the caller's stream (stream_wrap); stream_destroy leaves it alone
    int device = 0;
    int cu_count = 0;
    int smem_limit = 0;       // shared memory (LDS) one block may use
    int* counters = nullptr;  // one per (request, key head), zero between launches
    size_t counter_cap = 0;
    void* scratch = nullptr;  // chunked prefill scratch, grow-only (decode and token-by-token need none)
    size_t scratch_cap = 0;
    std::vector<gdn_gpu::ChunkDesc> chunks;  // host staging of the chunked prefill's chunk list
};

size_t align256(size_t x) { return (x + 255) & ~static_cast<size_t>(255); }

// ---- devices ---------------------------------------------------------------------------------

// Number of devices; 0 with GDN_ERR_NO_DEVICE and the reason a user sees in `gdn list`.
gdn_status count_devices(int* n, gdn_errbuf err) {
    *n = 0;
    const gdn_rt::Error e = gdn_rt::device_count(n);
    if (e == gdn_rt::kErrNoDevice || (e == gdn_rt::kSuccess && *n <= 0)) {
        (void)gdn_rt::get_last_error();
        *n = 0;
#if defined(GDN_GPU_HIP)
        const bool kfd = ::access("/dev/kfd", F_OK) == 0;
        set_err(err, "no AMD GPU (%sGetDeviceCount: %s%s)", gdn_rt::kApi, ErrorText(e).text,
                kfd ? "; /dev/kfd exists: is this user in the 'render' and 'video' groups?"
                    : "; no /dev/kfd: no amdgpu kernel driver or no AMD GPU on this machine");
#else
        set_err(err, "no %s (%sGetDeviceCount: %s)", kGpu, gdn_rt::kApi, ErrorText(e).text);
#endif
        return GDN_ERR_NO_DEVICE;
    }
    if (e != gdn_rt::kSuccess) {
        (void)gdn_rt::get_last_error();
        set_err(err, "%s runtime unusable (%sGetDeviceCount: %s)", kGpu, gdn_rt::kApi, ErrorText(e).text);
        return status_of(e);
    }
    return GDN_OK;
}

gdn_status check_index(int32_t device, gdn_errbuf err) {
    int n = 0;
    if (gdn_status s = count_devices(&n, err)) return s;
    if (device < 0 || device >= n) {
        set_err(err, "device: %d is not an %s index (0..%d)", device, kGpu, n - 1);
        return GDN_ERR_INVALID_ARGUMENT;
    }
    return GDN_OK;
}

// The build has code for the device's ISA, and the device's wavefront is the one that code was
// compiled for. The kernels' warps are 32 lanes on every target (vendor.cuh); what must match is
// the hardware wavefront the compiler laid the code out for (64 on gfx9, 32 on gfx10+).
gdn_status check_usable(int32_t device, const gdn_rt::DeviceProp& dp, gdn_errbuf err) {
    char arch[64];
    gdn_rt::device_arch(dp, arch, sizeof arch);
    const int wave = gdn_rocm::target_wave_size(arch);
    if (wave == 0) {
        set_err(err,
                "device %d (%s, %s) is not a target of this build (it has code for %s); rebuild with "
                "-DGDN_ROCM_TARGETS=\"...;%s\" and a ROCm whose compiler supports %s",
                device, dp.name, arch, gdn_rocm::kTargets, arch, arch);
        return GDN_ERR_UNSUPPORTED;
    }
    if (dp.warpSize != wave) {
        set_err(err,
                "device %d (%s, %s) runs wavefronts of %d lanes, but this build's %s code was compiled for "
                "%d; refusing to run it",
                device, dp.name, arch, dp.warpSize, arch, wave);
        return GDN_ERR_UNSUPPORTED;
    }
    return GDN_OK;
}

gdn_status usable_device(int32_t device, gdn_rt::DeviceProp* dp, gdn_errbuf err) {
    if (gdn_status s = check_index(device, err)) return s;
    GDN_TRY(gdn_rt::device_properties(dp, device), "GetDeviceProperties");
    return check_usable(device, *dp, err);
}

gdn_status init(gdn_errbuf err) {
    GDN_GUARD_BEGIN
    int n = 0;
    if (gdn_status s = count_devices(&n, err)) return s;
    for (int d = 0; d < n; ++d) {
        gdn_rt::DeviceProp dp{};
        GDN_TRY(gdn_rt::device_properties(&dp, d), "GetDeviceProperties");
        if (gdn_status s = check_usable(d, dp, err)) return s;
    }
    return GDN_OK;
    GDN_GUARD_END
}

void shutdown() {
    // Nothing to stop: the plugin starts no threads. The HIP runtime cannot be unloaded and
    // loaded again in one process, so the library is linked -z nodelete (see CMakeLists.txt)
    // and the runtime lives until the process exits.
}

gdn_status device_count(int32_t* count, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    if (!count) { set_err(err, "count: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    int n = 0;
    const gdn_status s = count_devices(&n, err);
    *count = n;
    return s;
    GDN_GUARD_END
}

gdn_status device_properties(int32_t device, gdn_device_properties* props, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    if (!props) { set_err(err, "props: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    if (gdn_status s = check_index(device, err)) return s;
    gdn_rt::DeviceProp dp{};
    GDN_TRY(gdn_rt::device_properties(&dp, device), "GetDeviceProperties");
    gdn_device_properties p{};
    p.struct_size = props->struct_size < sizeof(p) ? props->struct_size : static_cast<uint32_t>(sizeof(p));
    p.kind = GDN_DEVICE_GPU;
    char arch[64];
    gdn_rt::device_arch(dp, arch, sizeof arch);
    std::snprintf(p.name, sizeof(p.name), "%s (%s)", dp.name, arch);
    p.memory_bytes = dp.totalGlobalMem;
    p.compute_units = dp.multiProcessorCount;
    p.compute_major = dp.major;
    p.compute_minor = dp.minor;
    p.warp_size = dp.warpSize;
    p.host_accessible = 0;
    const uint32_t n = p.struct_size;
    std::memcpy(props, &p, n);
    props->struct_size = n;
    return GDN_OK;
    GDN_GUARD_END
}

// What every usable device supports: the decode kernel as on CUDA, and extend through the
// chunked kernel where it fits the LDS, else token by token (both exact for these sets).
gdn_capabilities caps_all() {
    gdn_capabilities c{};
    c.struct_size = sizeof(c);
    c.activation_dtypes = (1u << GDN_DTYPE_F32) | (1u << GDN_DTYPE_BF16) | (1u << GDN_DTYPE_F16);
    c.head_k_dim = {16, kMaxKDim, 16};
    c.head_v_dim = {16, 256, 16};
    c.conv_kernels = (1u << 2) | (1u << 3) | (1u << 4);
    c.gva_ratios = 0;
    for (int r = 1; r <= 8; ++r) c.gva_ratios |= 1u << r;
    c.modes = (1u << GDN_MODE_EXTEND) | (1u << GDN_MODE_DECODE) | (1u << GDN_MODE_MIXED);
    c.deterministic = 1;
    return c;
}

gdn_status device_capabilities(int32_t device, gdn_capabilities* caps, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    if (!caps) { set_err(err, "caps: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    gdn_rt::DeviceProp dp{};
    if (gdn_status s = usable_device(device, &dp, err)) return s;
    gdn_capabilities c = caps_all();
    const uint32_t n = caps->struct_size < sizeof(c) ? caps->struct_size : static_cast<uint32_t>(sizeof(c));
    c.struct_size = n;
    std::memcpy(caps, &c, n);
    return GDN_OK;
    GDN_GUARD_END
}

// ---- streams and memory ----------------------------------------------------------------------

gdn_status grow_counters(StreamImpl* s, size_t need, gdn_errbuf err) {
    if (need <= s->counter_cap) return GDN_OK;
    bool capturing = false;
    GDN_TRY(gdn_rt::stream_is_capturing(s->stream, &capturing), "StreamIsCapturing");
    if (capturing) {
        set_err(err, "num_requests * num_k_heads = %zu exceeds the %zu group counters of this stream; run one "
                     "such call before capturing a graph", need, s->counter_cap);
        return GDN_ERR_UNSUPPORTED;
    }
    size_t cap = s->counter_cap ? s->counter_cap : kInitialCounters;
    while (cap < need) cap *= 2;
    GDN_TRY(gdn_rt::stream_synchronize(s->stream), "StreamSynchronize");
    if (s->counters) GDN_TRY(gdn_rt::free_device(s->counters), "Free");
    s->counters = nullptr;
    s->counter_cap = 0;
    void* p = nullptr;
    GDN_TRY(gdn_rt::malloc_device(&p, cap * sizeof(int)), "Malloc (group counters)");
    s->counters = static_cast<int*>(p);
    GDN_TRY(gdn_rt::memset_async(p, 0, cap * sizeof(int), s->stream), "MemsetAsync");
    GDN_TRY(gdn_rt::stream_synchronize(s->stream), "StreamSynchronize");
    s->counter_cap = cap;
    return GDN_OK;
}

gdn_status grow_scratch(StreamImpl* s, size_t need, gdn_errbuf err) {
    if (need <= s->scratch_cap) return GDN_OK;
    bool capturing = false;  // growing synchronizes, which a capturing stream must not do
    GDN_TRY(gdn_rt::stream_is_capturing(s->stream, &capturing), "StreamIsCapturing");
    if (capturing) {
        set_err(err, "prefill scratch: this call needs %zu bytes, the stream has %zu; run a call at least this "
                     "large on the stream before capturing a graph", need, s->scratch_cap);
        return GDN_ERR_UNSUPPORTED;
    }
    size_t cap = s->scratch_cap ? s->scratch_cap : (size_t(1) << 24);
    while (cap < need) cap *= 2;
    GDN_TRY(gdn_rt::stream_synchronize(s->stream), "StreamSynchronize");
    if (s->scratch) GDN_TRY(gdn_rt::free_device(s->scratch), "Free");
    s->scratch = nullptr;
    s->scratch_cap = 0;
    const gdn_rt::Error e = gdn_rt::malloc_device(&s->scratch, cap);
    if (e != gdn_rt::kSuccess) {
        s->scratch = nullptr;
        (void)gdn_rt::get_last_error();
        set_err(err, "prefill scratch: %sMalloc of %zu bytes: %s", gdn_rt::kApi, cap, ErrorText(e).text);
        return status_of(e);
    }
    s->scratch_cap = cap;
    return GDN_OK;
}

// A stream on `device`: a new one, or the caller's `native` (not owned). Allocates the group
// counters now, so that a first decode step can already be captured in a graph.
gdn_status open_stream(int32_t device, gdn_rt::Stream native, gdn_stream* out, gdn_errbuf err) {
    if (!out) { set_err(err, "out: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    *out = nullptr;
    gdn_rt::DeviceProp dp{};
    if (gdn_status st = usable_device(device, &dp, err)) return st;
    GDN_TRY(gdn_rt::set_device(device), "SetDevice");
    if (native) {
        unsigned flags = 0;
        const gdn_rt::Error e = gdn_rt::stream_flags(native, &flags);
        if (e != gdn_rt::kSuccess) {
            (void)gdn_rt::get_last_error();
            set_err(err, "native: %p is not a %s stream (%sStreamGetFlags: %s)", static_cast<void*>(native),
                    gdn_rt::kApi, gdn_rt::kApi, ErrorText(e).text);
            return GDN_ERR_INVALID_ARGUMENT;
        }
    }
    auto* s = new StreamImpl;
    s->device = device;
    s->cu_count = dp.multiProcessorCount;
    if (gdn_rt::device_attribute_smem_optin(&s->smem_limit, device) != gdn_rt::kSuccess) {
        (void)gdn_rt::get_last_error();
        s->smem_limit = static_cast<int>(dp.sharedMemPerBlock);
    }
    // GDN_ROCM_LDS_LIMIT=<bytes> lowers it: the verification build runs on an NVIDIA GPU with
    // 227 KiB per block and plans as a 64 KiB AMD GPU with GDN_ROCM_LDS_LIMIT=65536.
    if (const char* env = std::getenv("GDN_ROCM_LDS_LIMIT")) {
        const long v = std::atol(env);
        if (v > 0 && v < s->smem_limit) s->smem_limit = static_cast<int>(v);
    }
    if (native) {
        s->stream = native;
        s->owned = false;
    } else if (const gdn_rt::Error e = gdn_rt::stream_create_nonblocking(&s->stream); e != gdn_rt::kSuccess) {
        delete s;
        return fail(e, err, "StreamCreateWithFlags");
    }
    if (gdn_status st = grow_counters(s, kInitialCounters, err)) {
        if (s->counters) (void)gdn_rt::free_device(s->counters);
        if (s->owned) (void)gdn_rt::stream_destroy(s->stream);
        delete s;
        return st;
    }
    *out = reinterpret_cast<gdn_stream>(s);
    return GDN_OK;
}

gdn_status stream_create(int32_t device, const gdn_stream_options* /*options*/, gdn_stream* out, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    return open_stream(device, nullptr, out, err);
    GDN_GUARD_END
}

gdn_status stream_wrap(int32_t device, void* native, gdn_stream* out, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    if (!native) {
        if (out) *out = nullptr;
        set_err(err, "native: NULL; expected a %sStream_t", gdn_rt::kApi);
        return GDN_ERR_INVALID_ARGUMENT;
    }
    return open_stream(device, static_cast<gdn_rt::Stream>(native), out, err);
    GDN_GUARD_END
}

gdn_status stream_native(gdn_stream stream, void** native, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    auto* s = reinterpret_cast<StreamImpl*>(stream);
    if (!s) { set_err(err, "stream: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    if (!native) { set_err(err, "native: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    *native = static_cast<void*>(s->stream);
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status stream_destroy(gdn_stream stream, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    auto* s = reinterpret_cast<StreamImpl*>(stream);
    if (!s) return GDN_OK;
    GDN_TRY(gdn_rt::set_device(s->device), "SetDevice");
    gdn_rt::Error e1 = gdn_rt::stream_synchronize(s->stream);
    gdn_rt::Error e2 = s->counters ? gdn_rt::free_device(s->counters) : gdn_rt::kSuccess;
    const gdn_rt::Error e4 = s->scratch ? gdn_rt::free_device(s->scratch) : gdn_rt::kSuccess;
    if (e2 == gdn_rt::kSuccess) e2 = e4;
    gdn_rt::Error e3 = s->owned ? gdn_rt::stream_destroy(s->stream) : gdn_rt::kSuccess;
    delete s;
    if (e1 != gdn_rt::kSuccess) return fail(e1, err, "StreamSynchronize");
    if (e2 != gdn_rt::kSuccess) return fail(e2, err, "Free");
    if (e3 != gdn_rt::kSuccess) return fail(e3, err, "StreamDestroy");
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status stream_synchronize(gdn_stream stream, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    auto* s = reinterpret_cast<StreamImpl*>(stream);
    if (!s) { set_err(err, "stream: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    GDN_TRY(gdn_rt::set_device(s->device), "SetDevice");
    GDN_TRY(gdn_rt::stream_synchronize(s->stream), "StreamSynchronize");
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status mem_alloc(int32_t device, size_t bytes, void** out, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    if (!out) { set_err(err, "out: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    *out = nullptr;
    GDN_TRY(gdn_rt::set_device(device), "SetDevice");
    void* p = nullptr;
    const gdn_rt::Error e = gdn_rt::malloc_device(&p, bytes ? bytes : 1);
    if (e != gdn_rt::kSuccess) {
        (void)gdn_rt::get_last_error();
        set_err(err, "%sMalloc of %zu bytes on device %d: %s", gdn_rt::kApi, bytes, device, ErrorText(e).text);
        return status_of(e);
    }
    *out = p;
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status mem_free(int32_t device, void* ptr, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    if (!ptr) return GDN_OK;
    GDN_TRY(gdn_rt::set_device(device), "SetDevice");
    GDN_TRY(gdn_rt::free_device(ptr), "Free");
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status mem_copy(gdn_stream stream, void* dst, const void* src, size_t bytes, int32_t kind, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    auto* s = reinterpret_cast<StreamImpl*>(stream);
    if (!s) { set_err(err, "stream: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    gdn_rt::CopyKind k;
    switch (kind) {
    case GDN_COPY_HOST_TO_DEVICE: k = gdn_rt::CopyKind::HostToDevice; break;
    case GDN_COPY_DEVICE_TO_HOST: k = gdn_rt::CopyKind::DeviceToHost; break;
    case GDN_COPY_DEVICE_TO_DEVICE: k = gdn_rt::CopyKind::DeviceToDevice; break;
    default: set_err(err, "kind: %d is not a gdn_copy_kind", kind); return GDN_ERR_INVALID_ARGUMENT;
    }
    if (bytes == 0) return GDN_OK;
    GDN_TRY(gdn_rt::set_device(s->device), "SetDevice");
    GDN_TRY(gdn_rt::memcpy_async(dst, src, bytes, k, s->stream), "MemcpyAsync");
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status mem_set(gdn_stream stream, void* dst, int32_t byte_value, size_t bytes, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    auto* s = reinterpret_cast<StreamImpl*>(stream);
    if (!s) { set_err(err, "stream: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    if (bytes == 0) return GDN_OK;
    GDN_TRY(gdn_rt::set_device(s->device), "SetDevice");
    GDN_TRY(gdn_rt::memset_async(dst, byte_value, bytes, s->stream), "MemsetAsync");
    return GDN_OK;
    GDN_GUARD_END
}

// ---- the layer -------------------------------------------------------------------------------

bool size_in(const gdn_size_range& r, int v) { return v >= r.min && v <= r.max && (v - r.min) % r.multiple == 0; }

// The Dv slice of the chunked prefill's sequential pass, as the CUDA plugin picks it: 32-wide
// slices where there are enough for two blocks per compute unit, else 16, among those that
// divide Dv and fit the block's shared memory; 0 when none fits (64 KiB LDS and Dk = 128).
int pick_dvs(const StreamImpl* s, int Dk, int Dv, bool exact, int64_t pairs) {
    const int cands[4] = {128, 64, 32, 16};
    int fits[4];
    int nf = 0;
    for (int c : cands)
        if (Dv % c == 0 && gdn_rocm::seq_smem_bytes(Dk, c, exact) <= static_cast<size_t>(s->smem_limit))
            fits[nf++] = c;
    if (nf == 0) return 0;
    for (int i = 0; i < nf; ++i)
        if (fits[i] == 32 && pairs * (Dv / 32) >= 2 * static_cast<int64_t>(s->cu_count)) return 32;
    for (int i = 0; i < nf; ++i)
        if (fits[i] == 16) return 16;
    return fits[nf - 1];
}

// Rows per warp of the token-by-token extend: the most (less recomputed conv per row) that still
// gives every compute unit two blocks, else 1 (most blocks for few long requests).
int pick_recurrent_rpw(const StreamImpl* s, int Dv, int64_t pairs) {
    for (int rpw : {4, 2}) {
        const int rows = 8 * rpw;
        if (Dv % rows == 0 && pairs * (Dv / rows) >= 2 * static_cast<int64_t>(s->cu_count)) return rpw;
    }
    return 1;
}

// GDN_ROCM_PREFILL=recurrent|chunked overrides the choice of extend kernel (tuning and tests);
// "chunked" still falls back where it does not fit.
enum class PrefillChoice { Auto, Chunked, Recurrent };
PrefillChoice prefill_choice() {
    const char* env = std::getenv("GDN_ROCM_PREFILL");
    if (!env) return PrefillChoice::Auto;
    if (!std::strcmp(env, "recurrent")) return PrefillChoice::Recurrent;
    if (!std::strcmp(env, "chunked")) return PrefillChoice::Chunked;
    return PrefillChoice::Auto;
}

gdn_status forward_gdn(gdn_stream stream, const gdn_forward_args* args, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    auto* s = reinterpret_cast<StreamImpl*>(stream);
    if (!s) { set_err(err, "stream: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    if (!args) { set_err(err, "args: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    const gdn_forward_args& a = *args;
    if (a.struct_size < sizeof(gdn_forward_args)) {
        set_err(err, "args.struct_size: %u is smaller than this plugin's gdn_forward_args (%zu)", a.struct_size,
                sizeof(gdn_forward_args));
        return GDN_ERR_INVALID_ARGUMENT;
    }

    // ---- exactly the declared capabilities ----
    const gdn_capabilities caps = caps_all();
    if (a.activation_dtype < 0 || a.activation_dtype > 31 || !(caps.activation_dtypes >> a.activation_dtype & 1u)) {
        set_err(err, "activation_dtype: %d is not supported by the ROCm backend", a.activation_dtype);
        return GDN_ERR_UNSUPPORTED;
    }
    if (!size_in(caps.head_k_dim, a.head_k_dim)) {
        set_err(err, "head_k_dim: %d unsupported (multiples of 16 in 16..%d)", a.head_k_dim, kMaxKDim);
        return GDN_ERR_UNSUPPORTED;
    }
    if (!size_in(caps.head_v_dim, a.head_v_dim)) {
        set_err(err, "head_v_dim: %d unsupported (multiples of 16 in 16..256)", a.head_v_dim);
        return GDN_ERR_UNSUPPORTED;
    }
    if (a.conv_kernel < 2 || a.conv_kernel > 4) {
        set_err(err, "conv_kernel: %d unsupported (2..4)", a.conv_kernel);
        return GDN_ERR_UNSUPPORTED;
    }
    if (a.num_k_heads <= 0 || a.num_v_heads <= 0 || a.num_v_heads % a.num_k_heads != 0 ||
        a.num_v_heads / a.num_k_heads > 8) {
        set_err(err, "num_v_heads / num_k_heads: %d / %d unsupported (GVA ratios 1..8)", a.num_v_heads,
                a.num_k_heads);
        return GDN_ERR_UNSUPPORTED;
    }
    if (a.mode < 0 || a.mode > 2 || !(caps.modes >> a.mode & 1u)) {
        set_err(err, "mode: %d unsupported", a.mode);
        return GDN_ERR_UNSUPPORTED;
    }
    const int H = a.num_k_heads, HV = a.num_v_heads, Dk = a.head_k_dim, Dv = a.head_v_dim, Kc = a.conv_kernel;
    const int conv_dim = 2 * H * Dk + HV * Dv;
    const int64_t B = a.num_requests, T = a.num_tokens;

    // ---- the layout this plugin relies on (the host guarantees it; a mismatch is a host bug) ----
    auto bad = [&](const char* name) {
        set_err(err, "%s: layout not as gdn_forward_args promises (last stride 1, packed rows)", name);
        return GDN_ERR_INVALID_ARGUMENT;
    };
    if (a.mixed_qkv.strides[1] != 1 || a.a.strides[1] != 1 || a.b.strides[1] != 1) return bad("mixed_qkv/a/b");
    if (a.conv_weight.strides[1] != 1 || a.conv_weight.strides[0] != Kc) return bad("conv_weight");
    if (a.out.strides[1] != 1 || (T > 1 && a.out.strides[0] != static_cast<int64_t>(HV) * Dv)) return bad("out");
    if (a.recurrent_state.rank != 4 || a.recurrent_state.strides[3] != 1 || a.recurrent_state.strides[2] != Dk ||
        a.recurrent_state.strides[1] != static_cast<int64_t>(Dv) * Dk)
        return bad("recurrent_state");
    if (a.conv_state.rank != 3 || a.conv_state.strides[2] != 1 || a.conv_state.strides[1] != Kc - 1)
        return bad("conv_state");
    if ((reinterpret_cast<uintptr_t>(a.recurrent_state.data) & 15) != 0 || (a.recurrent_state.strides[0] & 3) != 0)
        return bad("recurrent_state (16-byte alignment of slots)");
    if (B <= 0 || T <= 0) return GDN_OK;
    if (!a.host_cu_seqlens) { set_err(err, "host_cu_seqlens: NULL"); return GDN_ERR_INVALID_ARGUMENT; }

    if (!a.host_slots) { set_err(err, "host_slots: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    LaunchPlan plan;
    int64_t n_ext = 0;  // extend requests that are not padding
    for (int64_t r = 0; r < B; ++r) {
        const int64_t len = a.host_cu_seqlens[r + 1] - a.host_cu_seqlens[r];
        if (len == 1) plan.decode = true;
        if (len >= 2) {
            plan.extend = true;
            if (a.host_slots[r] != a.padding_slot) ++n_ext;
        }
    }
    const bool exact = a.activation_dtype == GDN_DTYPE_F32;
    int recurrent_rpw = 0;  // 0: the chunked prefill
    if (plan.extend) {
        const bool prep_fits = gdn_rocm::prep_smem_bytes(Dk, exact) <= static_cast<size_t>(s->smem_limit);
        plan.dvs = prefill_choice() == PrefillChoice::Recurrent || !prep_fits ? 0 : pick_dvs(s, Dk, Dv, exact, n_ext * HV);
        if (plan.dvs == 0) {
            plan.dvs = 16;  // unused: the extend requests go to the token-by-token kernel
            recurrent_rpw = pick_recurrent_rpw(s, Dv, n_ext * HV);
        } else {
            s->chunks.clear();
            for (int64_t r = 0; r < B; ++r) {
                const int64_t st = a.host_cu_seqlens[r], en = a.host_cu_seqlens[r + 1];
                if (en - st < 2 || a.host_slots[r] == a.padding_slot) continue;
                for (int64_t c0 = st; c0 < en; c0 += 64)
                    s->chunks.push_back(gdn_gpu::ChunkDesc{c0, static_cast<int32_t>(r),
                                                           static_cast<int32_t>(en - c0 < 64 ? en - c0 : 64)});
            }
            plan.nchunks = static_cast<int64_t>(s->chunks.size());  // 0: only padding requests (outputs zeroed)
        }
    }
    plan.decode_rpw = (Dv % 64 == 0 && B * HV * (Dv / 64) >= 4 * s->cu_count)   ? 8
                      : (Dv % 32 == 0 && B * HV * (Dv / 32) >= 2 * s->cu_count) ? 4
                                                                                 : 2;

    GDN_TRY(gdn_rt::set_device(s->device), "SetDevice");
    if (gdn_status st = grow_counters(s, static_cast<size_t>(B) * H, err)) return st;
    const bool chunked = plan.extend && recurrent_rpw == 0;
    size_t off_qk = 0, off_t = 0, off_q = 0, off_g = 0, off_c = 0;
    if (chunked) {  // token-indexed scratch of the chunked prefill (see gdn_prefill.cuh)
        const size_t es = exact ? 4 : 2;
        size_t o = 0;
        off_qk = o; o = align256(o + static_cast<size_t>(T) * 2 * H * Dk * es);
        off_t = o; o = align256(o + static_cast<size_t>(T) * HV * 64 * es);
        off_q = o; o = align256(o + static_cast<size_t>(T) * HV * 64 * es);
        off_g = o; o = align256(o + static_cast<size_t>(T) * HV * 16);
        off_c = o; o = align256(o + s->chunks.size() * sizeof(gdn_gpu::ChunkDesc));
        if (gdn_status st = grow_scratch(s, o, err)) return st;
        if (!s->chunks.empty())
            GDN_TRY(gdn_rt::memcpy_async(static_cast<char*>(s->scratch) + off_c, s->chunks.data(),
                                         s->chunks.size() * sizeof(gdn_gpu::ChunkDesc), gdn_rt::CopyKind::HostToDevice,
                                         s->stream),
                    "MemcpyAsync (prefill chunk list)");
    }

    GdnParams p{};
    p.x = a.mixed_qkv.data;
    p.a = a.a.data;
    p.b = a.b.data;
    p.conv_w = a.conv_weight.data;
    p.A_log = static_cast<const float*>(a.A_log.data);
    p.dt_bias = static_cast<const float*>(a.dt_bias.data);
    p.cu = static_cast<const int64_t*>(a.cu_seqlens.data);
    p.slots = static_cast<const int64_t*>(a.slots.data);
    p.state = static_cast<float*>(a.recurrent_state.data);
    p.conv_state = a.conv_state.data;
    p.out = a.out.data;
    p.counters = s->counters;
    p.x_stride = a.mixed_qkv.strides[0];
    p.a_stride = a.a.strides[0];
    p.b_stride = a.b.strides[0];
    p.state_stride = a.recurrent_state.strides[0];
    p.conv_stride = a.conv_state.strides[0];
    p.padding_slot = a.padding_slot;
    p.B = static_cast<int>(B);
    p.H = H;
    p.HV = HV;
    p.Dk = Dk;
    p.Dv = Dv;
    p.Kc = Kc;
    p.conv_dim = conv_dim;
    p.gva = HV / H;
    p.T = T;
    if (chunked) {
        char* base = static_cast<char*>(s->scratch);
        p.qk = base + off_qk;
        p.tmat = base + off_t;
        p.qkm = base + off_q;
        p.gates = reinterpret_cast<float4*>(base + off_g);
        p.chunks = reinterpret_cast<const gdn_gpu::ChunkDesc*>(base + off_c);
    }

    gdn_rt::Error e;
    switch (a.activation_dtype) {
    case GDN_DTYPE_F32: e = gdn_rocm::forward_f32(p, plan, recurrent_rpw, s->stream); break;
    case GDN_DTYPE_BF16: e = gdn_rocm::forward_bf16(p, plan, recurrent_rpw, s->stream); break;
    default: e = gdn_rocm::forward_f16(p, plan, recurrent_rpw, s->stream); break;
    }
    if (e != gdn_rt::kSuccess) return fail(e, err, "LaunchKernel (forward_gdn)");
    return GDN_OK;
    GDN_GUARD_END
}

const gdn_plugin kTable = {
    sizeof(gdn_plugin),
    GDN_ABI_MAJOR,
    GDN_ABI_MINOR,
    "rocm",
    "0.1.0",
    "AMD GPUs through HIP (this build: " GDN_ROCM_TARGETS "): the CUDA backend's kernels, mma emulated; "
    "token-by-token extend where the chunked prefill does not fit the LDS",
    90,
    init,
    shutdown,
    device_count,
    device_properties,
    device_capabilities,
    stream_create,
    stream_destroy,
    stream_synchronize,
    mem_alloc,
    mem_free,
    mem_copy,
    mem_set,
    forward_gdn,
    stream_wrap,
    stream_native,
};

} // namespace

extern "C" GDN_PLUGIN_EXPORT const gdn_plugin* gdn_plugin_entry(void) { return &kTable; }

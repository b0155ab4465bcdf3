// The CUDA backend plugin: the gdn_plugin table, devices, streams, memory and forward_gdn.
// Kernels live in plugins/gpu (shared with a ROCm build); this file is the host side only.
//
// Every slot sets the device first (host threads may differ between calls), turns runtime
// errors into a status and a message, and lets no exception escape.
#include <gdn/plugin.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "../gpu/gdn_common.cuh"
#include "forward.hpp"

namespace {

using gdn_gpu::GdnParams;
using gdn_gpu::LaunchPlan;

using gdn_gpu::set_error;

gdn_status status_of(gdn_rt::Error e) {
    if (e == gdn_rt::kErrInsufficientDriver || e == cudaErrorNoKernelImageForDevice ||
        e == cudaErrorUnsupportedPtxVersion || e == cudaErrorCompatNotSupportedOnDevice)
        return GDN_ERR_DRIVER;
    if (e == gdn_rt::kErrNoDevice) return GDN_ERR_NO_DEVICE;
    if (e == gdn_rt::kErrMemoryAllocation) return GDN_ERR_OUT_OF_MEMORY;
    return GDN_ERR_RUNTIME;
}

// Reports a runtime error: status plus "<what>: <runtime text> (<name>)".
gdn_status fail(gdn_rt::Error e, gdn_errbuf err, const char* what) {
    gdn_rt::get_last_error();  // clear a sticky-free error so the next call starts clean
    set_error(err, "%s: %s (%s)", what, gdn_rt::error_string(e), gdn_rt::error_name(e));
    return status_of(e);
}

#define GDN_TRY(call, what)                                  \
    do {                                                     \
        const gdn_rt::Error e_ = (call);                     \
        if (e_ != gdn_rt::kSuccess) return fail(e_, err, what); \
    } while (0)

#define GDN_GUARD_BEGIN try {
#define GDN_GUARD_END                                                     \
    }                                                                     \
    catch (const std::bad_alloc&) {                                       \
        set_error(err, "out of host memory");                               \
        return GDN_ERR_OUT_OF_MEMORY;                                     \
    }                                                                     \
    catch (...) {                                                         \
        set_error(err, "internal error: unexpected exception in the CUDA plugin"); \
        return GDN_ERR_INTERNAL;                                          \
    }

constexpr int kMaxKDim = 256;
constexpr size_t kInitialCounters = 1 << 16;

// The stream object: a CUDA stream the plugin created (owned) or the caller's (stream_wrap), and
// what the plugin allocated for it.
struct StreamImpl {
    gdn_rt::Stream stream = nullptr;
    bool owned = true;  // false: the caller's stream; stream_destroy leaves it alone
    int device = 0;
    int sm_count = 0;
    int smem_optin = 0;
    int cc_major = 0;
    int* counters = nullptr;  // one per (request, key head), zero between launches (decode)
    size_t counter_cap = 0;
    void* scratch = nullptr;  // prefill scratch, grow-only (never touched by decode)
    size_t scratch_cap = 0;
    std::vector<gdn_gpu::ChunkDesc> chunks;  // host staging of the prefill chunk list
};

gdn_status grow_scratch(StreamImpl* s, size_t need, gdn_errbuf err) {
    if (need <= s->scratch_cap) return GDN_OK;
    bool capturing = false;  // growing synchronizes, which a capturing stream must not do
    GDN_TRY(gdn_rt::stream_is_capturing(s->stream, &capturing), "cudaStreamIsCapturing");
    if (capturing) {
        set_error(err, "prefill scratch: this call needs %zu bytes, the stream has %zu; run a call at least this "
                     "large on the stream before capturing a graph", need, s->scratch_cap);
        return GDN_ERR_UNSUPPORTED;
    }
    size_t cap = s->scratch_cap ? s->scratch_cap : (size_t(1) << 24);
    while (cap < need) cap *= 2;
    GDN_TRY(gdn_rt::stream_synchronize(s->stream), "cudaStreamSynchronize");
    if (s->scratch) GDN_TRY(gdn_rt::free_device(s->scratch), "cudaFree");
    s->scratch = nullptr;
    s->scratch_cap = 0;
    const gdn_rt::Error e = gdn_rt::malloc_device(&s->scratch, cap);
    if (e != gdn_rt::kSuccess) {
        s->scratch = nullptr;
        gdn_rt::get_last_error();
        set_error(err, "prefill scratch: cudaMalloc of %zu bytes failed: %s", cap, gdn_rt::error_string(e));
        return status_of(e);
    }
    s->scratch_cap = cap;
    return GDN_OK;
}

// The CUDA runtime answers cudaErrorInsufficientDriver both when there is no driver at all and
// when the driver is older than the runtime; only the second is fixed by updating it.
void explain_insufficient_driver(gdn_errbuf err) {
    if (void* lib = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL)) {
        dlclose(lib);
    } else {
        const char* why = dlerror();
        set_error(err, "no NVIDIA driver found: libcuda.so.1 cannot be loaded (%s)", why ? why : "not found");
        return;
    }
    if (access("/dev/nvidiactl", F_OK) != 0) {
        set_error(err, "no NVIDIA driver found: libcuda.so.1 is installed but /dev/nvidiactl is missing "
                       "(the NVIDIA kernel module is not loaded)");
        return;
    }
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    gdn_rt::get_last_error();
    set_error(err, "the NVIDIA driver supports CUDA %d.%d, this plugin needs CUDA %d.%d or newer: update the driver "
                   "(%s)", driver / 1000, driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10,
              gdn_rt::error_name(gdn_rt::kErrInsufficientDriver));
}

gdn_status init(gdn_errbuf err) {
    GDN_GUARD_BEGIN
    int n = 0;
    const gdn_rt::Error e = gdn_rt::device_count(&n);
    if (e != gdn_rt::kSuccess) {
        gdn_rt::get_last_error();
        if (e == gdn_rt::kErrInsufficientDriver) {
            explain_insufficient_driver(err);
        } else {
            set_error(err, "%s", gdn_rt::error_string(e));
        }
        return status_of(e);
    }
    if (n <= 0) {
        set_error(err, "no CUDA device");
        return GDN_ERR_NO_DEVICE;
    }
    return GDN_OK;
    GDN_GUARD_END
}

void shutdown() {
    // Nothing to stop: the plugin starts no threads, and the primary context is shared with the
    // host process (resetting the device would pull it from under other users).
}

gdn_status device_count(int32_t* count, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    *count = 0;
    int n = 0;
    const gdn_rt::Error e = gdn_rt::device_count(&n);
    if (e != gdn_rt::kSuccess) {
        gdn_rt::get_last_error();
        set_error(err, "%s", gdn_rt::error_string(e));
        return status_of(e);
    }
    *count = n;
    if (n == 0) {
        set_error(err, "no CUDA device");
        return GDN_ERR_NO_DEVICE;
    }
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status check_device(int32_t device, gdn_errbuf err) {
    int n = 0;
    GDN_TRY(gdn_rt::device_count(&n), "cudaGetDeviceCount");
    if (device < 0 || device >= n) {
        set_error(err, "device: %d is not a CUDA device index (0..%d)", device, n - 1);
        return GDN_ERR_INVALID_ARGUMENT;
    }
    return GDN_OK;
}

gdn_status device_properties(int32_t device, gdn_device_properties* props, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    if (!props) { set_error(err, "props: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    if (gdn_status s = check_device(device, err)) return s;
    gdn_rt::DeviceProp dp{};
    GDN_TRY(gdn_rt::device_properties(&dp, device), "cudaGetDeviceProperties");
    gdn_device_properties p{};
    p.struct_size = props->struct_size < sizeof(p) ? props->struct_size : static_cast<uint32_t>(sizeof(p));
    p.kind = GDN_DEVICE_GPU;
    std::snprintf(p.name, sizeof(p.name), "%s", dp.name);
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

gdn_capabilities caps_for(int cc_major) {
    gdn_capabilities c{};
    c.struct_size = sizeof(c);
    if (cc_major < 8) return c;  // the kernels are built for sm_80 and newer: nothing is supported
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
    if (!caps) { set_error(err, "caps: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    if (gdn_status s = check_device(device, err)) return s;
    gdn_rt::DeviceProp dp{};
    GDN_TRY(gdn_rt::device_properties(&dp, device), "cudaGetDeviceProperties");
    gdn_capabilities c = caps_for(dp.major);
    const uint32_t n = caps->struct_size < sizeof(c) ? caps->struct_size : static_cast<uint32_t>(sizeof(c));
    c.struct_size = n;
    std::memcpy(caps, &c, n);
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status grow_counters(StreamImpl* s, size_t need, gdn_errbuf err) {
    if (need <= s->counter_cap) return GDN_OK;
    bool capturing = false;
    GDN_TRY(gdn_rt::stream_is_capturing(s->stream, &capturing), "cudaStreamIsCapturing");
    if (capturing) {
        set_error(err, "num_requests * num_k_heads = %zu exceeds the %zu group counters of this stream; run one "
                     "such call before capturing a graph", need, s->counter_cap);
        return GDN_ERR_UNSUPPORTED;
    }
    size_t cap = s->counter_cap ? s->counter_cap : kInitialCounters;
    while (cap < need) cap *= 2;
    GDN_TRY(gdn_rt::stream_synchronize(s->stream), "cudaStreamSynchronize");
    if (s->counters) GDN_TRY(gdn_rt::free_device(s->counters), "cudaFree");
    s->counters = nullptr;
    s->counter_cap = 0;
    void* p = nullptr;
    GDN_TRY(gdn_rt::malloc_device(&p, cap * sizeof(int)), "cudaMalloc (group counters)");
    s->counters = static_cast<int*>(p);
    GDN_TRY(gdn_rt::memset_async(p, 0, cap * sizeof(int), s->stream), "cudaMemsetAsync");
    GDN_TRY(gdn_rt::stream_synchronize(s->stream), "cudaStreamSynchronize");
    s->counter_cap = cap;
    return GDN_OK;
}

// A stream on `device`: a new one, or the caller's `native` (not owned). Allocates the group
// counters now, so that a first decode step can already be captured in a graph.
gdn_status open_stream(int32_t device, gdn_rt::Stream native, gdn_stream* out, gdn_errbuf err) {
    if (!out) { set_error(err, "out: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    *out = nullptr;
    if (gdn_status st = check_device(device, err)) return st;
    GDN_TRY(gdn_rt::set_device(device), "cudaSetDevice");
    gdn_rt::DeviceProp dp{};
    GDN_TRY(gdn_rt::device_properties(&dp, device), "cudaGetDeviceProperties");
    if (native) {
        unsigned flags = 0;
        const gdn_rt::Error e = gdn_rt::stream_flags(native, &flags);
        if (e != gdn_rt::kSuccess) {
            gdn_rt::get_last_error();
            set_error(err, "native: %p is not a CUDA stream (cudaStreamGetFlags: %s)", static_cast<void*>(native),
                    gdn_rt::error_string(e));
            return GDN_ERR_INVALID_ARGUMENT;
        }
    }
    auto* s = new StreamImpl;
    s->device = device;
    s->sm_count = dp.multiProcessorCount;
    s->cc_major = dp.major;
    gdn_rt::device_attribute_smem_optin(&s->smem_optin, device);
    if (native) {
        s->stream = native;
        s->owned = false;
    } else if (const gdn_rt::Error e = gdn_rt::stream_create_nonblocking(&s->stream); e != gdn_rt::kSuccess) {
        delete s;
        return fail(e, err, "cudaStreamCreateWithFlags");
    }
    if (gdn_status st = grow_counters(s, kInitialCounters, err)) {
        if (s->counters) gdn_rt::free_device(s->counters);
        if (s->owned) gdn_rt::stream_destroy(s->stream);
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
        set_error(err, "native: NULL; expected a cudaStream_t");
        return GDN_ERR_INVALID_ARGUMENT;
    }
    return open_stream(device, static_cast<gdn_rt::Stream>(native), out, err);
    GDN_GUARD_END
}

gdn_status stream_native(gdn_stream stream, void** native, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    auto* s = reinterpret_cast<StreamImpl*>(stream);
    if (!s) { set_error(err, "stream: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    if (!native) { set_error(err, "native: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    *native = static_cast<void*>(s->stream);
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status stream_destroy(gdn_stream stream, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    auto* s = reinterpret_cast<StreamImpl*>(stream);
    if (!s) return GDN_OK;
    GDN_TRY(gdn_rt::set_device(s->device), "cudaSetDevice");
    gdn_rt::Error e1 = gdn_rt::stream_synchronize(s->stream);
    gdn_rt::Error e2 = s->counters ? gdn_rt::free_device(s->counters) : gdn_rt::kSuccess;
    if (s->scratch) {
        const gdn_rt::Error e4 = gdn_rt::free_device(s->scratch);
        if (e2 == gdn_rt::kSuccess) e2 = e4;
    }
    gdn_rt::Error e3 = s->owned ? gdn_rt::stream_destroy(s->stream) : gdn_rt::kSuccess;
    delete s;
    if (e1 != gdn_rt::kSuccess) return fail(e1, err, "cudaStreamSynchronize");
    if (e2 != gdn_rt::kSuccess) return fail(e2, err, "cudaFree");
    if (e3 != gdn_rt::kSuccess) return fail(e3, err, "cudaStreamDestroy");
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status stream_synchronize(gdn_stream stream, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    auto* s = reinterpret_cast<StreamImpl*>(stream);
    if (!s) { set_error(err, "stream: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    GDN_TRY(gdn_rt::set_device(s->device), "cudaSetDevice");
    GDN_TRY(gdn_rt::stream_synchronize(s->stream), "cudaStreamSynchronize");
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status mem_alloc(int32_t device, size_t bytes, void** out, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    if (!out) { set_error(err, "out: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    *out = nullptr;
    GDN_TRY(gdn_rt::set_device(device), "cudaSetDevice");
    void* p = nullptr;
    const gdn_rt::Error e = gdn_rt::malloc_device(&p, bytes ? bytes : 1);
    if (e != gdn_rt::kSuccess) {
        gdn_rt::get_last_error();
        set_error(err, "cudaMalloc of %zu bytes on device %d: %s", bytes, device, gdn_rt::error_string(e));
        return status_of(e);
    }
    *out = p;
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status mem_free(int32_t device, void* ptr, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    if (!ptr) return GDN_OK;
    GDN_TRY(gdn_rt::set_device(device), "cudaSetDevice");
    GDN_TRY(gdn_rt::free_device(ptr), "cudaFree");
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status mem_copy(gdn_stream stream, void* dst, const void* src, size_t bytes, int32_t kind, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    auto* s = reinterpret_cast<StreamImpl*>(stream);
    if (!s) { set_error(err, "stream: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    gdn_rt::CopyKind k;
    switch (kind) {
    case GDN_COPY_HOST_TO_DEVICE: k = gdn_rt::CopyKind::HostToDevice; break;
    case GDN_COPY_DEVICE_TO_HOST: k = gdn_rt::CopyKind::DeviceToHost; break;
    case GDN_COPY_DEVICE_TO_DEVICE: k = gdn_rt::CopyKind::DeviceToDevice; break;
    default: set_error(err, "kind: %d is not a gdn_copy_kind", kind); return GDN_ERR_INVALID_ARGUMENT;
    }
    if (bytes == 0) return GDN_OK;
    GDN_TRY(gdn_rt::set_device(s->device), "cudaSetDevice");
    GDN_TRY(gdn_rt::memcpy_async(dst, src, bytes, k, s->stream), "cudaMemcpyAsync");
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status mem_set(gdn_stream stream, void* dst, int32_t byte_value, size_t bytes, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    auto* s = reinterpret_cast<StreamImpl*>(stream);
    if (!s) { set_error(err, "stream: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    if (bytes == 0) return GDN_OK;
    GDN_TRY(gdn_rt::set_device(s->device), "cudaSetDevice");
    GDN_TRY(gdn_rt::memset_async(dst, byte_value, bytes, s->stream), "cudaMemsetAsync");
    return GDN_OK;
    GDN_GUARD_END
}

gdn_status forward_gdn(gdn_stream stream, const gdn_forward_args* args, gdn_errbuf err) {
    GDN_GUARD_BEGIN
    auto* s = reinterpret_cast<StreamImpl*>(stream);
    if (!s) { set_error(err, "stream: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    if (!args) { set_error(err, "args: NULL"); return GDN_ERR_INVALID_ARGUMENT; }
    const gdn_forward_args& a = *args;
    if (a.struct_size < sizeof(gdn_forward_args)) {
        set_error(err, "args.struct_size: %u is smaller than this plugin's gdn_forward_args (%zu)", a.struct_size,
                sizeof(gdn_forward_args));
        return GDN_ERR_INVALID_ARGUMENT;
    }

    if (gdn_status st = gdn_gpu::check_forward_args(a, caps_for(s->cc_major), "CUDA", err)) return st;
    const int H = a.num_k_heads, HV = a.num_v_heads, Dk = a.head_k_dim, Dv = a.head_v_dim, Kc = a.conv_kernel;
    const int conv_dim = 2 * H * Dk + HV * Dv;
    const int64_t B = a.num_requests, T = a.num_tokens;
    if (B <= 0 || T <= 0) return GDN_OK;

    const bool exact = a.activation_dtype == GDN_DTYPE_F32;
    gdn_gpu::PlanTarget target;
    target.units = s->sm_count;
    target.smem_limit = static_cast<size_t>(s->smem_optin);
    target.env = "GDN_CUDA";  // GDN_CUDA_PREFILL, _DVS, _PREP_HEADS, _DECODE_RPW, _OVERLAP (tests, tuning)
    target.can_overlap = s->cc_major >= 9;  // programmatic dependent launch: Hopper and newer
    target.seq_producers = true;            // the sequential pass's producer warps (gdn_prefill.cuh)
    const LaunchPlan plan = gdn_gpu::plan_forward(
        a, target,
        [&](int dvs, int kbufs, int sbufs) { return gdn_cuda::seq_smem_bytes(Dk, dvs, exact, kbufs, sbufs); },
        [&](bool fused) { return gdn_cuda::prep_smem_bytes(Dk, exact, fused); }, s->chunks);

    GDN_TRY(gdn_rt::set_device(s->device), "cudaSetDevice");
    if (gdn_status st = grow_counters(s, static_cast<size_t>(B) * H, err)) return st;
    const bool chunked = plan.extend && plan.extend_rpw == 0;
    gdn_gpu::PrefillScratch sl;
    if (chunked) {  // token-indexed scratch of the chunked prefill (gdn_prefill.cuh)
        sl = gdn_gpu::prefill_scratch(T, H, HV, Dk, exact, s->chunks.size());
        if (gdn_status st = grow_scratch(s, sl.bytes, err)) return st;
        if (!s->chunks.empty())
            GDN_TRY(gdn_rt::memcpy_async(static_cast<char*>(s->scratch) + sl.chunks, s->chunks.data(),
                                         s->chunks.size() * sizeof(gdn_gpu::ChunkDesc), gdn_rt::CopyKind::HostToDevice,
                                         s->stream),
                    "cudaMemcpyAsync (prefill chunk list)");
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
    p.num_slots = a.recurrent_state.shape[0];
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
        p.qk = base + sl.qk;
        p.tmat = base + sl.tmat;
        p.qkm = base + sl.qkm;
        p.gates = reinterpret_cast<float4*>(base + sl.gates);
        p.chunks = reinterpret_cast<const gdn_gpu::ChunkDesc*>(base + sl.chunks);
    }

    gdn_rt::Error e;
    switch (a.activation_dtype) {
    case GDN_DTYPE_F32: e = gdn_cuda::forward_f32(p, plan, s->stream); break;
    case GDN_DTYPE_BF16: e = gdn_cuda::forward_bf16(p, plan, s->stream); break;
    default: e = gdn_cuda::forward_f16(p, plan, s->stream); break;
    }
    if (e != gdn_rt::kSuccess) return fail(e, err, "forward_gdn kernel launch");
    return GDN_OK;
    GDN_GUARD_END
}

const gdn_plugin kTable = {
    sizeof(gdn_plugin),
    GDN_ABI_MAJOR,
    GDN_ABI_MINOR,
    "cuda",
    "0.1.0",
    "NVIDIA GPUs (sm_80+): fused conv/gates/norm + chunked gated delta rule on tensor cores; one-launch decode",
    100,
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

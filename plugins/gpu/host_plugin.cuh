// The host side of a GPU backend plugin: the gdn_plugin table, devices, streams, memory and
// forward_gdn, written once for the CUDA and ROCm plugins. A plugin file supplies a vendor policy
// and exports gdn_gpu::HostPlugin<Policy>::table(); the policy says what differs between vendors:
//
//   struct Policy {
//       static constexpr const char* kName;         // gdn_plugin.name ("cuda")
//       static constexpr const char* kDescription;  // gdn_plugin.description
//       static constexpr int kPriority;             // gdn_plugin.priority
//       static constexpr const char* kBackend;      // in messages: "the CUDA backend", "the CUDA plugin"
//       static constexpr const char* kDeviceNoun;   // "device: 3 is not <a CUDA device> index"
//       static constexpr KernelEntries kKernels;    // the per-dtype entry points (one TU each)
//       // The number of devices; GDN_ERR_NO_DEVICE (or the runtime's status) with the reason a
//       // user sees in `gdn list` when there is none.
//       static gdn_status count_devices(int* n, gdn_errbuf err);
//       // GDN_OK when this build's kernels can run on the device, else why not.
//       static gdn_status check_usable(int32_t device, const gdn_rt::DeviceProp& dp, gdn_errbuf err);
//       static void device_name(const gdn_rt::DeviceProp& dp, char* out, size_t cap);
//       static gdn_capabilities capabilities(const gdn_rt::DeviceProp& dp);
//       static int smem_limit(const gdn_rt::DeviceProp& dp, int device);  // per block, for planning
//       // The planner's target (env prefix, overlap, producer warps); units and smem_limit are
//       // filled in here.
//       static PlanTarget plan_target(const gdn_rt::DeviceProp& dp);
//   };
//
// Every slot sets the device first (host threads may differ between calls), turns runtime
// errors into a status and a message, and lets no exception escape. Host code only: it calls the
// runtime through gdn_rt (vendor.cuh), so it compiles with nvcc and with hipcc.
#pragma once

#include <gdn/plugin.h>

#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "gdn/dtype.hpp"
#include "gdn_common.cuh"

namespace gdn_gpu {

using ForwardEntry = gdn_rt::Error (*)(const GdnParams&, const LaunchPlan&, gdn_rt::Stream);

// The kernels a plugin built: one forward entry per activation dtype, and the shared memory of
// the chunked prefill's kernels (the planner checks them against the device).
static_assert(gdn::kActivationDTypeCount == 3,
              "an activation dtype was added: KernelEntries, forward_gdn, "
              "kernel_capabilities, and each plugin's forward_<dtype> file");
struct KernelEntries {
    ForwardEntry f32, bf16, f16;
    size_t (*seq_smem_bytes)(int Dk, int dvs, bool exact, int kbufs, int sbufs);
    size_t (*prep_smem_bytes)(int Dk, bool exact, bool fused);
};

// The runtime as users know it, for messages ("not a CUDA stream").
#if defined(GDN_GPU_HIP)
constexpr const char* kRuntimeName = "HIP";
#else
constexpr const char* kRuntimeName = "CUDA";
#endif

inline gdn_status status_of(gdn_rt::Error e) {
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
// "cudaMalloc: out of memory (cudaErrorMemoryAllocation)".
inline gdn_status runtime_failure(gdn_rt::Error e, gdn_errbuf err, const char* call) {
    (void)gdn_rt::get_last_error();  // clear a non-sticky error so the next call starts clean
    set_error(err, "%s%s: %s", gdn_rt::kApi, call, ErrorText(e).text);
    return status_of(e);
}

#define GDN_HOST_TRY(expr, call)                                           \
    do {                                                                   \
        const gdn_rt::Error e_ = (expr);                                   \
        if (e_ != gdn_rt::kSuccess) return runtime_failure(e_, err, call); \
    } while (0)

#define GDN_HOST_GUARD_BEGIN try {
#define GDN_HOST_GUARD_END                                                                    \
    }                                                                                         \
    catch (const std::bad_alloc&) {                                                           \
        set_error(err, "out of host memory");                                                 \
        return GDN_ERR_OUT_OF_MEMORY;                                                         \
    }                                                                                         \
    catch (...) {                                                                             \
        set_error(err, "internal error: unexpected exception in the %s plugin", V::kBackend); \
        return GDN_ERR_INTERNAL;                                                              \
    }

// What the shared kernels support, on every device they run on (a plugin may offer less).
inline gdn_capabilities kernel_capabilities() {
    gdn_capabilities c{};
    c.struct_size = sizeof(c);
    c.activation_dtypes = (1u << GDN_DTYPE_F32) | (1u << GDN_DTYPE_BF16) | (1u << GDN_DTYPE_F16);
    c.head_k_dim = {16, 256, 16};
    c.head_v_dim = {16, 256, 16};
    c.conv_kernels = (1u << 2) | (1u << 3) | (1u << 4);
    for (int r = 1; r <= 8; ++r) c.gva_ratios |= 1u << r;
    c.modes = (1u << GDN_MODE_EXTEND) | (1u << GDN_MODE_DECODE) | (1u << GDN_MODE_MIXED);
    c.deterministic = 1;
    return c;
}

constexpr size_t kInitialCounters = size_t(1) << 16;
constexpr size_t kInitialScratch = size_t(1) << 24;

// The stream object: a runtime stream the plugin created (owned) or the caller's (stream_wrap),
// what the plugin allocated for it, and the device facts every call plans with.
struct StreamImpl {
    gdn_rt::Stream stream = nullptr;
    bool owned = true;  // false: the caller's stream; stream_destroy leaves it alone
    int device = 0;
    gdn_capabilities caps{};    // what the device supports (checked per call)
    PlanTarget target;          // compute units, shared memory, overrides (read once, at creation)
    bool verbose_plan = false;  // GDN_VERBOSE=plan at creation: one line per call on stderr
    int* counters = nullptr;    // one per (request, key head), zero between launches (decode)
    size_t counter_cap = 0;
    void* scratch = nullptr;  // chunked prefill scratch, grow-only (decode and token-by-token need none)
    size_t scratch_cap = 0;
    std::vector<ChunkDesc> chunks;  // host staging of the prefill chunk list
};

// The launch parameters of one call: the arguments' pointers and shapes, the stream's counters
// and, for the chunked prefill, its scratch laid out as `sl` says.
inline GdnParams params_of(const gdn_forward_args& a, const StreamImpl& s, const PrefillScratch* sl) {
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
    p.counters = s.counters;
    p.x_stride = a.mixed_qkv.strides[0];
    p.a_stride = a.a.strides[0];
    p.b_stride = a.b.strides[0];
    p.state_stride = a.recurrent_state.strides[0];
    p.conv_stride = a.conv_state.strides[0];
    p.padding_slot = a.padding_slot;
    p.num_slots = a.recurrent_state.shape[0];
    p.B = static_cast<int>(a.num_requests);
    p.H = a.num_k_heads;
    p.HV = a.num_v_heads;
    p.Dk = a.head_k_dim;
    p.Dv = a.head_v_dim;
    p.Kc = a.conv_kernel;
    p.conv_dim = 2 * p.H * p.Dk + p.HV * p.Dv;
    p.gva = p.HV / p.H;
    p.T = a.num_tokens;
    if (sl) {
        char* base = static_cast<char*>(s.scratch);
        p.qk = base + sl->qk;
        p.tmat = base + sl->tmat;
        p.qkm = base + sl->qkm;
        p.gates = reinterpret_cast<float4*>(base + sl->gates);
        p.chunks = reinterpret_cast<const ChunkDesc*>(base + sl->chunks);
    }
    return p;
}

template <class V>
struct HostPlugin {
    // ---- devices ------------------------------------------------------------------------------

    static gdn_status check_index(int32_t device, gdn_errbuf err) {
        int n = 0;
        if (gdn_status s = V::count_devices(&n, err)) return s;
        if (device < 0 || device >= n) {
            set_error(err, "device: %d is not %s index (0..%d)", device, V::kDeviceNoun, n - 1);
            return GDN_ERR_INVALID_ARGUMENT;
        }
        return GDN_OK;
    }

    static gdn_status usable_device(int32_t device, gdn_rt::DeviceProp* dp, gdn_errbuf err) {
        if (gdn_status s = check_index(device, err)) return s;
        GDN_HOST_TRY(gdn_rt::device_properties(dp, device), "GetDeviceProperties");
        return V::check_usable(device, *dp, err);
    }

    static gdn_status init(gdn_errbuf err) {
        GDN_HOST_GUARD_BEGIN
        int n = 0;
        if (gdn_status s = V::count_devices(&n, err)) return s;
        for (int d = 0; d < n; ++d) {
            gdn_rt::DeviceProp dp{};
            GDN_HOST_TRY(gdn_rt::device_properties(&dp, d), "GetDeviceProperties");
            if (gdn_status s = V::check_usable(d, dp, err)) return s;
        }
        return GDN_OK;
        GDN_HOST_GUARD_END
    }

    static void shutdown() {
        // Nothing to stop: the plugin starts no threads, and the runtime's primary context is
        // shared with the host process (resetting the device would pull it from under other users).
    }

    static gdn_status device_count(int32_t* count, gdn_errbuf err) {
        GDN_HOST_GUARD_BEGIN
        if (!count) {
            set_error(err, "count: NULL");
            return GDN_ERR_INVALID_ARGUMENT;
        }
        int n = 0;
        const gdn_status s = V::count_devices(&n, err);
        *count = n;
        return s;
        GDN_HOST_GUARD_END
    }

    static gdn_status device_properties(int32_t device, gdn_device_properties* props, gdn_errbuf err) {
        GDN_HOST_GUARD_BEGIN
        if (!props) {
            set_error(err, "props: NULL");
            return GDN_ERR_INVALID_ARGUMENT;
        }
        if (gdn_status s = check_index(device, err)) return s;
        gdn_rt::DeviceProp dp{};
        GDN_HOST_TRY(gdn_rt::device_properties(&dp, device), "GetDeviceProperties");
        gdn_device_properties p{};
        p.struct_size = props->struct_size < sizeof(p) ? props->struct_size : static_cast<uint32_t>(sizeof(p));
        p.kind = GDN_DEVICE_GPU;
        V::device_name(dp, p.name, sizeof(p.name));
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
        GDN_HOST_GUARD_END
    }

    static gdn_status device_capabilities(int32_t device, gdn_capabilities* caps, gdn_errbuf err) {
        GDN_HOST_GUARD_BEGIN
        if (!caps) {
            set_error(err, "caps: NULL");
            return GDN_ERR_INVALID_ARGUMENT;
        }
        gdn_rt::DeviceProp dp{};
        if (gdn_status s = usable_device(device, &dp, err)) return s;
        gdn_capabilities c = V::capabilities(dp);
        const uint32_t n = caps->struct_size < sizeof(c) ? caps->struct_size : static_cast<uint32_t>(sizeof(c));
        c.struct_size = n;
        std::memcpy(caps, &c, n);
        return GDN_OK;
        GDN_HOST_GUARD_END
    }

    // ---- streams and memory -------------------------------------------------------------------

    // Growing synchronizes, which a capturing stream must not do: true (with GDN_OK) when it may.
    static gdn_status may_grow(StreamImpl* s, bool* ok, gdn_errbuf err) {
        bool capturing = false;
        GDN_HOST_TRY(gdn_rt::stream_is_capturing(s->stream, &capturing), "StreamIsCapturing");
        *ok = !capturing;
        return GDN_OK;
    }

    // Replaces *buf by a device buffer of `bytes` (zeroed where `zero`), after the stream's work
    // that may use the old one. `what` names the buffer in messages.
    static gdn_status reallocate(StreamImpl* s, void** buf, size_t bytes, bool zero, const char* what, gdn_errbuf err) {
        GDN_HOST_TRY(gdn_rt::stream_synchronize(s->stream), "StreamSynchronize");
        if (*buf) GDN_HOST_TRY(gdn_rt::free_device(*buf), "Free");
        *buf = nullptr;
        if (const gdn_rt::Error e = gdn_rt::malloc_device(buf, bytes); e != gdn_rt::kSuccess) {
            *buf = nullptr;
            (void)gdn_rt::get_last_error();
            set_error(err, "%s: %sMalloc of %zu bytes: %s", what, gdn_rt::kApi, bytes, ErrorText(e).text);
            return status_of(e);
        }
        if (zero) {
            GDN_HOST_TRY(gdn_rt::memset_async(*buf, 0, bytes, s->stream), "MemsetAsync");
            GDN_HOST_TRY(gdn_rt::stream_synchronize(s->stream), "StreamSynchronize");
        }
        return GDN_OK;
    }

    static gdn_status grow_counters(StreamImpl* s, size_t need, gdn_errbuf err) {
        if (need <= s->counter_cap) return GDN_OK;
        bool ok = false;
        if (gdn_status st = may_grow(s, &ok, err)) return st;
        if (!ok) {
            set_error(err,
                      "num_requests * num_k_heads = %zu exceeds the %zu group counters of this stream; run one "
                      "such call before capturing a graph",
                      need, s->counter_cap);
            return GDN_ERR_UNSUPPORTED;
        }
        size_t cap = s->counter_cap ? s->counter_cap : kInitialCounters;
        while (cap < need) cap *= 2;
        void* buf = s->counters;
        const gdn_status st = reallocate(s, &buf, cap * sizeof(int), true, "group counters", err);
        if (buf != s->counters) s->counter_cap = 0;  // replaced: the new buffer counts once zeroed
        s->counters = static_cast<int*>(buf);
        if (st == GDN_OK) s->counter_cap = cap;
        return st;
    }

    static gdn_status grow_scratch(StreamImpl* s, size_t need, gdn_errbuf err) {
        if (need <= s->scratch_cap) return GDN_OK;
        bool ok = false;
        if (gdn_status st = may_grow(s, &ok, err)) return st;
        if (!ok) {
            set_error(err,
                      "prefill scratch: this call needs %zu bytes, the stream has %zu; run a call at least this "
                      "large on the stream before capturing a graph",
                      need, s->scratch_cap);
            return GDN_ERR_UNSUPPORTED;
        }
        size_t cap = s->scratch_cap ? s->scratch_cap : kInitialScratch;
        while (cap < need) cap *= 2;
        const void* old = s->scratch;
        const gdn_status st = reallocate(s, &s->scratch, cap, false, "prefill scratch", err);
        if (s->scratch != old) s->scratch_cap = 0;
        if (st == GDN_OK) s->scratch_cap = cap;
        return st;
    }

    // A stream on `device`: a new one, or the caller's `native` (not owned). Allocates the group
    // counters now, so that a first decode step can already be captured in a graph.
    static gdn_status open_stream(int32_t device, gdn_rt::Stream native, gdn_stream* out, gdn_errbuf err) {
        if (!out) {
            set_error(err, "out: NULL");
            return GDN_ERR_INVALID_ARGUMENT;
        }
        *out = nullptr;
        gdn_rt::DeviceProp dp{};
        if (gdn_status st = usable_device(device, &dp, err)) return st;
        GDN_HOST_TRY(gdn_rt::set_device(device), "SetDevice");
        if (native) {
            unsigned flags = 0;
            const gdn_rt::Error e = gdn_rt::stream_flags(native, &flags);
            if (e != gdn_rt::kSuccess) {
                (void)gdn_rt::get_last_error();
                set_error(err, "native: %p is not a %s stream (%sStreamGetFlags: %s)", static_cast<void*>(native),
                          kRuntimeName, gdn_rt::kApi, ErrorText(e).text);
                return GDN_ERR_INVALID_ARGUMENT;
            }
        }
        auto* s = new StreamImpl;
        s->device = device;
        s->caps = V::capabilities(dp);
        s->target = V::plan_target(dp);
        s->target.units = dp.multiProcessorCount;
        s->target.smem_limit = static_cast<size_t>(V::smem_limit(dp, device));
        s->target.overrides = read_plan_overrides(s->target.env);
        s->verbose_plan = verbose_wants("plan");
        if (native) {
            s->stream = native;
            s->owned = false;
        } else if (const gdn_rt::Error e = gdn_rt::stream_create_nonblocking(&s->stream); e != gdn_rt::kSuccess) {
            delete s;
            return runtime_failure(e, err, "StreamCreateWithFlags");
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

    static gdn_status stream_create(int32_t device, const gdn_stream_options* /*options*/, gdn_stream* out,
                                    gdn_errbuf err) {
        GDN_HOST_GUARD_BEGIN
        return open_stream(device, nullptr, out, err);
        GDN_HOST_GUARD_END
    }

    static gdn_status stream_wrap(int32_t device, void* native, gdn_stream* out, gdn_errbuf err) {
        GDN_HOST_GUARD_BEGIN
        if (!native) {
            if (out) *out = nullptr;
            set_error(err, "native: NULL; expected a %sStream_t", gdn_rt::kApi);
            return GDN_ERR_INVALID_ARGUMENT;
        }
        return open_stream(device, static_cast<gdn_rt::Stream>(native), out, err);
        GDN_HOST_GUARD_END
    }

    static gdn_status stream_native(gdn_stream stream, void** native, gdn_errbuf err) {
        GDN_HOST_GUARD_BEGIN
        auto* s = reinterpret_cast<StreamImpl*>(stream);
        if (!s) {
            set_error(err, "stream: NULL");
            return GDN_ERR_INVALID_ARGUMENT;
        }
        if (!native) {
            set_error(err, "native: NULL");
            return GDN_ERR_INVALID_ARGUMENT;
        }
        *native = static_cast<void*>(s->stream);
        return GDN_OK;
        GDN_HOST_GUARD_END
    }

    static gdn_status stream_destroy(gdn_stream stream, gdn_errbuf err) {
        GDN_HOST_GUARD_BEGIN
        auto* s = reinterpret_cast<StreamImpl*>(stream);
        if (!s) return GDN_OK;
        GDN_HOST_TRY(gdn_rt::set_device(s->device), "SetDevice");
        const gdn_rt::Error e_sync = gdn_rt::stream_synchronize(s->stream);
        gdn_rt::Error e_free = s->counters ? gdn_rt::free_device(s->counters) : gdn_rt::kSuccess;
        const gdn_rt::Error e_scratch = s->scratch ? gdn_rt::free_device(s->scratch) : gdn_rt::kSuccess;
        if (e_free == gdn_rt::kSuccess) e_free = e_scratch;
        const gdn_rt::Error e_destroy = s->owned ? gdn_rt::stream_destroy(s->stream) : gdn_rt::kSuccess;
        delete s;
        if (e_sync != gdn_rt::kSuccess) return runtime_failure(e_sync, err, "StreamSynchronize");
        if (e_free != gdn_rt::kSuccess) return runtime_failure(e_free, err, "Free");
        if (e_destroy != gdn_rt::kSuccess) return runtime_failure(e_destroy, err, "StreamDestroy");
        return GDN_OK;
        GDN_HOST_GUARD_END
    }

    static gdn_status stream_synchronize(gdn_stream stream, gdn_errbuf err) {
        GDN_HOST_GUARD_BEGIN
        auto* s = reinterpret_cast<StreamImpl*>(stream);
        if (!s) {
            set_error(err, "stream: NULL");
            return GDN_ERR_INVALID_ARGUMENT;
        }
        GDN_HOST_TRY(gdn_rt::set_device(s->device), "SetDevice");
        GDN_HOST_TRY(gdn_rt::stream_synchronize(s->stream), "StreamSynchronize");
        return GDN_OK;
        GDN_HOST_GUARD_END
    }

    static gdn_status mem_alloc(int32_t device, size_t bytes, void** out, gdn_errbuf err) {
        GDN_HOST_GUARD_BEGIN
        if (!out) {
            set_error(err, "out: NULL");
            return GDN_ERR_INVALID_ARGUMENT;
        }
        *out = nullptr;
        GDN_HOST_TRY(gdn_rt::set_device(device), "SetDevice");
        void* p = nullptr;
        const gdn_rt::Error e = gdn_rt::malloc_device(&p, bytes ? bytes : 1);
        if (e != gdn_rt::kSuccess) {
            (void)gdn_rt::get_last_error();
            set_error(err, "%sMalloc of %zu bytes on device %d: %s", gdn_rt::kApi, bytes, device, ErrorText(e).text);
            return status_of(e);
        }
        *out = p;
        return GDN_OK;
        GDN_HOST_GUARD_END
    }

    static gdn_status mem_free(int32_t device, void* ptr, gdn_errbuf err) {
        GDN_HOST_GUARD_BEGIN
        if (!ptr) return GDN_OK;
        GDN_HOST_TRY(gdn_rt::set_device(device), "SetDevice");
        GDN_HOST_TRY(gdn_rt::free_device(ptr), "Free");
        return GDN_OK;
        GDN_HOST_GUARD_END
    }

    static gdn_status mem_copy(gdn_stream stream, void* dst, const void* src, size_t bytes, int32_t kind,
                               gdn_errbuf err) {
        GDN_HOST_GUARD_BEGIN
        auto* s = reinterpret_cast<StreamImpl*>(stream);
        if (!s) {
            set_error(err, "stream: NULL");
            return GDN_ERR_INVALID_ARGUMENT;
        }
        gdn_rt::CopyKind k;
        switch (kind) {
            case GDN_COPY_HOST_TO_DEVICE: k = gdn_rt::CopyKind::HostToDevice; break;
            case GDN_COPY_DEVICE_TO_HOST: k = gdn_rt::CopyKind::DeviceToHost; break;
            case GDN_COPY_DEVICE_TO_DEVICE: k = gdn_rt::CopyKind::DeviceToDevice; break;
            default: set_error(err, "kind: %d is not a gdn_copy_kind", kind); return GDN_ERR_INVALID_ARGUMENT;
        }
        if (bytes == 0) return GDN_OK;
        GDN_HOST_TRY(gdn_rt::set_device(s->device), "SetDevice");
        GDN_HOST_TRY(gdn_rt::memcpy_async(dst, src, bytes, k, s->stream), "MemcpyAsync");
        return GDN_OK;
        GDN_HOST_GUARD_END
    }

    static gdn_status mem_set(gdn_stream stream, void* dst, int32_t byte_value, size_t bytes, gdn_errbuf err) {
        GDN_HOST_GUARD_BEGIN
        auto* s = reinterpret_cast<StreamImpl*>(stream);
        if (!s) {
            set_error(err, "stream: NULL");
            return GDN_ERR_INVALID_ARGUMENT;
        }
        if (bytes == 0) return GDN_OK;
        GDN_HOST_TRY(gdn_rt::set_device(s->device), "SetDevice");
        GDN_HOST_TRY(gdn_rt::memset_async(dst, byte_value, bytes, s->stream), "MemsetAsync");
        return GDN_OK;
        GDN_HOST_GUARD_END
    }

    // ---- the layer ----------------------------------------------------------------------------

    static gdn_status forward_gdn(gdn_stream stream, const gdn_forward_args* args, gdn_errbuf err) {
        GDN_HOST_GUARD_BEGIN
        auto* s = reinterpret_cast<StreamImpl*>(stream);
        if (!s) {
            set_error(err, "stream: NULL");
            return GDN_ERR_INVALID_ARGUMENT;
        }
        if (!args) {
            set_error(err, "args: NULL");
            return GDN_ERR_INVALID_ARGUMENT;
        }
        const gdn_forward_args& a = *args;
        if (gdn_status st = check_forward_args(a, s->caps, V::kBackend, err)) return st;
        if (a.num_requests <= 0 || a.num_tokens <= 0) return GDN_OK;

        ForwardEntry entry = nullptr;
        switch (a.activation_dtype) {
            case GDN_DTYPE_F32: entry = V::kKernels.f32; break;
            case GDN_DTYPE_BF16: entry = V::kKernels.bf16; break;
            case GDN_DTYPE_F16: entry = V::kKernels.f16; break;
            default:  // check_forward_args admits only the dtypes the capabilities list
                set_error(err, "internal error: activation_dtype %d passed the checks but has no kernels",
                          a.activation_dtype);
                return GDN_ERR_INTERNAL;
        }
        const int Dk = a.head_k_dim;
        const bool exact = a.activation_dtype == GDN_DTYPE_F32;
        PlanWhy why;
        const LaunchPlan plan = plan_forward(
            a, s->target,
            [&](int dvs, int kbufs, int sbufs) { return V::kKernels.seq_smem_bytes(Dk, dvs, exact, kbufs, sbufs); },
            [&](bool fused) { return V::kKernels.prep_smem_bytes(Dk, exact, fused); }, s->chunks, &why);
        if (s->verbose_plan) std::fprintf(stderr, "%s\n", describe_plan(V::kName, a, s->target, plan, why).c_str());

        GDN_HOST_TRY(gdn_rt::set_device(s->device), "SetDevice");
        if (gdn_status st = grow_counters(s, static_cast<size_t>(a.num_requests) * a.num_k_heads, err)) return st;
        const bool chunked = plan.extend && plan.extend_rpw == 0;
        PrefillScratch sl;
        if (chunked) {  // token-indexed scratch of the chunked prefill (gdn_prefill.cuh)
            sl = prefill_scratch(a.num_tokens, a.num_k_heads, a.num_v_heads, Dk, exact, s->chunks.size());
            if (gdn_status st = grow_scratch(s, sl.bytes, err)) return st;
            if (!s->chunks.empty())
                GDN_HOST_TRY(gdn_rt::memcpy_async(static_cast<char*>(s->scratch) + sl.chunks, s->chunks.data(),
                                                  s->chunks.size() * sizeof(ChunkDesc), gdn_rt::CopyKind::HostToDevice,
                                                  s->stream),
                             "MemcpyAsync (prefill chunk list)");
        }
        const GdnParams p = params_of(a, *s, chunked ? &sl : nullptr);
        if (const gdn_rt::Error e = entry(p, plan, s->stream); e != gdn_rt::kSuccess) {
            (void)gdn_rt::get_last_error();
            set_error(err, "forward_gdn kernel launch: %s", ErrorText(e).text);
            return status_of(e);
        }
        return GDN_OK;
        GDN_HOST_GUARD_END
    }

    static constexpr gdn_plugin table() {
        return gdn_plugin{
            sizeof(gdn_plugin),
            GDN_ABI_MAJOR,
            GDN_ABI_MINOR,
            V::kName,
            "0.1.0",
            V::kDescription,
            V::kPriority,
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
    }
};

#undef GDN_HOST_TRY
#undef GDN_HOST_GUARD_BEGIN
#undef GDN_HOST_GUARD_END

}  // namespace gdn_gpu

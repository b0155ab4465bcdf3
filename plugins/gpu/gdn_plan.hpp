// Host-side planning of one forward call, shared by the CUDA and ROCm plugins: the checks of the
// call against the declared capabilities and the layout plugin.h promises, the request scan, the
// prefill chunk list, the scratch layout and the kernel-shape choices. Plain C++17 with no vendor
// header, so that the CPU test suite holds these rules too (tests/gpu_plan).
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gdn/forward_batch.hpp"  // gdn::kForwardModeCount
#include "gdn/plugin.h"

namespace gdn_gpu {

// Tokens per prefill chunk (gdn_prefill.cuh's kChunk; a static_assert there keeps them equal).
constexpr int kChunkTokens = 64;

// One prefill chunk: tokens [c0, c0 + n) of request r, n <= kChunkTokens.
struct ChunkDesc {
    int64_t c0;
    int32_t r;
    int32_t n;
};

// What the host decided for one forward call.
struct LaunchPlan {
    bool decode = false;            // some request has length 1
    bool extend = false;            // some request has length >= 2
    int dvs = 128;                  // prefill Dv slice per CTA
    int seq_kbufs = 2;              // k̂ buffers of the sequential prefill (2 where shared memory allows)
    int seq_sbufs = 1;              // q̂ / raw v, T and QKm buffers of the sequential prefill (2: see plan_forward)
    bool seq_one_wave = false;      // the sequential prefill has at most one block per compute unit
    int prep_heads = 1;             // value heads per block of the prefill prep kernel (prep_heads_per_block)
    int64_t nchunks = 0;            // prefill chunks (ChunkDesc entries)
    int decode_rpw = 4;             // decode state rows per warp
    int extend_rpw = 0;             // 0: the chunked prefill; 1, 2, 4: the token-by-token extend kernel
                                    // (gdn_recurrent.cuh) with that many state rows per warp
    bool overlap_launches = false;  // the decode kernel may overlap the previous kernel's tail
                                    // (gdn_rt::LaunchOn::overlap_previous)
};

inline bool size_in(const gdn_size_range& r, int v) {
    return r.multiple > 0 && v >= r.min && v <= r.max && (v - r.min) % r.multiple == 0;
}

// A printf-style message into the caller's error buffer (cut to its capacity; none without one).
inline void vset_error(gdn_errbuf err, const char* fmt, va_list ap) {
    if (err.text && err.capacity) std::vsnprintf(err.text, err.capacity, fmt, ap);
}
inline void set_error(gdn_errbuf err, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
inline void set_error(gdn_errbuf err, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset_error(err, fmt, ap);
    va_end(ap);
}
// The same, returning `status`.
inline gdn_status plan_error(gdn_errbuf err, gdn_status status, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
inline gdn_status plan_error(gdn_errbuf err, gdn_status status, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset_error(err, fmt, ap);
    va_end(ap);
    return status;
}

// The call against `caps` (GDN_ERR_UNSUPPORTED naming the argument) and against the layout the
// host guarantees (GDN_ERR_INVALID_ARGUMENT: a mismatch is a host bug). `backend` names the
// plugin in messages ("CUDA"). GDN_OK when the kernels can run it.
inline gdn_status check_forward_args(const gdn_forward_args& a, const gdn_capabilities& caps, const char* backend,
                                     gdn_errbuf err) {
    constexpr gdn_status U = GDN_ERR_UNSUPPORTED;
    // Any host from ABI 1.0 on; the 1.2 serving features are not in these kernels yet.
    if (a.struct_size < GDN_FORWARD_ARGS_MIN_SIZE_V1_0)
        return plan_error(err, GDN_ERR_INVALID_ARGUMENT,
                          "gdn_forward_args.struct_size: %u is smaller than ABI 1.0's %u", a.struct_size,
                          unsigned(GDN_FORWARD_ARGS_MIN_SIZE_V1_0));
    if (const char* field = gdn_forward_args_unsupported(&a, caps.state_dtypes, caps.features))
        return plan_error(err, U, "%s: not supported by the %s backend", field, backend);
    if (a.activation_dtype < 0 || a.activation_dtype > 31 || !(caps.activation_dtypes >> a.activation_dtype & 1u))
        return plan_error(err, U, "activation_dtype: %d is not supported by the %s backend on this device",
                          a.activation_dtype, backend);
    if (!size_in(caps.head_k_dim, a.head_k_dim))
        return plan_error(err, U, "head_k_dim: %d unsupported (multiples of %d in %d..%d)", a.head_k_dim,
                          caps.head_k_dim.multiple, caps.head_k_dim.min, caps.head_k_dim.max);
    if (!size_in(caps.head_v_dim, a.head_v_dim))
        return plan_error(err, U, "head_v_dim: %d unsupported (multiples of %d in %d..%d)", a.head_v_dim,
                          caps.head_v_dim.multiple, caps.head_v_dim.min, caps.head_v_dim.max);
    if (a.conv_kernel < 0 || a.conv_kernel > 31 || !(caps.conv_kernels >> a.conv_kernel & 1u))
        return plan_error(err, U, "conv_kernel: %d unsupported", a.conv_kernel);
    if (a.num_k_heads <= 0 || a.num_v_heads <= 0 || a.num_v_heads % a.num_k_heads != 0 ||
        a.num_v_heads / a.num_k_heads > 31 || !(caps.gva_ratios >> (a.num_v_heads / a.num_k_heads) & 1u))
        return plan_error(err, U, "num_v_heads / num_k_heads: %d / %d is not a supported GVA ratio", a.num_v_heads,
                          a.num_k_heads);
    if (a.mode < 0 || a.mode >= gdn::kForwardModeCount || !(caps.modes >> a.mode & 1u))
        return plan_error(err, U, "mode: %d unsupported", a.mode);

    const int64_t HV = a.num_v_heads, Dk = a.head_k_dim, Dv = a.head_v_dim, Kc = a.conv_kernel;
    const auto bad = [&](const char* name) {
        return plan_error(err, GDN_ERR_INVALID_ARGUMENT,
                          "%s: layout not as gdn_forward_args promises (last stride 1, packed rows)", name);
    };
    if (a.mixed_qkv.strides[1] != 1 || a.a.strides[1] != 1 || a.b.strides[1] != 1) return bad("mixed_qkv/a/b");
    if (a.conv_weight.strides[1] != 1 || a.conv_weight.strides[0] != Kc) return bad("conv_weight");
    if (a.out.strides[1] != 1 || (a.num_tokens > 1 && a.out.strides[0] != HV * Dv)) return bad("out");
    if (a.recurrent_state.rank != 4 || a.recurrent_state.strides[3] != 1 || a.recurrent_state.strides[2] != Dk ||
        a.recurrent_state.strides[1] != Dv * Dk)
        return bad("recurrent_state");
    if (a.conv_state.rank != 3 || a.conv_state.strides[2] != 1 || a.conv_state.strides[1] != Kc - 1)
        return bad("conv_state");
    if ((reinterpret_cast<uintptr_t>(a.recurrent_state.data) & 15) != 0 || (a.recurrent_state.strides[0] & 3) != 0)
        return bad("recurrent_state (16-byte alignment of slots)");
    if (a.num_requests > 0 && a.num_tokens > 0) {
        if (!a.host_cu_seqlens) return plan_error(err, GDN_ERR_INVALID_ARGUMENT, "host_cu_seqlens: NULL");
        if (!a.host_slots) return plan_error(err, GDN_ERR_INVALID_ARGUMENT, "host_slots: NULL");
    }
    return GDN_OK;
}

// Which kernels the requests need: length 1 is decode, length >= 2 extend; `live_extend` counts
// the extend requests that are not padding (the pairs the prefill kernels spread over the GPU).
struct RequestMix {
    bool decode = false, extend = false;
    int64_t live_extend = 0;
};
inline RequestMix scan_requests(const gdn_forward_args& a) {
    RequestMix m;
    for (int64_t r = 0; r < a.num_requests; ++r) {
        const int64_t len = a.host_cu_seqlens[r + 1] - a.host_cu_seqlens[r];
        if (len == 1) m.decode = true;
        if (len >= 2) {
            m.extend = true;
            if (a.host_slots[r] != a.padding_slot) ++m.live_extend;
        }
    }
    return m;
}

// The prefill chunks: every extend request (length >= 2) that is not padding, cut into runs of
// kChunkTokens from its start; the last run of a request may be shorter.
inline void build_chunks(const gdn_forward_args& a, std::vector<ChunkDesc>& chunks) {
    chunks.clear();
    for (int64_t r = 0; r < a.num_requests; ++r) {
        const int64_t st = a.host_cu_seqlens[r], en = a.host_cu_seqlens[r + 1];
        if (en - st < 2 || a.host_slots[r] == a.padding_slot) continue;
        for (int64_t c0 = st; c0 < en; c0 += kChunkTokens)
            chunks.push_back(ChunkDesc{c0, static_cast<int32_t>(r),
                                       static_cast<int32_t>(en - c0 < kChunkTokens ? en - c0 : kChunkTokens)});
    }
}

// Byte offsets of the chunked prefill's token-indexed scratch (gdn_prefill.cuh), each 256-aligned:
//   qk [T, H, 2*Dk] q̂ | k̂;  tmat, qkm [T, HV, 64];  gates [T, HV] float4;  chunks [nchunks].
// Elements are f16, or f32 for f32 activations (`exact`).
struct PrefillScratch {
    size_t qk = 0, tmat = 0, qkm = 0, gates = 0, chunks = 0, bytes = 0;
};
inline size_t align256(size_t x) { return (x + 255) & ~static_cast<size_t>(255); }
inline PrefillScratch prefill_scratch(int64_t T, int H, int HV, int Dk, bool exact, size_t nchunks) {
    const size_t es = exact ? 4 : 2, t = static_cast<size_t>(T);
    PrefillScratch s;
    size_t o = 0;
    s.qk = o;
    o = align256(o + t * 2 * static_cast<size_t>(H) * static_cast<size_t>(Dk) * es);
    s.tmat = o;
    o = align256(o + t * static_cast<size_t>(HV) * kChunkTokens * es);
    s.qkm = o;
    o = align256(o + t * static_cast<size_t>(HV) * kChunkTokens * es);
    s.gates = o;
    o = align256(o + t * static_cast<size_t>(HV) * 16);
    s.chunks = o;
    o = align256(o + nchunks * sizeof(ChunkDesc));
    s.bytes = o;
    return s;
}

// Estimated time of the sequential prefill with Dv slices of width `dvs`, in units of one
// chunk step of a 16-wide CTA sharing its SM with another: waves of CTAs (pairs x Dv/dvs of them;
// 16- and 32-wide ones run two per compute unit, wider ones one) times the time of a chunk step at
// that width and residency. Wider slices reload k̂, q̂, T and QKm less often per column, so a step
// costs less than proportionally more; a CTA alone on its compute unit runs faster than one that
// shares it. The step costs are those of the per-slice sweep (docs/performance-cuda.md, under "Dv
// slice"); the one of a 16-wide CTA alone is an estimate. With them the planner picks the widest
// slices for many requests (fewer reloads) and narrow ones for few long requests (every unit
// busy).
inline double dv_slice_cost(int dvs, int Dv, int64_t pairs, int units) {
    const int64_t ctas = pairs * (Dv / dvs);
    const int per_unit = dvs <= 32 && ctas > units ? 2 : 1;
    const double step = dvs == 128  ? 2.2
                        : dvs == 64 ? 1.41
                        : dvs == 32 ? (per_unit == 2 ? 1.4 : 0.92)
                                    : (per_unit == 2 ? 1.0 : 0.75);
    const int64_t slots = static_cast<int64_t>(per_unit) * units;
    return static_cast<double>((ctas + slots - 1) / slots) * step;
}

// The Dv slice of the sequential prefill kernel, among 128, 64, 32, 16 those that divide Dv and
// `fits` (shared memory): a requested one (`prefer`, a tuning override) if it is among them, else
// the one of least dv_slice_cost (the narrower on a tie: more CTAs hide more latency); 0 when none
// fits. Many requests get wide slices (fewer reloads), few long ones narrow ones (every SM busy).
template <class Fits>
int pick_dv_slice(int Dv, int64_t pairs, int units, Fits fits, int prefer = 0) {
    const int cands[4] = {16, 32, 64, 128};
    int best = 0;
    double best_cost = 0.0;
    for (int c : cands) {
        if (Dv % c != 0 || !fits(c)) continue;
        if (c == prefer) return c;
        const double cost = dv_slice_cost(c, Dv, pairs, units);
        if (best == 0 || cost < best_cost) {
            best = c;
            best_cost = cost;
        }
    }
    return best;
}

// The prep kernel computes q̂, k̂ itself (its FUSED variant, gdn_prefill.cuh) where x (mixed_qkv)
// and its row stride allow 16-byte copies and a warp's 32 lanes of 16 bytes cover a key head's
// q | k channels (2 Dk elements); otherwise a front kernel writes them first. The two variants
// lay out shared memory differently, so the host checks the one that will run.
inline bool prep_fused(const void* x, int64_t x_row_stride, int Dk, int elem_bytes) {
    const bool vec16 = reinterpret_cast<uintptr_t>(x) % 16 == 0 && (x_row_stride * elem_bytes) % 16 == 0;
    return vec16 && 2 * Dk * elem_bytes <= 16 * 32;
}

// Value heads per block of the prefill prep kernel: all gva heads of a key head (q̂ and k̂ are
// loaded, or computed, once for them, and so are K Kᵀ and Q Kᵀ) when chunks x key heads still
// give every compute unit four blocks, else 1 (more, shorter blocks for small batches).
inline int prep_heads_per_block(int64_t nchunks, int H, int gva, int units) {
    return nchunks * H >= 4 * static_cast<int64_t>(units) ? gva : 1;
}

// State rows per warp of the decode kernel (CTAs of 8 warps own 8 * rpw rows): 8 when the
// batch still gives every compute unit four CTAs, 4 for two, else 2. Dv is a multiple of 16.
inline int decode_rows_per_warp(int64_t B, int HV, int Dv, int units) {
    if (Dv % 64 == 0 && B * HV * (Dv / 64) >= 4 * static_cast<int64_t>(units)) return 8;
    if (Dv % 32 == 0 && B * HV * (Dv / 32) >= 2 * static_cast<int64_t>(units)) return 4;
    return 2;
}

// State rows per warp of the token-by-token extend (CTAs of 8 warps own 8 * rpw rows): the most
// (less conv recomputed per row) that still gives every compute unit two blocks, else 1 (the most
// blocks for few long requests).
inline int recurrent_rows_per_warp(int Dv, int64_t pairs, int units) {
    for (int rpw : {4, 2}) {
        const int rows = 8 * rpw;
        if (Dv % rows == 0 && pairs * (Dv / rows) >= 2 * static_cast<int64_t>(units)) return rpw;
    }
    return 1;
}

// Which extend kernel: the chunked prefill wherever its shared memory fits (automatic), or forced
// by a tuning and test switch (GDN_CUDA_PREFILL / GDN_ROCM_PREFILL = chunked | recurrent);
// "chunked" still falls back to the token-by-token kernel where the chunked one does not fit.
enum class PrefillKernel { automatic, chunked, recurrent };
inline PrefillKernel prefill_kernel_from(const char* setting) {
    if (setting && std::strcmp(setting, "recurrent") == 0) return PrefillKernel::recurrent;
    if (setting && std::strcmp(setting, "chunked") == 0) return PrefillKernel::chunked;
    return PrefillKernel::automatic;
}

// Tuning and test overrides of the planner, read once per stream from the environment
// variables <prefix>_PREFILL=chunked|recurrent, _DVS=16|32|64|128, _PREP_HEADS=1|all,
// _DECODE_RPW=2|4|8 and _OVERLAP=0 (prefix "GDN_CUDA", "GDN_ROCM"). Values the planner cannot use
// where it plans (a slice that does not divide Dv, ...) are ignored there.
struct PlanOverrides {
    PrefillKernel prefill = PrefillKernel::automatic;
    int dvs = 0;          // Dv slice of the sequential prefill; 0: the planner's choice
    int prep_heads = 0;   // 1, or -1 for all of a key head's value heads; 0: the planner's choice
    int decode_rpw = 0;   // decode state rows per warp; 0: the planner's choice
    bool overlap = true;  // false: never overlap launches
};

inline PlanOverrides read_plan_overrides(const char* prefix) {
    PlanOverrides o;
    if (!prefix) return o;
    const auto setting = [&](const char* name) -> const char* {
        char var[64];
        std::snprintf(var, sizeof var, "%s_%s", prefix, name);
        return std::getenv(var);
    };
    o.prefill = prefill_kernel_from(setting("PREFILL"));
    if (const char* v = setting("DVS")) o.dvs = std::atoi(v);
    if (const char* v = setting("PREP_HEADS"))
        o.prep_heads = std::strcmp(v, "1") == 0 ? 1 : std::strcmp(v, "all") == 0 ? -1 : 0;
    if (const char* v = setting("DECODE_RPW")) o.decode_rpw = std::atoi(v);
    if (const char* v = setting("OVERLAP")) o.overlap = std::strcmp(v, "0") != 0;
    return o;
}

// Whether GDN_VERBOSE (a comma-separated list: "plan", "all") asks for `topic`; read once per
// stream, like the overrides.
inline bool verbose_wants(const char* topic) {
    const char* v = std::getenv("GDN_VERBOSE");
    if (!v) return false;
    const size_t n = std::strlen(topic);
    for (const char* p = v; *p;) {
        const char* end = std::strchr(p, ',');
        const size_t len = end ? static_cast<size_t>(end - p) : std::strlen(p);
        if ((len == n && std::strncmp(p, topic, n) == 0) || (len == 3 && std::strncmp(p, "all", 3) == 0)) return true;
        if (!end) break;
        p = end + 1;
    }
    return false;
}

// The device and kernel facts a plan depends on.
struct PlanTarget {
    int units = 1;               // compute units (SMs, CUs)
    size_t smem_limit = 0;       // shared memory one block may use
    const char* env = nullptr;   // prefix of the overrides ("GDN_CUDA"), for messages
    PlanOverrides overrides;     // read_plan_overrides(env), once per stream
    bool can_overlap = false;    // the device and runtime launch kernels that overlap the previous one
    bool seq_producers = false;  // the sequential prefill stages its inputs by producer warps
};

// Why the planner chose what it chose, for GDN_VERBOSE=plan (static strings, never NULL).
struct PlanWhy {
    const char* extend = "";      // the extend kernel
    const char* dvs = "";         // the Dv slice
    const char* prep_heads = "";  // value heads per prep block
    const char* decode = "";      // decode rows per warp
    const char* overlap = "";     // overlapped launches
    size_t prep_bytes = 0;        // the prep kernel's shared memory (0: not asked)
};

// The plan of one forward call, shared by the CUDA and ROCm plugins (after check_forward_args):
// which kernels the requests need, and for extend requests the chunked prefill where its shared
// memory fits (else the token-by-token kernel, which fits any declared shape), its Dv slice, k̂
// and other stage buffers, chunk list (into `chunks`) and prep heads per block; the decode
// kernel's rows per warp. seq_bytes(dvs, kbufs, sbufs) and prep_bytes(fused) are the chunked
// kernels' shared memory (they live with the kernels). The decode launch overlaps the previous
// kernel's tail where the target can. tg.overrides force choices (tests, tuning); `why`, when
// given, receives the reason for each choice.
template <class SeqBytes, class PrepBytes>
LaunchPlan plan_forward(const gdn_forward_args& a, const PlanTarget& tg, SeqBytes seq_bytes, PrepBytes prep_bytes,
                        std::vector<ChunkDesc>& chunks, PlanWhy* why = nullptr) {
    const int H = a.num_k_heads, HV = a.num_v_heads, Dk = a.head_k_dim, Dv = a.head_v_dim;
    const bool exact = a.activation_dtype == GDN_DTYPE_F32;
    const PlanOverrides& o = tg.overrides;
    const RequestMix mix = scan_requests(a);
    PlanWhy w;
    LaunchPlan plan;
    plan.decode = mix.decode;
    plan.extend = mix.extend;
    chunks.clear();
    if (plan.extend) {
        const bool fused = prep_fused(a.mixed_qkv.data, a.mixed_qkv.strides[0], Dk, exact ? 4 : 2);
        w.prep_bytes = prep_bytes(fused);
        const bool prep_fits = w.prep_bytes <= tg.smem_limit;
        const bool forced = o.prefill == PrefillKernel::recurrent;
        plan.dvs = forced || !prep_fits ? 0
                                        : pick_dv_slice(
                                              Dv, mix.live_extend * HV, tg.units,
                                              [&](int dvs) { return seq_bytes(dvs, 1, 1) <= tg.smem_limit; }, o.dvs);
        if (plan.dvs == 0) {  // the chunked kernels do not fit (or are not wanted): token by token
            w.extend = forced       ? "forced by <env>_PREFILL=recurrent"
                       : !prep_fits ? "the chunked prep kernel does not fit shared memory"
                                    : "no Dv slice of the chunked prefill fits shared memory";
            plan.dvs = 16;  // unused
            plan.extend_rpw = recurrent_rows_per_warp(Dv, mix.live_extend * HV, tg.units);
        } else {
            w.extend = "its kernels fit shared memory";
            w.dvs =
                plan.dvs == o.dvs ? "forced by <env>_DVS" : "least estimated time for the (request, value head) pairs";
            plan.seq_kbufs = seq_bytes(plan.dvs, 2, 1) <= tg.smem_limit ? 2 : 1;
            // Second buffers of q̂ / raw v, T and QKm let the producers stage them a whole chunk
            // ahead (with one, from the end of the product that reads them), where the pass has
            // one block per compute unit anyway, so that the shared memory costs no occupancy (nor
            // do the registers its kernel then may use: seq_blocks_per_sm, gdn_prefill.cuh).
            plan.seq_one_wave = mix.live_extend * HV * (Dv / plan.dvs) <= tg.units;
            plan.seq_sbufs =
                tg.seq_producers && plan.seq_one_wave && seq_bytes(plan.dvs, plan.seq_kbufs, 2) <= tg.smem_limit ? 2
                                                                                                                 : 1;
            build_chunks(a, chunks);
            plan.nchunks = static_cast<int64_t>(chunks.size());  // 0: only padding requests (outputs zeroed)
            plan.prep_heads = prep_heads_per_block(plan.nchunks, H, HV / H, tg.units);
            w.prep_heads = HV == H                     ? "one value head per key head"
                           : plan.prep_heads == HV / H ? "chunks x key heads give every unit 4 blocks"
                                                       : "too few chunks x key heads to group value heads";
            if (o.prep_heads != 0) {
                plan.prep_heads = o.prep_heads == 1 ? 1 : HV / H;
                w.prep_heads = "forced by <env>_PREP_HEADS";
            }
        }
    }
    plan.decode_rpw = decode_rows_per_warp(a.num_requests, HV, Dv, tg.units);
    w.decode = "rows per warp that still give every unit enough blocks";
    if ((o.decode_rpw == 2 && Dv % 16 == 0) || (o.decode_rpw == 4 && Dv % 32 == 0) ||
        (o.decode_rpw == 8 && Dv % 64 == 0)) {
        plan.decode_rpw = o.decode_rpw;
        w.decode = "forced by <env>_DECODE_RPW";
    }
    plan.overlap_launches = tg.can_overlap && o.overlap;
    w.overlap = !tg.can_overlap ? "the device has no overlapped launches"
                : o.overlap     ? "the device overlaps launches"
                                : "off by <env>_OVERLAP=0";
    if (why) *why = w;
    return plan;
}

// One line for GDN_VERBOSE=plan: the call, then each group of requests with the path it takes and
// why, e.g.
//   gdn_verbose,plan,cuda,bf16,requests=3,tokens=301: extend x2 -> chunked prefill dvs=32 ...
//   (its kernels fit shared memory ...); decode x1 -> decode kernel rpw=4 ...; padding x0
// `backend` names the plugin ("cuda"); "<env>" in the reasons becomes tg.env.
inline std::string describe_plan(const char* backend, const gdn_forward_args& a, const PlanTarget& tg,
                                 const LaunchPlan& plan, const PlanWhy& why) {
    int64_t extend = 0, decode = 0, padding = 0, empty = 0;
    for (int64_t r = 0; r < a.num_requests; ++r) {
        const int64_t len = a.host_cu_seqlens[r + 1] - a.host_cu_seqlens[r];
        if (len == 0)
            ++empty;
        else if (a.host_slots[r] == a.padding_slot)
            ++padding;
        else if (len == 1)
            ++decode;
        else
            ++extend;
    }
    const auto reason = [&](const char* r) {
        std::string t(r);
        const std::string key = "<env>";
        if (const size_t at = t.find(key); at != std::string::npos) t.replace(at, key.size(), tg.env ? tg.env : "GDN");
        return t;
    };
    const char* dtype = a.activation_dtype == GDN_DTYPE_F32    ? "f32"
                        : a.activation_dtype == GDN_DTYPE_BF16 ? "bf16"
                        : a.activation_dtype == GDN_DTYPE_F16  ? "f16"
                                                               : "?";
    char buf[512];
    std::snprintf(buf, sizeof buf, "gdn_verbose,plan,%s,%s,requests=%lld,tokens=%lld,units=%d,smem=%zu:", backend,
                  dtype, static_cast<long long>(a.num_requests), static_cast<long long>(a.num_tokens), tg.units,
                  tg.smem_limit);
    std::string line = buf;
    const char* sep = " ";
    if (extend) {
        if (plan.extend_rpw)
            std::snprintf(buf, sizeof buf, "extend x%lld -> token-by-token extend rpw=%d (%s)",
                          static_cast<long long>(extend), plan.extend_rpw, reason(why.extend).c_str());
        else
            std::snprintf(buf, sizeof buf,
                          "extend x%lld -> chunked prefill (%s) dvs=%d (%s) kbufs=%d sbufs=%d chunks=%lld "
                          "prep_heads=%d (%s)",
                          static_cast<long long>(extend), reason(why.extend).c_str(), plan.dvs, reason(why.dvs).c_str(),
                          plan.seq_kbufs, plan.seq_sbufs, static_cast<long long>(plan.nchunks), plan.prep_heads,
                          reason(why.prep_heads).c_str());
        line += sep;
        line += buf;
        sep = "; ";
    }
    if (decode) {
        std::snprintf(buf, sizeof buf, "decode x%lld -> decode kernel rpw=%d (%s) overlap=%s (%s)",
                      static_cast<long long>(decode), plan.decode_rpw, reason(why.decode).c_str(),
                      plan.overlap_launches ? "on" : "off", reason(why.overlap).c_str());
        line += sep;
        line += buf;
        sep = "; ";
    }
    if (padding) {
        std::snprintf(buf, sizeof buf, "padding x%lld -> outputs zeroed, state untouched",
                      static_cast<long long>(padding));
        line += sep;
        line += buf;
        sep = "; ";
    }
    if (empty) {
        std::snprintf(buf, sizeof buf, "empty x%lld -> nothing", static_cast<long long>(empty));
        line += sep;
        line += buf;
    }
    return line;
}

}  // namespace gdn_gpu

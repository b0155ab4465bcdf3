// Host-side launchers of the GDN kernels, templated on the activation type. A backend plugin
// instantiates launch_forward<Act> once per activation dtype (one translation unit each): decode
// requests to gdn_decode.cuh, extend requests to the chunked prefill (gdn_prefill.cuh) or, where
// the plan says so (LaunchPlan::extend_rpw), to the token-by-token kernel (gdn_recurrent.cuh).
#pragma once

#include "gdn_decode.cuh"
#include "gdn_prefill.cuh"
#include "gdn_recurrent.cuh"

namespace gdn_gpu {
// Kernels and their launchers have internal linkage: each plugin translation unit owns its copies.
namespace {

inline size_t seq_smem_bytes(int Dk, int dvs, bool exact, int kbufs, int sbufs) {
    return seq_smem(Dk, dvs, exact, kbufs, sbufs).total;
}
inline size_t prep_smem_bytes(int Dk, bool exact, bool fused) { return prep_smem(Dk, exact, fused).total; }

template <typename Act, int DVS, int DKT, int BLOCKS_PER_SM>
gdn_rt::Error launch_seq(GdnParams p, gdn_rt::LaunchOn on) {
    constexpr bool exact = std::is_same<Act, float>::value;
    const size_t smem = seq_smem_bytes(p.Dk, DVS, exact, p.seq_kbufs, p.seq_sbufs);
    auto kernel = gdn_chunk_seq_kernel<Act, DVS, DKT, BLOCKS_PER_SM>;
    gdn_rt::Error e = gdn_rt::set_max_dynamic_smem(kernel, static_cast<int>(smem));
    if (e != gdn_rt::kSuccess) return e;
    p.nsplit = p.Dv / DVS;
    dim3 grid(p.nsplit, p.HV, p.B);
    return gdn_rt::launch(kernel, grid, dim3(SeqWarps<Act, DVS, BLOCKS_PER_SM>::threads), smem, on, p);
}

// The slice's kernel, compiled for one block per SM or two (seq_blocks_per_sm) where they differ.
// The kernels of one block per SM at 16- and 32-wide slices have helper warps (SeqWarps), which
// need the second stage buffers (sbufs 2) that the layout then holds: they are launched only with
// them (one wave with less shared memory takes the other kernel).
template <typename Act, int DVS, int DKT>
gdn_rt::Error launch_seq_width(const GdnParams& p, bool one_wave, gdn_rt::LaunchOn on) {
    constexpr int many = seq_blocks_per_sm<DVS>(false), one = seq_blocks_per_sm<DVS>(true);
    if constexpr (many == one) {
        (void)one_wave;
        return launch_seq<Act, DVS, DKT, one>(p, on);
    } else {
        static_assert(SeqWarps<Act, DVS, one>::helpers == kAsyncBarriers && !SeqWarps<Act, DVS, many>::helpers,
                      "helper warps in the one-block kernel only");
        const bool one_kernel = kAsyncBarriers ? one_wave && seq_helpers(DVS, p.seq_sbufs) : one_wave;
        return one_kernel ? launch_seq<Act, DVS, DKT, one>(p, on) : launch_seq<Act, DVS, DKT, many>(p, on);
    }
}

template <typename Act, int DKT>
gdn_rt::Error launch_seq_dvs(const GdnParams& p, int dvs, bool one_wave, gdn_rt::LaunchOn on) {
    switch (dvs) {
        case 128: return launch_seq_width<Act, 128, DKT>(p, one_wave, on);
        case 64: return launch_seq_width<Act, 64, DKT>(p, one_wave, on);
        case 32: return launch_seq_width<Act, 32, DKT>(p, one_wave, on);
        default: return launch_seq_width<Act, 16, DKT>(p, one_wave, on);
    }
}

template <typename Act>
gdn_rt::Error launch_prefill(const GdnParams& p, const LaunchPlan& plan, gdn_rt::LaunchOn on) {
    constexpr bool exact = std::is_same<Act, float>::value;
    GdnParams q = p;  // with the plan's per-launch settings
    q.seq_kbufs = plan.seq_kbufs;
    q.seq_sbufs = plan.seq_sbufs;
    q.prep_heads = plan.prep_heads;
    q.x_vec16 =
        reinterpret_cast<uintptr_t>(p.x) % 16 == 0 && (p.x_stride * static_cast<int64_t>(sizeof(Act))) % 16 == 0;
    // The prep kernel computes q̂, k̂ itself where a lane's 16 bytes cover them (FUSED); else the
    // front kernel writes them to the scratch first.
    static_assert(kWarpSize == 32, "prep_fused counts 32 lanes");
    const bool fused = prep_fused(p.x, p.x_stride, p.Dk, static_cast<int>(sizeof(Act)));
    if (!fused) {
        dim3 grid(static_cast<unsigned>((p.T + kFrontTokens - 1) / kFrontTokens), p.H);
        gdn_rt::Error e = p.Dk <= 128
                              ? gdn_rt::launch(gdn_qk_front_kernel<Act, 8>, grid, dim3(kPrefillThreads), 0, on, q)
                              : gdn_rt::launch(gdn_qk_front_kernel<Act, 16>, grid, dim3(kPrefillThreads), 0, on, q);
        if (e != gdn_rt::kSuccess) return e;
    }
    if (plan.nchunks > 0) {
        const size_t smem = prep_smem_bytes(p.Dk, exact, fused);
        auto kernel = fused ? gdn_chunk_prep_kernel<Act, true> : gdn_chunk_prep_kernel<Act, false>;
        gdn_rt::Error e = gdn_rt::set_max_dynamic_smem(kernel, static_cast<int>(smem));
        if (e != gdn_rt::kSuccess) return e;
        dim3 grid(static_cast<unsigned>(plan.nchunks), p.HV / plan.prep_heads);
        e = gdn_rt::launch(kernel, grid, dim3(kPrefillThreads), smem, on, q);
        if (e != gdn_rt::kSuccess) return e;
    }
    return p.Dk == 128 ? launch_seq_dvs<Act, 128>(q, plan.dvs, plan.seq_one_wave, on)
                       : launch_seq_dvs<Act, 0>(q, plan.dvs, plan.seq_one_wave, on);
}

template <typename Act, int NV4, int RPW>
gdn_rt::Error launch_decode_cfg(GdnParams p, gdn_rt::LaunchOn on) {
    constexpr int rows = kDecodeWarps * RPW;
    p.nsplit = p.Dv / rows;
    p.launch_overlaps = on.overlap_previous;
    dim3 grid(p.nsplit, p.HV, p.B);
    return gdn_rt::launch(gdn_decode_kernel<Act, NV4, RPW>, grid, dim3(kDecodeThreads), 0, on, p);
}

// The decode kernel overlaps the kernel before it in the stream where the plan says so
// (LaunchPlan::overlap_launches). The extend kernels do not: blocks placed while the previous
// kernel drains land on the SMs that free first, several to an SM where they fit, and a launch of
// few long blocks then runs slower (the prefill of one 32768-token request, whose sequential pass
// is 128 blocks, one per SM in order; 16 x 4096 gained nothing; docs/performance-cuda.md).
template <typename Act>
gdn_rt::Error launch_forward(const GdnParams& p, const LaunchPlan& plan, gdn_rt::Stream s) {
    const gdn_rt::LaunchOn on{s, plan.overlap_launches}, in_order{s, false};
    gdn_rt::Error e = gdn_rt::kSuccess;
    if (plan.decode) {
        const bool wide = p.Dk > 128;
        switch (plan.decode_rpw) {
            case 8: e = wide ? launch_decode_cfg<Act, 2, 8>(p, on) : launch_decode_cfg<Act, 1, 8>(p, on); break;
            case 4: e = wide ? launch_decode_cfg<Act, 2, 4>(p, on) : launch_decode_cfg<Act, 1, 4>(p, on); break;
            default: e = wide ? launch_decode_cfg<Act, 2, 2>(p, on) : launch_decode_cfg<Act, 1, 2>(p, on); break;
        }
        if (e != gdn_rt::kSuccess) return e;
    }
    if (plan.extend)
        e = plan.extend_rpw ? launch_recurrent<Act>(p, plan.extend_rpw, in_order)
                            : launch_prefill<Act>(p, plan, in_order);
    return e;
}

}  // namespace
}  // namespace gdn_gpu

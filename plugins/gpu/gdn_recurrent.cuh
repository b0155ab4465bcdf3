// Extend, token by token: the decode step applied to every token of a request in order, with
// the CTA's slice of the state held in registers for the whole request.
//
// For devices whose shared memory per block cannot hold the chunked prefill's working set
// (prep_smem()/seq_smem() in gdn_prefill.cuh): with 64 KiB of LDS per work-group, as on every
// AMD GPU a HIP 5.2 build targets and on gfx942/gfx1100, the chunked kernels fit only bf16/f16
// with Dk <= 96 and f32 with Dk = 16 (bf16, Dk = 128: 73 KB / 75 KB). This kernel needs ~17 KiB
// for any Dk <= 256.
// The arithmetic per token is that of gdn_decode_kernel (same order of operations), so the two
// agree to rounding with each other; against the chunked kernel they agree within the layer's
// tolerances (the chunked form reassociates sums).
//
// Grid (Dv / (8 RPW), HV, B); 8 warps, warp w owns state rows [v0 + w RPW, v0 + (w+1) RPW).
// Tokens go in blocks of 8: first each warp computes conv + SiLU + L2 norm + gates of one token
// of the block into shared memory (parallel), then every warp runs the 8 state updates of its own
// rows in order, which needs only reductions inside the warp (no block barrier per token).
// Requests of length 0 and 1 are left alone (1: gdn_decode_kernel).
#pragma once

#include "gdn_common.cuh"

namespace gdn_gpu {
// Kernels and their launchers have internal linkage: each plugin translation unit owns its copies.
namespace {

constexpr int kRecurrentThreads = 256;
constexpr int kRecurrentWarps = kRecurrentThreads / kWarpSize;
constexpr int kRecurrentBlock = kRecurrentWarps;  // tokens per block: one per warp
constexpr int kRecurrentMaxDk = 256;

// NV4: float4 pieces of a state row per lane (1 for Dk <= 128, 2 for Dk <= 256).
// RPW: state rows per warp (rows per CTA = 8 * RPW).
template <typename Act, int NV4, int RPW>
__global__ void __launch_bounds__(kRecurrentThreads) gdn_recurrent_kernel(GdnParams p) {
    wait_previous_grid();  // before any global memory access (overlapped launches)
    allow_next_grid();
    constexpr int kRows = kRecurrentWarps * RPW;
    constexpr int kTB = kRecurrentBlock;
    __shared__ __align__(16) float s_qk[kTB][2 * kRecurrentMaxDk];  // normalized q | k per token
    __shared__ float s_v[kTB][kRows];
    __shared__ float s_g[kTB], s_beta[kTB];
    __shared__ int s_flag;

    const int r = blockIdx.z, hv = blockIdx.y, tile = blockIdx.x;
    const int64_t start = p.cu[r], end = p.cu[r + 1];
    const int64_t len = end - start;
    if (len < 2) return;
    const int warp = threadIdx.x / kWarpSize, lane = lane_in_warp();
    const int Dk = p.Dk, Dv = p.Dv;
    const int v0 = tile * kRows;
    const int64_t slot = p.slots[r];
    const int64_t out_ld = static_cast<int64_t>(p.HV) * Dv;
    Act* out = static_cast<Act*>(p.out) + static_cast<int64_t>(hv) * Dv + v0;

    if (slot == p.padding_slot) {
        for (int64_t i = threadIdx.x; i < len * kRows; i += kRecurrentThreads)
            out[(start + i / kRows) * out_ld + i % kRows] = from_f32<Act>(0.0f);
        return;
    }

    float* srow0 = p.state + slot * p.state_stride + (static_cast<int64_t>(hv) * Dv + v0 + warp * RPW) * Dk;
    float4 s[RPW][NV4];
    const int nv4 = Dk / 4;
    load_state_rows(s, srow0, Dk, lane);

    const int h = hv / p.gva;
    Act* cs = static_cast<Act*>(p.conv_state) + slot * p.conv_stride;
    const int qch = h * Dk, kch = p.H * Dk + h * Dk, vch = 2 * p.H * Dk + hv * Dv + v0;
    const float qnorm = rsqrtf(static_cast<float>(Dk));
    const float A_log = p.A_log[hv], dt_bias = p.dt_bias[hv];
    const Act* xa = static_cast<const Act*>(p.a);
    const Act* xb = static_cast<const Act*>(p.b);

    for (int64_t t0 = start; t0 < end; t0 += kTB) {
        const int nt = static_cast<int>(end - t0 < kTB ? end - t0 : kTB);
        __syncthreads();  // the previous block's readers of s_qk, s_v and the gates are done

        // ---- warp w: conv + SiLU + norms + gates of token t0 + w (old conv state only read) ----
        if (warp < nt) {
            const int64_t tt = t0 + warp;
            float* qk = s_qk[warp];
            float sq = 0.f, sk = 0.f;
            for (int c = lane; c < 2 * Dk; c += kWarpSize) {
                const int ch = c < Dk ? qch + c : kch + (c - Dk);
                const float y = conv_silu<Act>(p, cs, start, tt, ch);
                qk[c] = y;
                if (c < Dk)
                    sq += y * y;
                else
                    sk += y * y;
            }
            sq = warp_sum(sq);
            sk = warp_sum(sk);
            const float qs = rsqrtf(sq + 1e-6f) * qnorm, ks = rsqrtf(sk + 1e-6f);
            for (int c = lane; c < 2 * Dk; c += kWarpSize) qk[c] *= c < Dk ? qs : ks;  // own entries only
            for (int c = lane; c < kRows; c += kWarpSize) s_v[warp][c] = conv_silu<Act>(p, cs, start, tt, vch + c);
            if (lane == 0) {
                s_g[warp] = gate_g(to_f32(xa[tt * p.a_stride + hv]), A_log, dt_bias);
                s_beta[warp] = gate_beta(to_f32(xb[tt * p.b_stride + hv]));
            }
        }
        __syncthreads();

        // ---- the block's state updates, in token order, each warp on its own rows ----
        for (int tb = 0; tb < nt; ++tb) {
            const float* qp = s_qk[tb];
            const float* kp = s_qk[tb] + Dk;
            float4 kk[NV4], qq[NV4];
            float kq = 0.f;
#pragma unroll
            for (int j = 0; j < NV4; ++j) {
                const int c = lane + j * kWarpSize;
                if (c < nv4) {
                    kk[j] = make_float4(kp[4 * c], kp[4 * c + 1], kp[4 * c + 2], kp[4 * c + 3]);
                    qq[j] = make_float4(qp[4 * c], qp[4 * c + 1], qp[4 * c + 2], qp[4 * c + 3]);
                } else {
                    kk[j] = make_float4(0.f, 0.f, 0.f, 0.f);
                    qq[j] = kk[j];
                }
                kq += kk[j].x * qq[j].x + kk[j].y * qq[j].y + kk[j].z * qq[j].z + kk[j].w * qq[j].w;
            }
            kq = warp_sum(kq);
            const float decay = expf(s_g[tb]), beta = s_beta[tb];
            Act* orow = out + (t0 + tb) * out_ld;
#pragma unroll
            for (int i = 0; i < RPW; ++i) {
                float dk = 0.f, dq = 0.f;
#pragma unroll
                for (int j = 0; j < NV4; ++j) {
                    dk += s[i][j].x * kk[j].x + s[i][j].y * kk[j].y + s[i][j].z * kk[j].z + s[i][j].w * kk[j].w;
                    dq += s[i][j].x * qq[j].x + s[i][j].y * qq[j].y + s[i][j].z * qq[j].z + s[i][j].w * qq[j].w;
                }
                dk = warp_sum(dk);
                dq = warp_sum(dq);
                const int row = warp * RPW + i;
                const float u = beta * (s_v[tb][row] - decay * dk);
#pragma unroll
                for (int j = 0; j < NV4; ++j) {
                    s[i][j].x = fmaf(decay, s[i][j].x, u * kk[j].x);
                    s[i][j].y = fmaf(decay, s[i][j].y, u * kk[j].y);
                    s[i][j].z = fmaf(decay, s[i][j].z, u * kk[j].z);
                    s[i][j].w = fmaf(decay, s[i][j].w, u * kk[j].w);
                }
                if (lane == 0) orow[row] = from_f32<Act>(fmaf(decay, dq, u * kq));
            }
        }
    }

    // ---- every read of the old conv state is done: the CTA's v channels, then q/k by the last CTA ----
    const bool last = last_arrival(p.counters + static_cast<int64_t>(r) * p.H + h, p.gva * p.nsplit, &s_flag);
    for (int c = threadIdx.x; c < kRows; c += kRecurrentThreads) write_conv_state<Act>(p, cs, start, end, vch + c);
    if (last)
        for (int c = threadIdx.x; c < 2 * Dk; c += kRecurrentThreads)
            write_conv_state<Act>(p, cs, start, end, c < Dk ? qch + c : kch + (c - Dk));

#pragma unroll
    for (int i = 0; i < RPW; ++i)
#pragma unroll
        for (int j = 0; j < NV4; ++j) {
            const int c = lane + j * kWarpSize;
            if (c < nv4) reinterpret_cast<float4*>(srow0 + static_cast<int64_t>(i) * Dk)[c] = s[i][j];
        }
}

template <typename Act, int NV4, int RPW>
gdn_rt::Error launch_recurrent_cfg(GdnParams p, gdn_rt::LaunchOn on) {
    constexpr int rows = kRecurrentWarps * RPW;
    p.nsplit = p.Dv / rows;
    dim3 grid(p.nsplit, p.HV, p.B);
    return gdn_rt::launch(gdn_recurrent_kernel<Act, NV4, RPW>, grid, dim3(kRecurrentThreads), 0, on, p);
}

// Rows per CTA of the recurrent kernel for `rpw` state rows per warp: 8 * rpw; Dv must be a
// multiple. The host picks rpw (1, 2 or 4): fewer rows per CTA give more CTAs to few requests.
inline int recurrent_rows_per_cta(int rpw) { return kRecurrentWarps * rpw; }

// Runs the requests of length >= 2 (the others are left alone). Dk <= 256, multiple of 4.
template <typename Act>
gdn_rt::Error launch_recurrent(const GdnParams& p, int rpw, gdn_rt::LaunchOn on) {
    const bool wide = p.Dk > 128;
    switch (rpw) {
        case 4: return wide ? launch_recurrent_cfg<Act, 2, 4>(p, on) : launch_recurrent_cfg<Act, 1, 4>(p, on);
        case 2: return wide ? launch_recurrent_cfg<Act, 2, 2>(p, on) : launch_recurrent_cfg<Act, 1, 2>(p, on);
        default: return wide ? launch_recurrent_cfg<Act, 2, 1>(p, on) : launch_recurrent_cfg<Act, 1, 1>(p, on);
    }
}

}  // namespace
}  // namespace gdn_gpu

// Decode: one token per request, the whole layer step in one launch, in place in the pool.
// Grid (Dv tiles, HV, B); a CTA owns rows [v0, v0 + 8*RPW) of one request's value head hv.
// Requests whose length is not 1 are left to the prefill kernel (mixed batches).
#pragma once

#include "gdn_common.cuh"

namespace gdn_gpu {
// Kernels and their launchers have internal linkage: each plugin translation unit owns its copies.
namespace {

constexpr int kDecodeThreads = 256;
constexpr int kDecodeWarps = kDecodeThreads / kWarpSize;

// NV4: float4 pieces of a state row per lane (1 for Dk <= 128, 2 for Dk <= 256).
// RPW: state rows per warp (rows per CTA = 8 * RPW).
// Resident blocks per SM, for more state loads in flight. Staged (Dk <= 128, 8 rows per warp, the
// batches that fill the GPU): the CTA's 32 KiB of state go to shared memory by asynchronous copies
// instead of registers, so that six CTAs share an SM (192 KiB of loads in flight): closer to the
// state floor than the state in registers with four CTAs (registers capped at 64) or with the
// compiler's own choice of three (docs/performance-cuda.md, "Measurements behind kernel
// choices"). Fewer rows per warp (small batches) keep the state in
// registers, four blocks; wider rows (NV4 = 2) hold twice the state: two blocks.
template <int NV4, int RPW>
struct DecodeStaged {
    static constexpr bool value = NV4 == 1 && RPW == 8;
};
template <int NV4, int RPW>
struct DecodeOccupancy {
    static constexpr int value = DecodeStaged<NV4, RPW>::value ? 6 : NV4 == 1 ? 4 : 2;
};

template <typename Act, int NV4, int RPW>
__global__ void __launch_bounds__(kDecodeThreads, (DecodeOccupancy<NV4, RPW>::value)) gdn_decode_kernel(GdnParams p) {
    constexpr int kRows = kDecodeWarps * RPW;
    constexpr bool STAGED = DecodeStaged<NV4, RPW>::value;
    // The CTA's state rows are contiguous: one bulk L2 prefetch reads them from DRAM in one
    // sequential stream before the threads' own loads, which then hit L2 (closer to the state
    // floor at large batches: docs/performance-cuda.md).
    auto rows_of = [&](int64_t slot) {
        return p.state + slot * p.state_stride + (static_cast<int64_t>(blockIdx.y) * p.Dv + blockIdx.x * kRows) * p.Dk;
    };
    const uint32_t row_bytes = static_cast<uint32_t>(kRows * p.Dk * sizeof(float));
    int64_t prefetched = -1;  // thread 0: the slot whose rows are on their way to L2
    if (p.launch_overlaps && threadIdx.x == 0) {
        // The previous kernel may still be running, so nothing it writes may be used yet. Guess
        // the slot from a racy read of the request's length and slot and prefetch its rows while
        // that kernel drains: a wrong guess costs only the prefetch (L2 is coherent with the
        // previous kernel's writes), and everything is read again after the wait.
        const int rq = blockIdx.z;
        const int64_t len = load_racy(p.cu + rq + 1) - load_racy(p.cu + rq);
        const int64_t slot = load_racy(p.slots + rq);
        if (len == 1 && slot >= 0 && slot < p.num_slots && slot != p.padding_slot) {
            prefetch_l2(rows_of(slot), row_bytes);
            prefetched = slot;
        }
    }
    wait_previous_grid();  // before any other global memory access (overlapped launches)
    allow_next_grid();
    __shared__ __align__(16) float4 s_rows[STAGED ? kRows * kWarpSize : 1];  // [row][Dk / 4]
    __shared__ float s_qk[2 * 256];
    __shared__ float s_v[kRows];
    __shared__ float s_part[kDecodeWarps][2];
    __shared__ float s_gate[2];
    __shared__ int s_flag;

    const int r = blockIdx.z, hv = blockIdx.y, tile = blockIdx.x;
    const int64_t start = p.cu[r];
    if (p.cu[r + 1] - start != 1) return;
    const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
    const int Dk = p.Dk, Dv = p.Dv;
    const int v0 = tile * kRows;
    const int64_t slot = p.slots[r];
    Act* out = static_cast<Act*>(p.out) + start * (static_cast<int64_t>(p.HV) * Dv) + static_cast<int64_t>(hv) * Dv;

    if (slot == p.padding_slot) {
        for (int i = threadIdx.x; i < kRows; i += kDecodeThreads) out[v0 + i] = from_f32<Act>(0.0f);
        return;
    }

    // Issue the state loads first: they are the bytes that matter.
    if (threadIdx.x == 0 && slot != prefetched) prefetch_l2(rows_of(slot), row_bytes);
    float* srow0 = p.state + slot * p.state_stride + (static_cast<int64_t>(hv) * Dv + v0 + warp * RPW) * Dk;
    float4 s[STAGED ? 1 : RPW][NV4];
    const int nv4 = Dk / 4;
    if constexpr (STAGED) {
        const float* rows = rows_of(slot);
        for (int i = threadIdx.x; i < kRows * nv4; i += kDecodeThreads) {
            const int row = i / nv4, c = i % nv4;
            cp_async16(&s_rows[row * kWarpSize + c], rows + static_cast<int64_t>(row) * Dk + 4 * c);
        }
        cp_async_commit();
    } else {
        load_state_rows(s, srow0, Dk, lane);
    }

    const int h = hv / p.gva;
    Act* cs = static_cast<Act*>(p.conv_state) + slot * p.conv_stride;
    const int qch = h * Dk, kch = p.H * Dk + h * Dk, vch = 2 * p.H * Dk + hv * Dv + v0;

    // conv + SiLU of this head's q, k and of the tile's v channels
    float sq = 0.f, sk = 0.f;
    for (int c = threadIdx.x; c < 2 * Dk + kRows; c += kDecodeThreads) {
        if (c < 2 * Dk) {
            const int ch = c < Dk ? qch + c : kch + (c - Dk);
            const float y = conv_silu<Act>(p, cs, start, start, ch);
            s_qk[c] = y;
            if (c < Dk)
                sq += y * y;
            else
                sk += y * y;
        } else {
            s_v[c - 2 * Dk] = conv_silu<Act>(p, cs, start, start, vch + (c - 2 * Dk));
        }
    }
    sq = warp_sum(sq);
    sk = warp_sum(sk);
    if (lane == 0) {
        s_part[warp][0] = sq;
        s_part[warp][1] = sk;
    }
    if (threadIdx.x == 0) {
        const Act* a = static_cast<const Act*>(p.a);
        const Act* b = static_cast<const Act*>(p.b);
        s_gate[0] = gate_g(to_f32(a[start * p.a_stride + hv]), p.A_log[hv], p.dt_bias[hv]);
        s_gate[1] = gate_beta(to_f32(b[start * p.b_stride + hv]));
    }
    if constexpr (STAGED) cp_async_wait_all();
    __syncthreads();  // every read of the old conv state has returned (and the staged state landed)
    int* counter = p.counters + static_cast<int64_t>(r) * p.H + h;
    const int arrived_before = arrive(counter);  // its round trip overlaps the state update

    float tq = 0.f, tk = 0.f;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) {
        tq += s_part[w][0];
        tk += s_part[w][1];
    }
    const float qscale = rsqrtf(tq + 1e-6f) * rsqrtf(static_cast<float>(Dk));
    const float kscale = rsqrtf(tk + 1e-6f);
    const float g = s_gate[0], beta = s_gate[1];
    const float decay = expf(g);

    float4 kk[NV4], qq[NV4];
    float kq = 0.f;
#pragma unroll
    for (int j = 0; j < NV4; ++j) {
        const int c = lane + j * kWarpSize;
        if (c < nv4) {
            const float* kp = s_qk + Dk + 4 * c;
            const float* qp = s_qk + 4 * c;
            kk[j] = make_float4(kp[0] * kscale, kp[1] * kscale, kp[2] * kscale, kp[3] * kscale);
            qq[j] = make_float4(qp[0] * qscale, qp[1] * qscale, qp[2] * qscale, qp[3] * qscale);
        } else {
            kk[j] = make_float4(0.f, 0.f, 0.f, 0.f);
            qq[j] = kk[j];
        }
        kq += kk[j].x * qq[j].x + kk[j].y * qq[j].y + kk[j].z * qq[j].z + kk[j].w * qq[j].w;
    }
    kq = warp_sum(kq);

#pragma unroll
    for (int i = 0; i < RPW; ++i) {
        float4 si[NV4];
#pragma unroll
        for (int j = 0; j < NV4; ++j) {
            const int c = lane + j * kWarpSize;
            if constexpr (STAGED)
                si[j] = c < nv4 ? s_rows[(warp * RPW + i) * kWarpSize + c] : make_float4(0.f, 0.f, 0.f, 0.f);
            else
                si[j] = s[i][j];
        }
        float dk = 0.f, dq = 0.f;
#pragma unroll
        for (int j = 0; j < NV4; ++j) {
            dk += si[j].x * kk[j].x + si[j].y * kk[j].y + si[j].z * kk[j].z + si[j].w * kk[j].w;
            dq += si[j].x * qq[j].x + si[j].y * qq[j].y + si[j].z * qq[j].z + si[j].w * qq[j].w;
        }
        dk = warp_sum(dk);
        dq = warp_sum(dq);
        const int row = warp * RPW + i;
        const float u = beta * (s_v[row] - decay * dk);
        float4* dst = reinterpret_cast<float4*>(srow0 + static_cast<int64_t>(i) * Dk);
#pragma unroll
        for (int j = 0; j < NV4; ++j) {
            const int c = lane + j * kWarpSize;
            if (c < nv4) {
                float4 n;
                n.x = fmaf(decay, si[j].x, u * kk[j].x);
                n.y = fmaf(decay, si[j].y, u * kk[j].y);
                n.z = fmaf(decay, si[j].z, u * kk[j].z);
                n.w = fmaf(decay, si[j].w, u * kk[j].w);
                dst[c] = n;
            }
        }
        if (lane == 0) out[v0 + row] = from_f32<Act>(fmaf(decay, dq, u * kq));
    }
    // Conv state last: the v channels are this CTA's own; the q/k channels go to the group's last
    // CTA. The counter is incremented right after the first barrier, not here: waiting for its
    // round trip at the end would keep each CTA resident longer with no state loads in flight.
    const bool last = arrived_last(arrived_before, counter, p.gva * p.nsplit, &s_flag);
    for (int c = threadIdx.x; c < kRows; c += kDecodeThreads) write_conv_state<Act>(p, cs, start, start + 1, vch + c);
    if (last)
        for (int c = threadIdx.x; c < 2 * Dk; c += kDecodeThreads)
            write_conv_state<Act>(p, cs, start, start + 1, c < Dk ? qch + c : kch + (c - Dk));
}

}  // namespace
}  // namespace gdn_gpu

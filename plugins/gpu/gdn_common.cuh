// Shared pieces of the GDN kernels: the launch parameters and the per-element math of the layer
// (conv taps, SiLU, gates). The golden vectors' README (golden/README.md) defines the exact function.
#pragma once

#include "gdn_plan.hpp"  // ChunkDesc, LaunchPlan
#include "vendor.cuh"

namespace gdn_gpu {

// Everything a kernel needs, by value. Element strides; all index tensors live on the device.
struct GdnParams {
    const void* x;         // mixed_qkv [T, conv_dim], row stride x_stride
    const void* a;         // [T, HV], row stride a_stride
    const void* b;         // [T, HV], row stride b_stride
    const void* conv_w;    // [conv_dim, Kc], packed
    const float* A_log;    // [HV]
    const float* dt_bias;  // [HV]
    const int64_t* cu;     // [B+1]
    const int64_t* slots;  // [B]
    float* state;          // [slots, HV, Dv, Dk], slot stride state_stride
    void* conv_state;      // [slots, conv_dim, Kc-1], slot stride conv_stride
    void* out;             // [T, HV*Dv], packed
    int* counters;         // [B*H], zero between launches (see last_arrival)
    // prefill scratch (token-indexed; see gdn_prefill.cuh)
    void* qk;                        // [T, H, 2*Dk] normalized q̂ | k̂ (f16, or f32 for f32 activations)
    void* tmat;                      // [T, HV, 64] rows of T = (I + A)^-1 of each token's chunk
    void* qkm;                       // [T, HV, 64] rows of lower(Q Kᵀ ⊙ exp(γ_r - γ_s))
    float4* gates;                   // [T, HV] (exp γ, exp(Γ - γ), β, 0)
    const struct ChunkDesc* chunks;  // prefill chunks of all extend requests
    int64_t T;
    int64_t x_stride, a_stride, b_stride, state_stride, conv_stride;
    int64_t padding_slot;
    int64_t num_slots;  // slots of the pool (recurrent_state's first dimension)
    int B, H, HV, Dk, Dv, Kc, conv_dim, gva;
    int nsplit;           // CTAs per (request, value head) along Dv
    int seq_kbufs;        // k̂ buffers of the sequential prefill kernel (LaunchPlan::seq_kbufs)
    int seq_sbufs;        // q̂ / raw v, T and QKm buffers of the sequential prefill (LaunchPlan::seq_sbufs)
    int x_vec16;          // x and its row stride 16-byte aligned: rows copy in 16-byte pieces
    int prep_heads;       // value heads per block of the prefill prep kernel (LaunchPlan::prep_heads)
    int launch_overlaps;  // launched to overlap the previous kernel (gdn_rt::LaunchOn::overlap_previous)
};

// Two adjacent activations in one store; p must be aligned to 2 * sizeof(Act).
template <typename Act>
__device__ __forceinline__ void store_pair(Act* p, float a, float b) {
    struct alignas(2 * sizeof(Act)) Pair {
        Act x, y;
    };
    *reinterpret_cast<Pair*>(p) = Pair{from_f32<Act>(a), from_f32<Act>(b)};
}

__device__ __forceinline__ float silu(float c) { return c / (1.0f + expf(-c)); }

__device__ __forceinline__ float softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

// The smallest log decay a gate takes: exp(g) is exactly 0 in float and in double from about
// -745 on, so a smaller g means the same, and a finite floor keeps the chunk's sums and
// differences of g (exp(γ_r - γ_s)) away from -inf - -inf = NaN. Same value as the CPU backend's.
constexpr float kMinLogDecay = -1000.0f;

// g = -exp(A_log) * softplus(a + dt_bias), at least kMinLogDecay. A finite product is used as it
// is. A product of -inf or NaN means a factor left float's range (expf(A_log) is inf from
// A_log = 89 on; a + dt_bias can overflow; inf * 0 is NaN) while the true g may be moderate: that
// rare path recomputes in double, where only exp(A_log) = inf with softplus(x) = 0 remains, and
// that product is exp(A_log + log softplus(x)) = exp(A_log + x).
__device__ __forceinline__ float gate_g(float a, float A_log, float dt_bias) {
    float g = -expf(A_log) * softplus(a + dt_bias);
    if (!(g >= -3.402823466e38f)) {
        const double x = static_cast<double>(a) + static_cast<double>(dt_bias);
        const double sp = x > 20.0 ? x : log1p(exp(x));
        double gd = -exp(static_cast<double>(A_log)) * sp;
        if (gd != gd) gd = -exp(static_cast<double>(A_log) + x);
        g = gd < kMinLogDecay ? kMinLogDecay : static_cast<float>(gd);
    }
    return g < kMinLogDecay ? kMinLogDecay : g;
}
__device__ __forceinline__ float gate_beta(float b) { return 1.0f / (1.0f + expf(-b)); }

// The conv input of channel ch at absolute row tt of a request starting at `start`:
// rows before the request come from the slot's conv state (oldest first).
template <typename Act>
__device__ __forceinline__ float conv_input(const GdnParams& p, const Act* cs_slot, int64_t start, int64_t tt, int ch) {
    if (tt >= start) return to_f32(static_cast<const Act*>(p.x)[tt * p.x_stride + ch]);
    const int km1 = p.Kc - 1;
    return to_f32(cs_slot[static_cast<int64_t>(ch) * km1 + (km1 + (tt - start))]);
}

// SiLU(conv) of channel ch at row t.
template <typename Act>
__device__ __forceinline__ float conv_silu(const GdnParams& p, const Act* cs_slot, int64_t start, int64_t t, int ch) {
    const Act* w = static_cast<const Act*>(p.conv_w) + static_cast<int64_t>(ch) * p.Kc;
    float acc = 0.0f;
    for (int m = 0; m < p.Kc; ++m)
        acc = fmaf(to_f32(w[m]), conv_input<Act>(p, cs_slot, start, t - (p.Kc - 1) + m, ch), acc);
    return silu(acc);
}

// Conv input at absolute row tt of channel ch; zero outside [start-(Kc-1), end).
template <typename Act>
__device__ __forceinline__ float conv_in_guarded(const GdnParams& p, const Act* cs, int64_t start, int64_t end,
                                                 int64_t tt, int ch) {
    if (tt >= end || tt < start - (p.Kc - 1)) return 0.f;
    return conv_input<Act>(p, cs, start, tt, ch);
}

// Writes the new conv state of channel ch for a request [start, end): the last Kc-1 inputs,
// older state kept when the request is shorter. Only the owner of the channel calls this,
// after every reader of the old state is done; j ascending reads old[j+len] before writing it.
template <typename Act>
__device__ __forceinline__ void write_conv_state(const GdnParams& p, Act* cs_slot, int64_t start, int64_t end, int ch) {
    const int km1 = p.Kc - 1;
    const int64_t len = end - start;
    Act* s = cs_slot + static_cast<int64_t>(ch) * km1;
    for (int j = 0; j < km1; ++j) {
        const int64_t tt = end - km1 + j;
        Act v = tt >= start ? static_cast<const Act*>(p.x)[tt * p.x_stride + ch] : s[j + len];
        s[j] = v;
    }
}

// Each key head's q/k conv-state channels are read by every CTA of its (request, key head)
// group; the last CTA of the group to finish reading writes them. In two steps, so that the
// counter's round trip can overlap the CTA's work: `arrive` (thread 0's atomic, issued by every
// thread after a barrier that follows the CTA's last read of the old conv state; returns the
// previous count in thread 0) and `arrived_last` (all threads; true in the group's last CTA).
__device__ __forceinline__ int arrive(int* counter) {
    // The CTA's reads of the old state have returned (their values are in use); the writes of
    // the last arrival come after it has seen every other CTA's increment.
    return threadIdx.x == 0 ? atomic_add(counter, 1) : 0;
}
__device__ __forceinline__ bool arrived_last(int prev, int* counter, int group_size, int* smem_flag) {
    if (threadIdx.x == 0) {
        const bool last = prev == group_size - 1;
        if (last) {
            fence_device();
            *counter = 0;  // ready for the next launch (or graph replay)
        }
        *smem_flag = last ? 1 : 0;
    }
    __syncthreads();
    return *smem_flag != 0;
}
// Both steps at once, after the CTA's last read of the old conv state.
__device__ __forceinline__ bool last_arrival(int* counter, int group_size, int* smem_flag) {
    __syncthreads();
    return arrived_last(arrive(counter), counter, group_size, smem_flag);
}

// The recurrent-state rows a warp owns in the token-by-token kernels (decode, recurrent extend):
// RPW rows of Dk floats from `rows` (row i at rows + i * Dk), in registers as float4, lane-major
// (lane + j * warp size); entries past Dk / 4 are zeros. One helper, so that both kernels hold
// the state in the same layout (each writes it back in that layout after its own update).
template <int RPW, int NV4>
__device__ __forceinline__ void load_state_rows(float4 (&s)[RPW][NV4], const float* rows, int Dk, int lane) {
    const int nv4 = Dk / 4;
#pragma unroll
    for (int i = 0; i < RPW; ++i)
#pragma unroll
        for (int j = 0; j < NV4; ++j) {
            const int c = lane + j * kWarpSize;
            s[i][j] = c < nv4 ? reinterpret_cast<const float4*>(rows + static_cast<int64_t>(i) * Dk)[c]
                              : make_float4(0.f, 0.f, 0.f, 0.f);
        }
}

}  // namespace gdn_gpu

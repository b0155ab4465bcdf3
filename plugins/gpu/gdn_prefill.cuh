// Prefill (extend): three kernels, the first two fully parallel, the third sequential over the
// chunks of a request but split along Dv.
//
//   1. gdn_qk_front_kernel  (token, key head): causal conv + SiLU + L2 norm of q and k
//                           -> scratch q̂ | k̂ (f16; f32 for f32 activations); where a lane's
//                           16 bytes cover a key head's channels the prep kernel does this itself
//                           for its chunk (1b) and this kernel is not launched
//   2. gdn_chunk_prep_kernel (chunk, key head's value heads): gates, γ (chunk-local cumulative log
//                           decay, in double), A = strict_lower(β K Kᵀ ⊙ exp(γ_r - γ_s)),
//                           T = (I + A)^-1 (16x16 diagonal blocks by forward substitution, then
//                           the blocks below on tensor cores, f32 accuracy),
//                           QKm = lower(Q Kᵀ ⊙ exp(γ_r - γ_s)) -> scratch, token-indexed
//   3. gdn_chunk_seq_kernel (request, value head, Dv slice): conv + SiLU of its v channels, then
//                           per chunk, with its slice of S (DVS x Dk, f32) in shared memory and
//                           the next chunk's inputs in flight (CUDA: staged by producer warps; see
//                           the section):
//        Y = diag(β) (V - diag(exp γ) K S0ᵀ)       (so Δ = T Y = U - W S0ᵀ, no W needed)
//        Δ = T Y
//        O = diag(exp γ) Q S0ᵀ + QKm Δ
//        S = exp(Γ) S0 + (diag(exp(Γ - γ)) Δ)ᵀ K
// Every exponent is of a non-positive number, computed from differences of double prefix sums.
// State rows are independent along Dv, so one long request still gets HV x Dv/DVS CTAs; the
// Dv-independent work (1, 2) is done once, in parallel, not per slice.
//
// Precision: f32 accumulation everywhere, the recurrent state kept in f32. bf16/f16 activations:
// q̂, k̂, T and QKm stored as f16 (q̂, k̂, QKm in [-1, 1]), and the sequential pass multiplies in
// f16 (m16n8k16) with f16 copies of the state, Y and Δ, rounded to nearest (2^-11 relative, as
// fine as the tf32 products these replaced; their range, |x| < 65504, is the one limit they add);
// the prep kernel's T inversion runs in 3xTF32. f32 activations: f32 scratch and 3xTF32 products.
#pragma once

#include <type_traits>

#include "gdn_mma.cuh"

namespace gdn_gpu {
// Kernels and their launchers have internal linkage: each plugin translation unit owns its copies.
namespace {

constexpr int kPrefillThreads = 256;
constexpr int kPrefillWarps = kPrefillThreads / kWarpSize;
constexpr int kChunk = 64;
static_assert(kChunk == kChunkTokens, "the host's chunk list (gdn_plan.hpp) and the kernels agree on the chunk");
constexpr int kLdC = kChunk + 4;   // row stride of f32 C x C matrices
constexpr int kLdCh = kChunk + 8;  // row stride of f16 C x C matrices

template <typename Act>
struct ScratchType {
    using type = f16;
};
template <>
struct ScratchType<float> {
    using type = float;
};

// ---- 1. q̂, k̂ ----------------------------------------------------------------------------------------
// A block owns 64 consecutive tokens of one key head; warp w the 8 tokens [8w, 8w + 8), walked
// in order with the conv taps in registers and a sliding window of the last 3 inputs (reset at
// every request start from the slot's conv state). Lane l owns channels l + 32 j of q | k.
constexpr int kFrontTokens = 64;
constexpr int kFrontRowsPerWarp = kFrontTokens / kPrefillWarps;

// SiLU with the approximate exponential and division: e^-c = 2^(-c log2 e), flushed to 0 where it
// is subnormal (c > 87: the quotient is c either way); e^-c = inf (c < -88) gives 0.
__device__ __forceinline__ float silu_fast(float c) {
    return __fdividef(c, 1.0f + exp2_approx_ftz(c * -1.4426950408889634f));
}

// Tap m (0..3) of channel ch's causal conv, right-aligned: tap 3 multiplies the current row, and
// the first 4 - Kc taps are 0.
template <typename Act>
__device__ __forceinline__ float conv_tap(const GdnParams& p, int64_t ch, int m) {
    const int src = m - (4 - p.Kc);
    return src >= 0 ? to_f32(static_cast<const Act*>(p.conv_w)[ch * p.Kc + src]) : 0.f;
}

// The request of token row t: the last r with cu[r] <= t (binary search over cu).
__device__ __forceinline__ int request_of_row(const GdnParams& p, int64_t t) {
    int lo = 0, hi = p.B - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (p.cu[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

template <typename Act, int QKPL>
__global__ void __launch_bounds__(kPrefillThreads) gdn_qk_front_kernel(GdnParams p) {
    wait_previous_grid();  // before any global memory access (overlapped launches)
    allow_next_grid();
    using KQ = typename ScratchType<Act>::type;
    const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
    const int h = blockIdx.y;
    const int64_t t0 = static_cast<int64_t>(blockIdx.x) * kFrontTokens + warp * kFrontRowsPerWarp;
    if (t0 >= p.T) return;
    int r = request_of_row(p, t0);
    int64_t start = p.cu[r], end = p.cu[r + 1];
    const Act* X = static_cast<const Act*>(p.x);
    const int Dk = p.Dk, qch = h * Dk, kch = p.H * Dk + h * Dk;
    int ch[QKPL];
    float w[QKPL][4], win[QKPL][3];
#pragma unroll
    for (int j = 0; j < QKPL; ++j) {
        const int cc = lane + j * kWarpSize;
        ch[j] = cc < Dk ? qch + cc : kch + (cc - Dk);
#pragma unroll
        for (int m = 0; m < 4; ++m) {
            w[j][m] = cc < 2 * Dk ? conv_tap<Act>(p, ch[j], m) : 0.f;
        }
    }
    const float qnorm = rsqrtf(static_cast<float>(Dk));
    bool window_ok = false;
    float xn[QKPL];  // the next row's inputs, loaded one row ahead
#pragma unroll
    for (int j = 0; j < QKPL; ++j) xn[j] = lane + j * kWarpSize < 2 * Dk ? to_f32(X[t0 * p.x_stride + ch[j]]) : 0.f;
    for (int ii = 0; ii < kFrontRowsPerWarp; ++ii) {
        const int64_t t = t0 + ii;
        if (t >= p.T) break;
        float xc[QKPL];
#pragma unroll
        for (int j = 0; j < QKPL; ++j) xc[j] = xn[j];
        if (ii + 1 < kFrontRowsPerWarp && t + 1 < p.T)
#pragma unroll
            for (int j = 0; j < QKPL; ++j)
                xn[j] = lane + j * kWarpSize < 2 * Dk ? to_f32(X[(t + 1) * p.x_stride + ch[j]]) : 0.f;
        while (t >= end) {  // next non-empty request
            ++r;
            start = end;
            end = p.cu[r + 1];
            window_ok = false;
        }
        const int64_t slot = p.slots[r];
        if (end - start < 2 || slot == p.padding_slot) {
            window_ok = false;
            continue;
        }  // decode / padding
        const Act* cs = static_cast<const Act*>(p.conv_state) + slot * p.conv_stride;
        if (!window_ok) {
#pragma unroll
            for (int j = 0; j < QKPL; ++j)
#pragma unroll
                for (int m = 0; m < 3; ++m)
                    win[j][m] =
                        lane + j * kWarpSize < 2 * Dk ? conv_in_guarded<Act>(p, cs, start, end, t - 3 + m, ch[j]) : 0.f;
            window_ok = true;
        }
        float y[QKPL];
        float sq = 0.f, sk = 0.f;
#pragma unroll
        for (int j = 0; j < QKPL; ++j) {
            const int cc = lane + j * kWarpSize;
            const float x = xc[j];
            const float c = w[j][0] * win[j][0] + w[j][1] * win[j][1] + w[j][2] * win[j][2] + w[j][3] * x;
            win[j][0] = win[j][1];
            win[j][1] = win[j][2];
            win[j][2] = x;
            const float v = silu_fast(c);
            y[j] = v;
            if (cc < Dk)
                sq += v * v;
            else if (cc < 2 * Dk)
                sk += v * v;
        }
        sq = warp_sum(sq);
        sk = warp_sum(sk);
        const float qs = rsqrtf(sq + 1e-6f) * qnorm, ks = rsqrtf(sk + 1e-6f);
        KQ* dst = static_cast<KQ*>(p.qk) + (t * p.H + h) * (2 * Dk);
#pragma unroll
        for (int j = 0; j < QKPL; ++j) {
            const int cc = lane + j * kWarpSize;
            if (cc < 2 * Dk) dst[cc] = static_cast<KQ>(y[j] * (cc < Dk ? qs : ks));
        }
    }
}

// A team of threads that stages a tile together: the block's first kPrefillThreads (Team{}) or
// one of the sequential pass's producer warps (its lanes).
struct Team {
    int rank = static_cast<int>(threadIdx.x);
    int size = kPrefillThreads;
};

// Calls f(row, piece) for every cell of a rows x pieces grid, the team's threads taking
// consecutive cells (cell i = row * pieces + piece on rank i mod size) and stepping by one team's
// worth without a division per step (the staging loops of both prefill kernels ran an integer
// division by a run-time width for every 16-byte piece).
template <class F>
__device__ __forceinline__ void for_each_piece(int rows, int pieces, F&& f, Team tm = {}) {
    const int step_r = tm.size / pieces, step_c = tm.size % pieces;
    int r = tm.rank / pieces, c = tm.rank % pieces;
    if (step_c == 0) {  // pieces divides the block (the usual widths): a thread keeps its piece
        for (; r < rows; r += step_r) f(r, c);
        return;
    }
    while (r < rows) {
        f(r, c);
        r += step_r;
        c += step_c;
        if (c >= pieces) {
            c -= pieces;
            ++r;
        }
    }
}

// Asynchronous 16-byte copies of a rows x pieces tile from global (row stride gld elements) into
// shared memory (row stride sld); rows from nvalid on are zero-filled instead. Where pieces divides
// the block, a thread keeps its piece and walks its rows by pointer increments: the per-piece index
// and 64-bit address arithmetic of the general walk cost ~20 instructions a copy, which counts at
// 16-wide slices, where every chunk stages k̂, q̂, T and QKm for 16 columns (the instruction counts:
// docs/performance-cuda.md, "Measurements behind kernel choices").
template <typename T>
__device__ __forceinline__ void copy_tile_async(T* s, int sld, const T* g, int64_t gld, int rows, int nvalid,
                                                int pieces, Team tm = {}) {
    constexpr int per = 16 / static_cast<int>(sizeof(T));
    if (tm.size % pieces == 0) {
        const int step = tm.size / pieces;
        int r = tm.rank / pieces;
        const int c = (tm.rank % pieces) * per;
        const T* gp = g + r * gld + c;
        T* sp = s + r * sld + c;
        const int64_t gstep = step * gld;
        const int sstep = step * sld;
        for (; r < rows; r += step, gp += gstep, sp += sstep) {
            if (r < nvalid)
                cp_async16(sp, gp);
            else
                *reinterpret_cast<float4*>(sp) = make_float4(0.f, 0.f, 0.f, 0.f);
        }
        return;
    }
    for_each_piece(
        rows, pieces,
        [&](int r, int pc) {
            const int c = pc * per;
            if (r < nvalid)
                cp_async16(s + r * sld + c, g + r * gld + c);
            else
                *reinterpret_cast<float4*>(s + r * sld + c) = make_float4(0.f, 0.f, 0.f, 0.f);
        },
        tm);
}

// Copies rows [0, n) of a (64 x cols) tile from global (row stride gld elements) into shared
// memory (row stride sld) with asynchronous copies, every piece in flight at once, and zeroes rows
// past n; 16-byte pieces, cols * sizeof(T) a multiple of 16. cp_async_wait_all() and a barrier
// before use.
template <typename T>
__device__ __forceinline__ void load_tile_async(T* s, int sld, const T* gsrc, int64_t gld, int n, int cols,
                                                Team tm = {}) {
    copy_tile_async(s, sld, gsrc, gld, kChunk, n, cols / (16 / static_cast<int>(sizeof(T))), tm);
}

// ---- 1b. q̂, k̂ of one chunk inside the prep kernel (FUSED) ------------------------------------------------
// Raw inputs of the chunk's rows (q channels into rq, k channels into rk, row stride ld; the three
// rows before the chunk into halo [3][2 Dk], from x or the slot's conv state) are staged, then
// warps compute q̂ | k̂ of the rows into oq | ok (zero rows past n; see below) and write them to the
// scratch too (with one value head per block, p.prep_heads = 1, the gva blocks of a key head each
// compute and store the same values). Ends with a barrier: oq | ok complete, the raw regions free.
template <typename Act, typename KQ>
__device__ __forceinline__ void front_into_smem(const GdnParams& p, const ChunkDesc& cd, int h, Act* rq, Act* rk,
                                                KQ* oq, KQ* ok, int ld, Act* halo) {
    constexpr int E = 16 / static_cast<int>(sizeof(Act));  // elements per 16-byte copy
    const int Dk = p.Dk, warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
    const int n = cd.n;
    const int64_t c0 = cd.c0, start = p.cu[cd.r], end = p.cu[cd.r + 1];
    const Act* X = static_cast<const Act*>(p.x);
    const int pieces = 2 * Dk / E;
    auto channel = [&](int c) { return c < Dk ? h * Dk + c : p.H * Dk + h * Dk + (c - Dk); };  // of q | k column c
    for_each_piece(n, pieces, [&](int j, int pc) {
        const int c = pc * E;
        cp_async16(c < Dk ? rq + j * ld + c : rk + j * ld + (c - Dk), X + (c0 + j) * p.x_stride + channel(c));
    });
    if (c0 - 3 >= start) {  // the three rows before the chunk are rows of x (FUSED: 16-byte aligned)
        for_each_piece(3, pieces, [&](int j, int pc) {
            const int c = pc * E;
            cp_async16(halo + j * 2 * Dk + c, X + (c0 - 3 + j) * p.x_stride + channel(c));
        });
    } else {  // the request's first chunk: the slot's conv state (or zeros) before the request
        const Act* cs = static_cast<const Act*>(p.conv_state) + p.slots[cd.r] * p.conv_stride;
        for (int i = threadIdx.x; i < 3 * 2 * Dk; i += kPrefillThreads) {
            const int j = i / (2 * Dk), c = i % (2 * Dk);
            halo[i] = from_f32<Act>(conv_in_guarded<Act>(p, cs, start, end, c0 - 3 + j, channel(c)));
        }
    }
    // Warps 0-3 compute q̂, warps 4-7 k̂, each 16 consecutive rows, lane l channels [4l, 4l + 4):
    // the warp walks its rows in order with a sliding window of the conv inputs (one load and
    // conversion per row), and the L2 norm is one warp reduction. (Lanes holding q | k at 8
    // channels each and loading all four taps per row spend a large share of the prep kernel's
    // instructions there, docs/performance-cuda.md; a window of 8 channels spills.)
    constexpr int CPL = 4;  // channels per lane
    static_assert(kPrefillWarps == 8 && kChunk % 4 == 0, "four warps per half, kChunk / 4 rows each");
    constexpr int ROWS = kChunk / 4;
    const bool is_q = warp < 4, active = lane * CPL < Dk;  // FUSED: Dk <= 128 (<= 4 x 32 channels)
    const int col = lane * CPL, r0 = (warp % 4) * ROWS;
    const int ch0 = (is_q ? 0 : p.H * Dk) + h * Dk + col;
    float w[CPL][4];
#pragma unroll
    for (int i = 0; i < CPL; ++i)
#pragma unroll
        for (int m = 0; m < 4; ++m) w[i][m] = active ? conv_tap<Act>(p, ch0 + i, m) : 0.f;
    const float qnorm = is_q ? rsqrtf(static_cast<float>(Dk)) : 1.0f;
    cp_async_wait_all();
    __syncthreads();
    const Act* raw = is_q ? rq : rk;
    const Act* hal = halo + (is_q ? 0 : Dk) + col;  // row j of the halo at hal + j * 2 Dk
    KQ* o = is_q ? oq : ok;
    const int64_t gld = static_cast<int64_t>(p.H) * (2 * Dk);                      // scratch row stride
    using Bits = typename std::conditional<sizeof(Act) == 2, uint2, uint4>::type;  // a lane's CPL values
    static_assert(sizeof(Bits) == CPL * sizeof(Act) && sizeof(KQ) == sizeof(Act), "CPL values in one piece");
    auto to_floats = [&](Bits bits, float* dst) {
        const Act* pe = reinterpret_cast<const Act*>(&bits);
#pragma unroll
        for (int i = 0; i < CPL; ++i) dst[i] = to_f32(pe[i]);
    };
    // Rows [r0, r0 + nr) are the warp's rows before n; pointers walk them (no per-row index math).
    const int nr = n - r0 < 0 ? 0 : (n - r0 < ROWS ? n - r0 : ROWS);
    const Act* rp = raw + r0 * ld + col;  // input row r0 + ii
    KQ* op = o + r0 * ld + col;           // output row r0 + ii, shared
    KQ* gp = static_cast<KQ*>(p.qk) + (c0 + r0) * gld + h * (2 * Dk) + (is_q ? 0 : Dk) + col;  // and scratch
    float win[4][CPL];  // win[3]: the current row
#pragma unroll
    for (int m = 1; m < 4; ++m) {
        const int j = r0 - 4 + m;  // j < 0: the halo
        Bits bits{};
        if (active) bits = *reinterpret_cast<const Bits*>(j < 0 ? hal + (j + 3) * 2 * Dk : raw + j * ld + col);
        to_floats(bits, win[m]);
    }
#pragma unroll
    for (int ii = 0; ii < ROWS; ++ii) {  // fully unrolled: the window's shifts are renames
        if (ii >= nr) break;             // warp-uniform
#pragma unroll
        for (int m = 0; m < 3; ++m)
#pragma unroll
            for (int i = 0; i < CPL; ++i) win[m][i] = win[m + 1][i];
        Bits bits{};
        if (active) bits = *reinterpret_cast<const Bits*>(rp);
        to_floats(bits, win[3]);
        float y[CPL];
        float ss = 0.f;
#pragma unroll
        for (int i = 0; i < CPL; ++i) {
            const float c = w[i][0] * win[0][i] + w[i][1] * win[1][i] + w[i][2] * win[2][i] + w[i][3] * win[3][i];
            y[i] = silu_fast(c);
            ss += y[i] * y[i];
        }
        const float scale = rsqrt_approx_ftz(warp_sum(ss) + 1e-6f) * qnorm;  // inactive lanes add 0
        if (active) {
            Bits packed;
            KQ* pk = reinterpret_cast<KQ*>(&packed);
#pragma unroll
            for (int i = 0; i < CPL; ++i) pk[i] = from_f32<KQ>(y[i] * scale);
            *reinterpret_cast<Bits*>(op) = packed;
            *reinterpret_cast<Bits*>(gp) = packed;
        }
        rp += ld;
        op += ld;
        gp += gld;
    }
    if (active)  // rows past n are not staged (nor read by a row before n): zero outputs
        for (int ii = nr; ii < ROWS; ++ii) *reinterpret_cast<Bits*>(o + (r0 + ii) * ld + col) = Bits{};
    __syncthreads();
}

// ---- 2. per chunk and value head: gates, T, QKm ---------------------------------------------------------
struct PrepSmem {
    int ldkq;
    size_t off_k, off_q, off_a, off_t, off_qk, off_misc, total;
};
__host__ __device__ inline size_t align16(size_t x) { return (x + 15) & ~static_cast<size_t>(15); }
// fused: the kernel computes q̂ and k̂ itself (gdn_chunk_prep_kernel<Act, true>); the q̂ | k̂ tiles
// and the A | T matrices then trade places, so all four regions take the larger size.
__host__ __device__ inline PrepSmem prep_smem(int Dk, bool exact, bool fused) {
    PrepSmem L{};
    L.ldkq = exact ? Dk + 4 : Dk + 8;
    size_t kq = static_cast<size_t>(kChunk) * L.ldkq * (exact ? 4 : 2);
    size_t cc = static_cast<size_t>(kChunk) * kLdC * 4;
    if (fused) kq = cc = kq > cc ? kq : cc;
    size_t o = 0;
    L.off_k = o;
    o = align16(o + kq);
    L.off_q = o;
    o = align16(o + kq);
    L.off_a = o;
    o = align16(o + cc);
    L.off_t = o;
    o = align16(o + cc);
    L.off_qk = o;  // QKm goes from registers to global memory
    // two heads' gates (γ double; β, fcol, frow[4] float), then the conv halo of 1b (3 rows of
    // 2 Dk activations, at most 3 x 512 bytes where FUSED applies)
    L.off_misc = o;
    o = align16(o + 2 * kChunk * 8 + 2 * 6 * kChunk * 4 + 3 * 512);
    L.total = o;
    return L;
}

// FUSED (16-byte rows of q | k channels per warp: x_vec16 and 2 Dk sizeof(Act) <= 512): the
// block first computes q̂, k̂ of its chunk from x as the front kernel would (causal conv + SiLU
// + L2 norm, 8 rows per warp, a lane's 16 bytes of channels), into shared memory for the products
// below and into the scratch for the sequential pass; the front kernel is not launched. This saves
// the reload of q̂ | k̂ from the scratch and a launch (the time saved: docs/performance-cuda.md,
// "Measurements behind kernel choices").
template <typename Act, bool FUSED>
__global__ void __launch_bounds__(kPrefillThreads, 3) gdn_chunk_prep_kernel(GdnParams p) {
    wait_previous_grid();  // before any global memory access (overlapped launches)
    allow_next_grid();
    constexpr bool EXACT = std::is_same<Act, float>::value;
    using KQ = typename ScratchType<Act>::type;
    constexpr int C = kChunk;
    extern __shared__ __align__(16) unsigned char smem[];
    const int Dk = p.Dk;
    const PrepSmem L = prep_smem(Dk, EXACT, FUSED);
    KQ* Ks = reinterpret_cast<KQ*>(smem + L.off_k);
    KQ* Qs = reinterpret_cast<KQ*>(smem + L.off_q);
    float* As = reinterpret_cast<float*>(smem + L.off_a);
    float* Ts = reinterpret_cast<float*>(smem + L.off_t);
    // Gates of a value head, double-buffered: the next head's are computed by an otherwise idle
    // warp while this head's T is inverted.
    double* gam2 = reinterpret_cast<double*>(smem + L.off_misc);  // [2][C]: γ, chunk-local cumsum
    float* bet2 = reinterpret_cast<float*>(gam2 + 2 * C);         // [2][C]: β
    float* fcol2 = bet2 + 2 * C;   // [2][C]: exp(γ_ref(s) - γ_s), ref(s) the last token of s's 16-block
    float* frow2 = fcol2 + 2 * C;  // [2][4][C]: exp(γ_r - γ_ref(block)) for r past that block
    Act* halo = reinterpret_cast<Act*>(frow2 + 8 * C);
    const int ldkq = L.ldkq;
    const int tid = threadIdx.x, warp = tid / kWarpSize, lane = tid % kWarpSize, g = lane >> 2, t = lane & 3;

    // A block owns p.prep_heads value heads of one key head (1, or all p.gva of them: q̂ and k̂
    // are then loaded once for the group).
    const ChunkDesc cd = p.chunks[blockIdx.x];
    const int hv0 = blockIdx.y * p.prep_heads, h = hv0 / p.gva, n = cd.n;
    const int64_t c0 = cd.c0;
    // Gates of value head hv into buffer b, by one warp, two tokens per lane: γ (chunk-local
    // inclusive cumsum of g in double; rows past n carry g = 0), β, the factors of the decays
    // below the diagonal blocks, and the (e^γ, e^(Γ-γ), β) rows of the scratch.
    auto head_gates = [&](int hv, int b) {
        double* gam = gam2 + b * C;
        float* bet = bet2 + b * C;
        float* fcol = fcol2 + b * C;
        float* frow = frow2 + b * 4 * C;
        const Act* xa = static_cast<const Act*>(p.a);
        const Act* xb = static_cast<const Act*>(p.b);
        double gv[2];
        float bv[2];
#pragma unroll
        for (int q = 0; q < 2; ++q) {
            const int i = 2 * lane + q;
            const bool valid = i < n;
            gv[q] = valid ? gate_g(to_f32(xa[(c0 + i) * p.a_stride + hv]), p.A_log[hv], p.dt_bias[hv]) : 0.0;
            bv[q] = valid ? gate_beta(to_f32(xb[(c0 + i) * p.b_stride + hv])) : 0.f;
            bet[i] = bv[q];
        }
        double s = gv[0] + gv[1];
#pragma unroll
        for (int o = 1; o < kWarpSize; o <<= 1) {
            const double u = warp_up(s, o);
            if (lane >= o) s += u;
        }
        const double G = warp_bcast(s, kWarpSize - 1);
        const double e[2] = {s - gv[1], s};
        gam[2 * lane] = e[0];
        gam[2 * lane + 1] = e[1];
        // Factors of the decays exp(γ_r - γ_s) of the tiles below the diagonal blocks (r in a
        // later 16-block than s): exp(γ_r - γ_ref) exp(γ_ref - γ_s) with ref the last token of
        // s's block, both exponents <= 0 (γ falls), so neither factor overflows; 10 exponentials
        // per lane instead of one per element.
#pragma unroll
        for (int bl = 0; bl < 4; ++bl) {
            const double ref = warp_bcast(s, 8 * bl + 7);  // γ of token 16 bl + 15
#pragma unroll
            for (int q = 0; q < 2; ++q) {
                const int i = 2 * lane + q;
                frow[bl * C + i] = i > 16 * bl + 15 ? expf(static_cast<float>(e[q] - ref)) : 0.f;
                if (i / 16 == bl) fcol[i] = expf(static_cast<float>(ref - e[q]));
            }
        }
#pragma unroll
        for (int q = 0; q < 2; ++q) {
            const int i = 2 * lane + q;
            if (i < n)
                p.gates[(c0 + i) * p.HV + hv] =
                    make_float4(expf(static_cast<float>(e[q])), expf(static_cast<float>(G - e[q])), bv[q], 0.f);
        }
    };
    // A block of two value heads (Qwen3-Next's GVA ratio) runs them as a pair where the q̂ / k̂
    // regions, free once the products are in registers, can hold a second A and T (below).
    const size_t cc_bytes = static_cast<size_t>(C) * kLdC * sizeof(float);
    const bool pairs = p.prep_heads == 2 && (FUSED || L.off_q - L.off_k >= cc_bytes);
    // The first gates, by one warp of each half of the conv below (their loads overlap the q̂, k̂
    // loads of every other warp); one head at a time, kGateWarp is idle while warps 0..3 invert T.
    constexpr int kGateWarp = kPrefillWarps - 1, kGateWarp2 = kPrefillWarps / 2 - 1;
    if (warp == kGateWarp) head_gates(hv0, 0);
    if (pairs && warp == kGateWarp2) head_gates(hv0 + 1, 1);
    if constexpr (FUSED) {
        front_into_smem<Act, KQ>(p, cd, h, reinterpret_cast<Act*>(Qs), reinterpret_cast<Act*>(Ks),
                                 reinterpret_cast<KQ*>(As), reinterpret_cast<KQ*>(Ts), ldkq, halo);
        // q̂ | k̂ now live where A | T were, and the raw inputs' regions take A | T
        KQ* const q_hat = reinterpret_cast<KQ*>(As);
        KQ* const k_hat = reinterpret_cast<KQ*>(Ts);
        As = reinterpret_cast<float*>(Qs);
        Ts = reinterpret_cast<float*>(Ks);
        Qs = q_hat;
        Ks = k_hat;
    } else {
        const KQ* src = static_cast<const KQ*>(p.qk) + (c0 * p.H + h) * (2 * Dk);
        load_tile_async<KQ>(Qs, ldkq, src, static_cast<int64_t>(p.H) * 2 * Dk, n, Dk);
        load_tile_async<KQ>(Ks, ldkq, src + Dk, static_cast<int64_t>(p.H) * 2 * Dk, n, Dk);
    }
    for (int i = tid; i < C * C; i += kPrefillThreads) {
        const int rr = i / C, cc = i % C;
        if (cc / 16 > rr / 16) Ts[rr * kLdC + cc] = 0.f;  // never written below
    }
    cp_async_wait_all();
    __syncthreads();
    // K Kᵀ (mat 0) and Q Kᵀ (mat 1) on the 16x16 tiles at or below the diagonal: the same for
    // every value head of the block, so computed once, a warp's tiles (warp + 8 q) kept in
    // registers for the per-head epilogues below.
    auto tile_of = [](int tix, int& mat, int& mi, int& ni) {
        mat = tix / 10;
        int l = tix % 10;
        mi = 0;
        while (l > mi) {
            l -= mi + 1;
            ++mi;
        }
        ni = l;
    };
    constexpr int kTiles = 20, kTilesPerWarp = (kTiles + kPrefillWarps - 1) / kPrefillWarps;
    float prod[kTilesPerWarp][1][2][4];
#pragma unroll
    for (int q = 0; q < kTilesPerWarp; ++q) {
        const int tix = warp + q * kPrefillWarps;
        zero_acc(prod[q]);
        if (tix >= kTiles) continue;
        int mat, mi, ni;
        tile_of(tix, mat, mi, ni);
        const KQ* Ap = (mat ? Qs : Ks) + mi * 16 * ldkq;
        const KQ* Bp = Ks + ni * 16 * ldkq;
        if constexpr (EXACT) {
            warp_mma_tf32<1, 2, true>(
                prod[q], [&](int m, int k) { return static_cast<float>(Ap[m * ldkq + k]); },
                [&](int k, int nn) { return static_cast<float>(Bp[nn * ldkq + k]); }, 0, Dk);
        } else {
            warp_mma_f16_abt<1, 2>(prod[q], Ap, ldkq, Bp, ldkq, Dk);
        }
    }

    // Pairs of value heads: the pair's epilogues share the block's warps, and the
    // inversion's serial steps serve both heads at once (warps 0-3 the first, 4-7 the second)
    // instead of one after the other with half the block idle.
    float* const A1 = reinterpret_cast<float*>(Qs);  // A and T of a pair's second head
    float* const T1 = reinterpret_cast<float*>(Ks);
    // Rows [16 rb, 16 rb + 16) of head hv's T (final once block diagonal rb is done), token-indexed,
    // in 16-byte pieces, by `count` threads from `rank`; with QKm's zero blocks above the diagonal.
    auto store_t_rows = [&](int hv, const float* Th, int rb, int rank, int count) {
        KQ* Tg = static_cast<KQ*>(p.tmat) + (c0 * p.HV + hv) * C;
        KQ* Qg = static_cast<KQ*>(p.qkm) + (c0 * p.HV + hv) * C;
        const int64_t gld = static_cast<int64_t>(p.HV) * C;
        constexpr int PER = 16 / sizeof(KQ), PIECES = C / PER;
        const int r0 = 16 * rb, rows = n - r0 < 16 ? n - r0 : 16;
        for (int i = rank; i < rows * PIECES; i += count) {
            const int row = r0 + i / PIECES, col = (i % PIECES) * PER;
            uint4 piece;
            KQ* pk = reinterpret_cast<KQ*>(&piece);
#pragma unroll
            for (int w = 0; w < PER; ++w) pk[w] = from_f32<KQ>(Th[row * kLdC + col + w]);
            *reinterpret_cast<uint4*>(Tg + row * gld + col) = piece;
            if (col / 16 > row / 16) *reinterpret_cast<uint4*>(Qg + row * gld + col) = make_uint4(0u, 0u, 0u, 0u);
        }
    };
    // One group: the pair hg, hg + 1 (pair) or the single head hg. Called with a constant `pair`,
    // so that each call site compiles without the other's branches; a pair is the block's only
    // group, so the products die with its epilogues.
    auto run_group = [&](const int hg, const bool pair) {
        const int heads = pair ? 2 : 1, hw = pair ? warp / 4 : 0, lw = pair ? warp % 4 : warp;
        const int W = pair ? 4 : kPrefillWarps;  // warps per head
        __syncthreads();  // the group's gates are in; the previous group's readers of A, T (and the
                          // products' reads of q̂, k̂) are done
        if (pair)         // the second T's blocks above the diagonal, never written below
            for (int i = tid; i < C * C; i += kPrefillThreads) {
                const int rr = i / C, cc = i % C;
                if (cc / 16 > rr / 16) T1[rr * kLdC + cc] = 0.f;
            }

            // A and QKm of each head from the products: decays, β, the masks
#pragma unroll 1
        for (int u = 0; u < heads; ++u) {
            const int hv = hg + u, buf = pair ? u : (hv - hv0) & 1;
            const double* gam = gam2 + buf * C;
            const float* bet = bet2 + buf * C;
            const float* fcol = fcol2 + buf * C;
            const float* frow = frow2 + buf * 4 * C;
            float* const Ah = u ? A1 : As;
            KQ* Qg = static_cast<KQ*>(p.qkm) + (c0 * p.HV + hv) * C;
            const int64_t gld = static_cast<int64_t>(p.HV) * C;
#pragma unroll
            for (int q = 0; q < kTilesPerWarp; ++q) {
                const int tix = warp + q * kPrefillWarps;
                if (tix >= kTiles) continue;
                int mat, mi, ni;
                tile_of(tix, mat, mi, ni);
#pragma unroll
                for (int j = 0; j < 2; ++j)
#pragma unroll
                    for (int e = 0; e < 4; e += 2) {  // columns 2t, 2t + 1 of a row
                        const int row = mi * 16 + acc_row(0, e, g), col = ni * 16 + acc_col(j, e, t);
                        float v[2];
#pragma unroll
                        for (int w = 0; w < 2; ++w) {
                            const float E =
                                mi > ni ? frow[ni * C + row] * fcol[col + w]
                                        : (row >= col + w ? __expf(static_cast<float>(gam[row] - gam[col + w])) : 0.f);
                            v[w] = prod[q][0][j][e + w] * E;
                        }
                        if (mat == 0) {
                            const float b = bet[row];
                            *reinterpret_cast<float2*>(Ah + row * kLdC + col) =
                                make_float2(row > col ? b * v[0] : 0.f, row > col + 1 ? b * v[1] : 0.f);
                        } else if (row < n) {
                            store_pair(Qg + row * gld + col, v[0], v[1]);  // zero above the diagonal (E = 0)
                        }
                    }
            }
        }
        __syncthreads();

        // T = (I + A)^-1: diagonal blocks by forward substitution (lane j owns column j) ...
        float* const Aw = hw ? A1 : As;  // pair: warps 4-7 invert the second head
        float* const Tw = hw ? T1 : Ts;
        if (!pair && warp == kGateWarp && hg + 1 < hv0 + p.prep_heads) head_gates(hg + 1, ((hg - hv0) & 1) ^ 1);
        if (lw < 4) {
            const int j = lane & 15, b0 = lw * 16;
            float col[16];
#pragma unroll
            for (int i = 0; i < 16; ++i) {
                float s = i == j ? 1.f : 0.f;
#pragma unroll
                for (int m = 0; m < i; ++m) s -= Aw[(b0 + i) * kLdC + b0 + m] * col[m];
                col[i] = s;
            }
            if (lane < 16)
#pragma unroll
                for (int i = 0; i < 16; ++i) Tw[(b0 + i) * kLdC + b0 + j] = col[i];
        }
        __syncthreads();
        // ... then T_ij = -T_ii Σ_{j<=m<i} A_im T_mj, one block diagonal at a time, a warp per block:
        // P = A_i,[j,i) T_[j,i),j, then T_ij = -T_ii P, both on tensor cores in 3xTF32 (f32 accuracy).
        // P is parked in T_ij's own place (nobody reads T_ij before this diagonal is done), so
        // the warp needs no barrier between its two products.
        // The warps without a block on a diagonal store T's block row finished by the one before.
        for (int d = 1; d < 4; ++d) {
            const bool mine = lw < 4 - d;
            if (!mine) store_t_rows(hg + hw, Tw, d - 1, (lw - (4 - d)) * kWarpSize + lane, (W - (4 - d)) * kWarpSize);
            const int bj = lw, bi = bj + d;
            float* P = Tw + 16 * bi * kLdC + 16 * bj;  // 16 x 16, row stride kLdC
            float acc[1][2][4];
            if (mine) {
                zero_acc(acc);
                warp_mma_tf32<1, 2, true>(
                    acc, [&](int m, int k) { return Aw[(16 * bi + m) * kLdC + 16 * bj + k]; },
                    [&](int k, int nn) { return Tw[(16 * bj + k) * kLdC + 16 * bj + nn]; }, 0, 16 * d);
#pragma unroll
                for (int j = 0; j < 2; ++j)
#pragma unroll
                    for (int e = 0; e < 4; ++e) P[acc_row(0, e, g) * kLdC + acc_col(j, e, t)] = acc[0][j][e];
                warp_sync();
                zero_acc(acc);
                warp_mma_tf32<1, 2, true>(
                    acc, [&](int m, int k) { return Tw[(16 * bi + m) * kLdC + 16 * bi + k]; },
                    [&](int k, int nn) { return P[k * kLdC + nn]; }, 0, 16);
                warp_sync();  // every lane's reads of P are done before T_ij overwrites it
#pragma unroll
                for (int j = 0; j < 2; ++j)
#pragma unroll
                    for (int e = 0; e < 4; ++e)
                        Tw[(16 * bi + acc_row(0, e, g)) * kLdC + 16 * bj + acc_col(j, e, t)] = -acc[0][j][e];
            }
            __syncthreads();
        }
        store_t_rows(hg + hw, Tw, 3, lw * kWarpSize + lane, W * kWarpSize);  // the last block row
        // (the next group's first barrier orders these reads of T before its writes)
    };
    if (pairs) {
        run_group(hv0, true);
    } else {
        for (int hv = hv0; hv < hv0 + p.prep_heads; ++hv) run_group(hv, false);
    }
}

// ---- 3. the sequential pass --------------------------------------------------------------------------------
// Software pipeline: every input of chunk ck + 1 is copied (cp.async) while chunk ck computes,
// each as soon as its buffer is free: k̂ and the gates into a second buffer (when both fit:
// `kbufs`), q̂ and the raw v inputs after the first product, T after Δ, QKm after its product. The
// phases of a chunk:
//   P1  X = K S0ᵀ, O = Q S0ᵀ; Y = β (conv(v) - e^γ X)   -> Yt       (reads K, Q, S, raw v, gates)
//   P2  Δ = T Y                                         -> Dt       (reads T, Yt)
//   P3  O = e^γ O + QKm Δ                               -> out      (reads QKm, Dt)
//   P4  S = e^Γ S + (diag(e^(Γ-γ)) Δ)ᵀ K                -> S        (reads Dt, K, gates)
// (With helper warps, below, the conv of v and O's products and stores are theirs.)
// CUDA: two producer warps beside the eight compute warps issue every copy, and mbarriers pass
// the buffers between them (full: landed; empty: read). Where the compute warps issue the copies
// themselves (HIP), they copy at those points between block barriers, and stall at the issue
// while the load/store unit is busy with the previous copies (a share of a chunk's cycles that
// grows as the slices narrow). One producer warp cannot keep 32-wide slices fed (slower than
// none), two or four can (the timings: docs/performance-cuda.md). Kernels with helper warps
// (below) have four.
constexpr int kSeqProducers = kAsyncBarriers ? 2 : 0;
// Helper warps (CUDA; the kernels of 16- and 32-wide slices with one block per SM, which are
// launched only with second stage buffers, sbufs 2: launch_seq_width) take the work off the
// compute warps that the recurrence does not wait for, so that their chunk is shorter:
// - two conv warps compute SiLU(conv(v)) of the slice's channels from the staged raw inputs a chunk
//   ahead, into f32 buffers (VC) that P1's epilogue reads (there a lane's rows are 8 apart, so each
//   of its outputs loaded and converted four inputs; here a thread walks consecutive rows with a
//   sliding window: fewer loads and conversions on the compute warps' path);
// - two output warps (16-bit activations) compute O = e^γ Q S0ᵀ + QKm Δ and write it, from a
//   second buffer of the f16 state copy and of Δ, while the compute warps go on to the next chunk;
//   the compute warps' P1 is then K S0ᵀ alone and P3 is theirs no more;
// - four producer warps instead of two: with the helpers' work gone the compute warps' chunk is
//   short enough that two cannot keep it fed (the timings: docs/performance-cuda.md). The
//   kernels of two blocks per SM keep two (four cost them registers: 80 a thread, and spills).
template <typename Act, int DVS, int BLOCKS_PER_SM>
struct SeqWarps {
    static constexpr bool helpers = kAsyncBarriers && DVS <= 32 && BLOCKS_PER_SM == 1;
    static constexpr int producers = helpers ? 4 : kSeqProducers;
    static constexpr int conv = helpers ? 2 : 0;
    static constexpr int out = helpers && !std::is_same<Act, float>::value ? 2 : 0;  // only with conv warps
    static constexpr int threads = kPrefillThreads + kWarpSize * (producers + conv + out);
};
__host__ __device__ constexpr bool seq_helpers(int dvs, int sbufs) { return kAsyncBarriers && dvs <= 32 && sbufs == 2; }
// Buffer groups passed between the warps (their two mbarriers each): from the producers k̂ and the
// gates (kbufs buffers), q̂ and the raw v inputs, T, QKm (sbufs buffers each); with helper warps,
// SiLU(conv(v)) from the conv warps to the compute warps (sbufs buffers), and the f16 state copy
// and Δ from the compute warps to the output warps (two buffers each: chunk ck in ck & 1).
enum SeqStage {
    kStageKG0 = 0,
    kStageQR0 = 2,
    kStageT0 = 4,
    kStageQKm0 = 6,
    kStageV0 = 8,
    kStageSh0 = 10,
    kStageD0 = 12,
    kSeqStages = 14
};
struct SeqSmem {
    int ldkq, ldc, lds, ldsh, ldt, ldy, ldr, ldv;
    size_t kq_bytes, raw_bytes, c_bytes, vc_bytes, sh_bytes, d_bytes;
    size_t off_k, off_q, off_t, off_qk, off_s, off_sh, off_v, off_d, off_raw, off_vc, off_g, off_w, off_bar, total;
};
// kbufs: 2 double-buffers k̂ (its next chunk's copy overlaps this chunk's P4), 1 does not (less
// shared memory: the copy waits for P4). sbufs: 2 double-buffers q̂ and the raw v inputs, T and QKm
// (producer warps only). The raw v inputs are activations: f32 when exact, else
// 16-bit. 16-bit activations (not exact) run the products in f16: Y and Δ are stored in f16 and
// the state has an f16 copy beside its f32 master (off_sh); exact keeps f32 Y, Δ and no copy.
__host__ __device__ inline SeqSmem seq_smem(int Dk, int dvs, bool exact, int kbufs, int sbufs) {
    SeqSmem L{};
    const int es = exact ? 4 : 2;
    // Row strides of Dk + 8 and 64 + 8 elements: 4 (mod 32) words for the 32-bit pairs of f16
    // rows, 8 (mod 32) for the 64-bit pairs of f32 rows, so that paired fragment loads are free of
    // bank conflicts (exactly so for Dk a multiple of 64; other Dk pay a few).
    L.ldkq = Dk + 8;
    L.ldc = kChunk + 8;
    L.lds = exact ? Dk + 8 : Dk;  // !exact: the f32 state in fragment order (seq_state_at), unpadded
    L.ldsh = Dk + 8;              // f16 rows 16 bytes past a multiple of 128: ldmatrix free of conflicts
    L.ldt = kChunk + 8;           // f32: also the room for ct_at's shift of 8; f16: as ldsh
    // f16 Y is kept [token][v] (rows of dvs + 8: the epilogue's paired stores and P2's transposed
    // ldmatrix reads free of conflicts); f32 Y as Δ, transposed
    L.ldy = exact ? L.ldt : dvs + 8;
    // Raw v rows padded by 16 bytes: with rows of exactly 128 16-bit values every row starts in
    // the same bank and the conv's reads (8 rows x 4 column pairs per warp) conflicted 8 ways.
    L.ldr = dvs + (exact ? 4 : 8);
    L.kq_bytes = align16(static_cast<size_t>(kChunk) * L.ldkq * es);
    size_t o = 0;
    L.off_k = o;
    o += kbufs * L.kq_bytes;
    L.off_q = o;
    o += sbufs * L.kq_bytes;
    L.c_bytes = align16(static_cast<size_t>(kChunk) * L.ldc * es);
    L.off_t = o;
    o += sbufs * L.c_bytes;
    L.off_qk = o;
    o += sbufs * L.c_bytes;
    L.off_s = o;
    o = align16(o + static_cast<size_t>(dvs) * L.lds * 4);
    const bool helpers = seq_helpers(dvs, sbufs), outw = helpers && !exact;  // SeqWarps
    L.sh_bytes = exact ? 0 : align16(static_cast<size_t>(dvs) * L.ldsh * 2);
    L.off_sh = o;
    o += (outw ? 2 : 1) * L.sh_bytes;
    L.off_v = o;
    o = align16(o + (exact ? static_cast<size_t>(dvs) * L.ldt * es : static_cast<size_t>(kChunk) * L.ldy * 2));
    L.d_bytes = align16(static_cast<size_t>(dvs) * L.ldt * es);
    L.off_d = o;
    o += (outw ? 2 : 1) * L.d_bytes;
    L.raw_bytes = align16(static_cast<size_t>(kChunk + 3) * L.ldr * es);  // Act: f32 or 16-bit
    L.off_raw = o;
    o += sbufs * L.raw_bytes;
    // SiLU(conv(v)), f32 [token][v]: rows dvs + 8 words apart, so that the epilogue's 64-bit loads
    // (8 rows x 4 column pairs per warp) are free of bank conflicts at 16 and 32 columns
    L.ldv = dvs + 8;
    L.vc_bytes = helpers ? align16(static_cast<size_t>(kChunk) * L.ldv * 4) : 0;
    L.off_vc = o;
    o += sbufs * L.vc_bytes;
    L.off_g = o;
    o = align16(o + 2 * kChunk * 16);
    L.off_w = o;
    o = align16(o + 4 * dvs * 4);
    L.off_bar = o;
    o = align16(o + (kAsyncBarriers ? 2 * kSeqStages * 8 : 0));  // full, empty of each stage
    L.total = o;
    return L;
}

// Raw conv inputs of rows c0-3 .. c0+n-1 of the slice's v channels -> R[j][cc], zero past them.
// x 16-byte aligned row by row: asynchronous copies of the rows inside x, plain loads of the rows
// before the request (the first chunk's, from the slot's conv state); else plain loads.
template <typename Act, int DVS>
__device__ __forceinline__ void stage_raw_v(const GdnParams& p, Act* R, int ldr, const Act* cs, int64_t start,
                                            int64_t end, int64_t c0, int n, int vch, Team tm = {}) {
    constexpr int kRawRows = kChunk + 3;
    const Act* X = static_cast<const Act*>(p.x);
    if (p.x_vec16) {
        constexpr int per = 16 / static_cast<int>(sizeof(Act));
        const int before = c0 - 3 >= start ? 0 : static_cast<int>(start - (c0 - 3));  // rows from the conv state
        copy_tile_async(R + before * ldr, ldr, X + (c0 - 3 + before) * p.x_stride + vch, p.x_stride, kRawRows - before,
                        n + 3 - before, DVS / per, tm);
        for (int i = tm.rank; i < before * DVS; i += tm.size)
            R[(i / DVS) * ldr + i % DVS] =
                from_f32<Act>(conv_in_guarded<Act>(p, cs, start, end, c0 - 3 + i / DVS, vch + i % DVS));
    } else {
        for (int i = tm.rank; i < kRawRows * DVS; i += tm.size) {
            const int j = i / DVS, cc = i % DVS;
            const int64_t tt = c0 - 3 + j;
            R[j * ldr + cc] = from_f32<Act>(tt < c0 + n ? conv_in_guarded<Act>(p, cs, start, end, tt, vch + cc) : 0.f);
        }
    }
}

// Gates (e^γ, e^(Γ-γ), β, 0) of rows [0, n) of a chunk -> G, zero rows past n.
__device__ __forceinline__ void stage_gates(const GdnParams& p, float4* G, int64_t c0, int n, int hv, Team tm = {}) {
    for (int i = tm.rank; i < kChunk; i += tm.size) {
        if (i < n)
            cp_async16(G + i, p.gates + (c0 + i) * p.HV + hv);
        else
            G[i] = make_float4(0.f, 0.f, 0.f, 0.f);
    }
}

// f32 Y and Δ are stored transposed ([v][token], rows ldt = 8 (mod 32) words apart), columns 4..7
// (mod 8) shifted 8 words along their padding: the epilogues' stores (8 tokens x 4 columns 2t per
// warp) then cover the 32 banks once instead of twice, the paired fragment loads (8 columns x
// pairs of tokens) stay free of conflicts, and a lane's shift is a constant (no index arithmetic
// in the product loops, which an XOR of the token index adds; docs/performance-cuda.md).
__device__ __forceinline__ int ct_at(int col, int row, int ldt) { return col * ldt + row + ((col & 4) << 1); }
// Where Δ keeps (token row, column col): f32 (EXACT) as ct_at; f16 plainly ([v][token], rows
// 144 bytes apart: ldmatrix reads and the epilogue's 16-bit stores are free of conflicts as is).
// Y: f32 as ct_at; f16 [token][v] (SeqSmem::ldy), where P1's column pairs are one 32-bit store.
template <bool EXACT>
__device__ __forceinline__ int delta_at(int col, int row, int ldt) {
    return EXACT ? ct_at(col, row, ldt) : col * ldt + row;
}

// Two adjacent activations (p aligned to twice their size) as f32.
template <typename Act>
__device__ __forceinline__ float2 load_act_pair(const Act* p) {
    struct alignas(2 * sizeof(Act)) Pair {
        Act x, y;
    };
    const Pair v = *reinterpret_cast<const Pair*>(p);
    return make_float2(to_f32(v.x), to_f32(v.y));
}

// Operands of the scratch type (q̂, k̂, T, QKm): f16 through ldmatrix, f32 (exact) through paired
// loads. rows_a: A stored [m][k] from the tile's first row; rows_bt: B stored [k][n].
template <int MT, bool EXACT, typename KQ>
__device__ __forceinline__ auto rows_a(const KQ* base, int ld) {
    if constexpr (std::is_same<KQ, float>::value)
        return pair_a<MT, EXACT>([=](int m, int k) { return load_pair(base + m * ld + k); });
    else
        return RowsA<MT>{base, ld};
}
template <int NT, bool EXACT, typename KQ>
__device__ __forceinline__ auto rows_bt(const KQ* base, int ld) {
    if constexpr (std::is_same<KQ, float>::value)
        return pair_b<NT, EXACT>(
            [=](int k, int nn) { return make_float2(base[k * ld + nn], base[(k + 1) * ld + nn]); });
    else
        return RowsBT<NT>{base, ld};
}

// The state update's per-token factor exp(Γ - γ_k) from the staged gates.
struct DecayOf {
    const float4* G;
    __device__ __forceinline__ float operator()(int k) const { return G[k].y; }
};

// The state update's (P4) warp tiles: UWM x UWN (UMT x UNT mma tiles), tile u of a slice at rows
// (u / ntn) UWM, columns (u % ntn) UWN with ntn = Dk / UWN; tiles dealt to the warps round-robin.
template <int DVS, int DKT>
struct StateTiles {
    static constexpr int UWM = DVS >= 64 ? 32 : 16;  // >= 8 tiles: every warp has one
    static constexpr int UMT = UWM / 16;
    // 128-wide slices: 32 x 64 warp tiles, so that a warp scales and loads its Δ rows once for 64
    // state columns, not twice as 32 x 32 tiles would (docs/performance-cuda.md)
    static constexpr int UNT = (DKT != 0 && DKT % 64 == 0 && DVS == 128)  ? 8
                               : (DKT != 0 && DKT % 32 == 0 && DVS >= 32) ? 4
                                                                          : 2;
    static constexpr int UWN = 8 * UNT;
};

// 16-bit activations keep the f32 state slice in the order of P4's accumulators rather than in
// rows: tile u, m-tile i, n-tile j, row half h (rows g or g + 8), then a float2 per lane. P4's
// accesses are then lane-contiguous (free of bank conflicts without padding: the 4 KiB saved at
// 128-wide slices let k̂ be double-buffered) and the rows are only needed when the state enters
// and leaves. The float offset of element (row, col):
template <class TL>
__device__ __forceinline__ int seq_state_at(int row, int col, int ntn) {
    const int u = (row / TL::UWM) * ntn + col / TL::UWN, r = row % TL::UWM, c = col % TL::UWN;
    const int lane = 4 * (r % 8) + (c % 8) / 2;
    return ((((u * TL::UMT + r / 16) * TL::UNT + c / 8) * 2 + (r % 16) / 8) * kWarpSize + lane) * 2 + (c & 1);
}

// Blocks per SM the sequential pass's launch bounds ask for (the registers a thread may use follow):
// two for slices of 16 and 32 where the pass has more blocks than SMs (LaunchPlan::seq_one_wave
// false), so that two share an SM; one otherwise. Where every block has an SM of its own anyway, the
// registers that frees shorten its chunks (1 x 32768 at 32-wide slices; the timing:
// docs/performance-cuda.md).
template <int DVS>
constexpr int seq_blocks_per_sm(bool one_wave) {
    return DVS <= 32 && !one_wave ? 2 : 1;
}

// The producer warp's arrival on a stage's full barrier once its copies (and plain stores) are in.
__device__ __forceinline__ void stage_filled(uint64_t* full) {
    mbar_arrive_on_copies(full);
    mbar_arrive(full);
}

// SiLU(conv(v)) of columns c, c + 1 from four consecutive rows' pairs of inputs (oldest first) and
// the columns' taps (w0: c, w1: c + 1): the one formula of P1's epilogue and of the conv warps.
__device__ __forceinline__ float2 conv_silu_pair(const float4& w0, const float4& w1, float2 r0, float2 r1, float2 r2,
                                                 float2 r3) {
    const float c0 = fmaf(w0.x, r0.x, fmaf(w0.y, r1.x, fmaf(w0.z, r2.x, w0.w * r3.x)));
    const float c1 = fmaf(w1.x, r0.y, fmaf(w1.y, r1.y, fmaf(w1.z, r2.y, w1.w * r3.y)));
    return make_float2(silu_fast(c0), silu_fast(c1));
}

// The output rows [m0, m0 + 16 MT) (those below n) x columns [n0, n0 + 8 NT) of the chunk at token
// c0 from a warp's accumulators, columns 2t, 2t + 1 in one store where the output is aligned.
template <int MT, int NT, typename Act>
__device__ __forceinline__ void store_out_tile(Act* out, int64_t out_ld, bool out_pairs, int64_t c0, int n, int m0,
                                               int n0, const float (&oo)[MT][NT][4]) {
    const int lane = threadIdx.x % kWarpSize, g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int e = 0; e < 4; e += 2) {
                const int row = m0 + acc_row(i, e, g);
                Act* o = out + (c0 + row) * out_ld + n0 + acc_col(j, e, t);
                if (row >= n) continue;
                if (out_pairs) {
                    store_pair(o, oo[i][j][e], oo[i][j][e + 1]);
                } else {
                    o[0] = from_f32<Act>(oo[i][j][e]);
                    o[1] = from_f32<Act>(oo[i][j][e + 1]);
                }
            }
}

template <typename Act, int DVS, int DKT, int BLOCKS_PER_SM>
__global__ void __launch_bounds__((SeqWarps<Act, DVS, BLOCKS_PER_SM>::threads), BLOCKS_PER_SM)
    gdn_chunk_seq_kernel(GdnParams p) {
    wait_previous_grid();  // before any global memory access (overlapped launches)
    allow_next_grid();
    constexpr bool EXACT = std::is_same<Act, float>::value;
    using KQ = typename ScratchType<Act>::type;
    constexpr int C = kChunk;
    constexpr bool PRODUCE = kAsyncBarriers;  // producer warps (SeqWarps::producers)
    extern __shared__ __align__(16) unsigned char smem[];
    const int Dk = DKT ? DKT : p.Dk;
    const int kbufs = p.seq_kbufs, sbufs = PRODUCE ? p.seq_sbufs : 1;
    const SeqSmem L = seq_smem(Dk, DVS, EXACT, kbufs, p.seq_sbufs);
    KQ* Kb = reinterpret_cast<KQ*>(smem + L.off_k);                 // kbufs buffers, kq_bytes apart
    KQ* Qb = reinterpret_cast<KQ*>(smem + L.off_q);                 // sbufs buffers, kq_bytes apart
    KQ* Tb = reinterpret_cast<KQ*>(smem + L.off_t);                 // sbufs buffers, c_bytes apart
    KQ* QKb = reinterpret_cast<KQ*>(smem + L.off_qk);               // sbufs buffers, c_bytes apart
    using YD = typename std::conditional<EXACT, float, f16>::type;  // element of Y and Δ
    float* Ss = reinterpret_cast<float*>(smem + L.off_s);
    f16* ShB = reinterpret_cast<f16*>(smem + L.off_sh);              // !EXACT: Ss in f16, the products' copy (OUTW: 2)
    YD* Yt = reinterpret_cast<YD*>(smem + L.off_v);                  // Y: f32 transposed ([v][token]), f16 [token][v]
    YD* DtB = reinterpret_cast<YD*>(smem + L.off_d);                 // Δ, transposed (OUTW: 2 buffers)
    Act* RawB = reinterpret_cast<Act*>(smem + L.off_raw);            // sbufs buffers of [C + 3][ldr] raw v inputs
    float* VCb = reinterpret_cast<float*>(smem + L.off_vc);          // sbufs buffers of [C][ldv] SiLU(conv(v)) (CONVW)
    float4* Gb = reinterpret_cast<float4*>(smem + L.off_g);          // two chunks' gates
    float* wts = reinterpret_cast<float*>(smem + L.off_w);           // [DVS][4] conv taps, right-aligned
    uint64_t* full = reinterpret_cast<uint64_t*>(smem + L.off_bar);  // [SeqStage] (CUDA)
    uint64_t* empty = full + kSeqStages;
    const int ldkq = L.ldkq, ldc = L.ldc, lds = L.lds, ldsh = L.ldsh, ldt = L.ldt, ldy = L.ldy, ldr = L.ldr,
              ldv = L.ldv;
    const size_t kq_elems = L.kq_bytes / sizeof(KQ), raw_elems = L.raw_bytes / sizeof(Act),
                 c_elems = L.c_bytes / sizeof(KQ);
    const size_t vc_elems = L.vc_bytes / sizeof(float), sh_elems = L.sh_bytes / sizeof(f16),
                 d_elems = L.d_bytes / sizeof(YD);
    // Helper warps (SeqWarps; launched with sbufs 2 only): conv warps, output warps
    using SW = SeqWarps<Act, DVS, BLOCKS_PER_SM>;
    constexpr bool CONVW = SW::conv > 0, OUTW = SW::out > 0;
    constexpr int CONV_THREADS = SW::conv * kWarpSize, OUT_THREADS = SW::out * kWarpSize;
    // Warps: compute 0-7, producers (8-9; 8-11 with helpers), then the output warps and the conv
    // warps (each scheduler, warp % 4, then has two compute warps, a producer and a helper)
    constexpr int OUT_WARP0 = kPrefillWarps + SW::producers, CONV_WARP0 = OUT_WARP0 + SW::out;
    using TL = StateTiles<DVS, DKT>;
    constexpr int UWM = TL::UWM, UMT = TL::UMT, UNT = TL::UNT, UWN = TL::UWN;
    const int ntn = Dk / UWN;  // P4 tiles per row of tiles
    // The f32 state slice stays in registers from chunk to chunk, each warp holding its P4 tile,
    // where every warp has exactly one tile and the registers are there (16-bit activations, Dk =
    // 128, slices of at most 32 columns, one block per SM: 8 or 16 values a thread); else it lives
    // in shared memory (Ss), read and written by P4 every chunk (32 KiB a chunk at 32-wide slices,
    // a tenth of the pass's shared-memory traffic, which registers save; docs/performance-cuda.md).
    // Ss keeps its place in the layout (seq_smem is the same for every kernel of a slice width).
    constexpr bool RSTATE = !EXACT && DKT == 128 && DVS <= 32 && BLOCKS_PER_SM == 1;
    static_assert(!RSTATE || (DVS / UWM) * (DKT / UWN) == kPrefillWarps, "one P4 tile per warp");

    const int slice = blockIdx.x, hv = blockIdx.y, r = blockIdx.z;
    const int64_t start = p.cu[r], end = p.cu[r + 1];
    const int64_t len = end - start;
    if (len < 2) return;  // zero-length: nothing; one token: the decode kernel
    const int tid = threadIdx.x, warp = tid / kWarpSize, lane = tid % kWarpSize, g = lane >> 2, t = lane & 3;
    const int Dv = p.Dv, h = hv / p.gva, v0 = slice * DVS;
    const int64_t out_ld = static_cast<int64_t>(p.HV) * Dv;
    Act* out = static_cast<Act*>(p.out) + static_cast<int64_t>(hv) * Dv + v0;
    const bool out_pairs = reinterpret_cast<uintptr_t>(p.out) % (2 * sizeof(Act)) == 0;  // row strides are even
    const int64_t slot = p.slots[r];
    if (slot == p.padding_slot) {
        for (int64_t i = tid; i < len * DVS; i += SW::threads)
            out[(start + i / DVS) * out_ld + i % DVS] = from_f32<Act>(0.f);
        return;
    }
    Act* cs = static_cast<Act*>(p.conv_state) + slot * p.conv_stride;
    float* Sg = p.state + slot * p.state_stride + (static_cast<int64_t>(hv) * Dv + v0) * Dk;
    const int vch = 2 * p.H * Dk + hv * Dv + v0;
    const KQ* qk_src = static_cast<const KQ*>(p.qk) + h * (2 * Dk);
    const int64_t qk_ld = static_cast<int64_t>(p.H) * 2 * Dk, c_ld = static_cast<int64_t>(p.HV) * C;
    const KQ* t_src = static_cast<const KQ*>(p.tmat) + hv * C;
    const KQ* qkm_src = static_cast<const KQ*>(p.qkm) + hv * C;
    const int nchunks = static_cast<int>((len + C - 1) / C);
    auto chunk_rows = [&](int ck) {
        return static_cast<int>(end - start - int64_t(ck) * C < C ? end - start - int64_t(ck) * C : C);
    };
    // Of a stage with nbufs buffers: the buffer of chunk ck, and which use of that buffer it is
    // (k̂ + gates: kbufs; q̂ + raw v, T, QKm: sbufs). HIP stages the next chunk's gates while this
    // chunk's are read: two gate buffers whatever kbufs.
    auto buffer_of = [](int ck, int nbufs) { return nbufs == 2 ? ck & 1 : 0; };
    auto use_of = [](int ck, int nbufs) { return nbufs == 2 ? ck >> 1 : ck; };
    auto gate_buffer = [&](int ck) { return PRODUCE ? buffer_of(ck, kbufs) : ck & 1; };

    if constexpr (PRODUCE) {
        if (tid == 0)
            for (int st = 0; st < kSeqStages; ++st) {
                const int group = st / 2 * 2;
                // full: each producer lane (its copies, its stores), each conv thread (VC) or each
                // compute thread (the f16 state, Δ); empty: each of the stage's readers' threads
                unsigned fills = 2 * kWarpSize, reads = kPrefillThreads;
                if (group == kStageV0) fills = CONV_THREADS;
                if (group == kStageSh0 || group == kStageD0) fills = kPrefillThreads, reads = OUT_THREADS;
                if (group == kStageQR0) reads = (OUTW ? OUT_THREADS : kPrefillThreads) + CONV_THREADS;  // q̂ | raw v
                if (group == kStageQKm0 && OUTW) reads = OUT_THREADS;
                mbar_init(full + st, fills);
                mbar_init(empty + st, reads);
            }
        __syncthreads();  // the only barrier of the whole block: the producers go their own way
        if constexpr (CONVW) {
            if (warp >= CONV_WARP0) {
                // A conv thread: column pair pc of rows [r0, r0 + R) of every chunk, once its raw
                // inputs have landed and chunk c - sbufs's outputs have been read. The same products
                // in the same order as the compute warps' own conv (P1's epilogue without conv warps).
                constexpr int NCT = CONV_THREADS, PAIRS = DVS / 2, SEGS = NCT / PAIRS, R = C / SEGS;
                static_assert(NCT % PAIRS == 0 && C % SEGS == 0, "conv threads tile the chunk");
                const int ct = tid - CONV_WARP0 * kWarpSize;
                const int pc = 2 * (ct % PAIRS), r0 = (ct / PAIRS) * R;
                const float4 w0 = make_float4(conv_tap<Act>(p, vch + pc, 0), conv_tap<Act>(p, vch + pc, 1),
                                              conv_tap<Act>(p, vch + pc, 2), conv_tap<Act>(p, vch + pc, 3));
                const float4 w1 = make_float4(conv_tap<Act>(p, vch + pc + 1, 0), conv_tap<Act>(p, vch + pc + 1, 1),
                                              conv_tap<Act>(p, vch + pc + 1, 2), conv_tap<Act>(p, vch + pc + 1, 3));
                for (int c = 0; c < nchunks; ++c) {
                    const int sb = buffer_of(c, sbufs), su = use_of(c, sbufs);
                    mbar_wait(full + kStageQR0 + sb, su & 1);
                    if (su > 0) mbar_wait(empty + kStageV0 + sb, (su - 1) & 1);
                    const Act* Raw = RawB + sb * raw_elems + r0 * ldr + pc;
                    float* V = VCb + sb * vc_elems + r0 * ldv + pc;
                    float2 a0 = load_act_pair(Raw), a1 = load_act_pair(Raw + ldr), a2 = load_act_pair(Raw + 2 * ldr);
#pragma unroll
                    for (int i = 0; i < R; ++i) {
                        const float2 a3 = load_act_pair(Raw + (i + 3) * ldr);
                        *reinterpret_cast<float2*>(V + i * ldv) = conv_silu_pair(w0, w1, a0, a1, a2, a3);
                        a0 = a1;
                        a1 = a2;
                        a2 = a3;
                    }
                    mbar_arrive(empty + kStageQR0 + sb);  // the raw inputs are read
                    mbar_arrive(full + kStageV0 + sb);    // and the outputs stored
                }
                return;
            }
        }
        if constexpr (OUTW) {
            if (warp >= OUT_WARP0) {
                // An output warp: rows [om0, om0 + 32) of every chunk's O, all DVS columns, from the
                // f16 state copy at the chunk's start and its Δ (buffers c & 1, which the compute
                // warps fill one chunk ahead at most). The same products in the same order as the
                // compute warps' P1 and P3 without output warps (P3 here runs to the end of the
                // 32-row tile: QKm is zero above the diagonal, so the extra steps add zeros).
                constexpr int OMT = 2, ONT = DVS / 8;
                static_assert(SW::out * 16 * OMT == C, "output warps tile the chunk's rows");
                const int om0 = (warp - OUT_WARP0) * 16 * OMT;
                for (int c = 0; c < nchunks; ++c) {
                    const int64_t cc0 = start + static_cast<int64_t>(c) * C;
                    const int nn = chunk_rows(c), sb = buffer_of(c, sbufs), su = use_of(c, sbufs);
                    const int hb = c & 1, hu = c >> 1;
                    // e^γ of the lane's rows (0 past the chunk) from global memory: the gate stage's
                    // buffer is the compute warps', refilled as soon as they are done with it
                    float eg[OMT][2];
#pragma unroll
                    for (int i = 0; i < OMT; ++i)
#pragma unroll
                        for (int e = 0; e < 2; ++e) {
                            const int row = om0 + acc_row(i, 2 * e, g);
                            eg[i][e] = row < nn ? p.gates[(cc0 + row) * p.HV + hv].x : 0.f;
                        }
                    float oo[OMT][ONT][4];
                    zero_acc(oo);
                    mbar_wait(full + kStageQR0 + sb, su & 1);
                    mbar_wait(full + kStageSh0 + hb, hu & 1);
                    warp_mma_h16<OMT, ONT>(oo, H16A<OMT>{Qb + sb * kq_elems + om0 * ldkq, ldkq},
                                           H16Bnk<ONT>{ShB + hb * sh_elems, ldsh}, 0, Dk);
                    mbar_arrive(empty + kStageSh0 + hb);
                    mbar_arrive(empty + kStageQR0 + sb);
#pragma unroll
                    for (int i = 0; i < OMT; ++i)
#pragma unroll
                        for (int j = 0; j < ONT; ++j)
#pragma unroll
                            for (int e = 0; e < 4; ++e) oo[i][j][e] *= eg[i][e / 2];
                    const int kv = (nn + 15) & ~15, kend = om0 + 16 * OMT < kv ? om0 + 16 * OMT : kv;
                    mbar_wait(full + kStageQKm0 + sb, su & 1);
                    mbar_wait(full + kStageD0 + hb, hu & 1);
                    warp_mma_h16<OMT, ONT>(oo, H16A<OMT>{QKb + sb * c_elems + om0 * ldc, ldc},
                                           H16Bnk<ONT>{DtB + hb * d_elems, ldt}, 0, kend);
                    mbar_arrive(empty + kStageD0 + hb);
                    mbar_arrive(empty + kStageQKm0 + sb);
                    store_out_tile(out, out_ld, out_pairs, cc0, nn, om0, 0, oo);
                }
                return;
            }
        }
        if (warp >= kPrefillWarps) {
            // A producer: chunk c's inputs of its stages into their buffers as soon as chunk c - 1
            // (k̂, gates: c - kbufs) has finished reading them, in the order the compute warps need
            // them. Stages by producer: 1: all; 2: k̂ + gates and T, q̂ + raw v and QKm; 4: one each.
            const int pw = warp - kPrefillWarps;
            auto mine = [&](int stage) {
                const int order = stage / 2;  // 0 .. 3
                return order % SW::producers == pw;
            };
            const Team tm{lane, kWarpSize};
            for (int c = 0; c < nchunks; ++c) {
                const int64_t cc0 = start + static_cast<int64_t>(c) * C;
                const int nn = chunk_rows(c), b = buffer_of(c, kbufs), u = use_of(c, kbufs);
                const int sb = buffer_of(c, sbufs), su = use_of(c, sbufs);
                if (mine(kStageKG0)) {
                    if (u > 0) mbar_wait(empty + kStageKG0 + b, (u - 1) & 1);
                    load_tile_async<KQ>(Kb + b * kq_elems, ldkq, qk_src + cc0 * qk_ld + Dk, qk_ld, nn, Dk, tm);
                    stage_gates(p, Gb + b * C, cc0, nn, hv, tm);
                    stage_filled(full + kStageKG0 + b);
                }
                if (mine(kStageQR0)) {
                    if (su > 0) mbar_wait(empty + kStageQR0 + sb, (su - 1) & 1);
                    load_tile_async<KQ>(Qb + sb * kq_elems, ldkq, qk_src + cc0 * qk_ld, qk_ld, nn, Dk, tm);
                    stage_raw_v<Act, DVS>(p, RawB + sb * raw_elems, ldr, cs, start, end, cc0, nn, vch, tm);
                    stage_filled(full + kStageQR0 + sb);
                }
                if (mine(kStageT0)) {
                    if (su > 0) mbar_wait(empty + kStageT0 + sb, (su - 1) & 1);
                    load_tile_async<KQ>(Tb + sb * c_elems, ldc, t_src + cc0 * c_ld, c_ld, nn, C, tm);
                    stage_filled(full + kStageT0 + sb);
                }
                if (mine(kStageQKm0)) {
                    if (su > 0) mbar_wait(empty + kStageQKm0 + sb, (su - 1) & 1);
                    load_tile_async<KQ>(QKb + sb * c_elems, ldc, qkm_src + cc0 * c_ld, c_ld, nn, C, tm);
                    stage_filled(full + kStageQKm0 + sb);
                }
            }
            cp_async_wait_all();  // nothing in flight when the warp exits
            return;
        }
    }
    // From here on the compute warps only (CUDA; HIP: the whole block).
    auto compute_sync = [] {
        if constexpr (PRODUCE)
            sync_threads_named(1, kPrefillThreads);
        else
            __syncthreads();
    };

    // The q/k conv state of key head h: its readers (the front or prep kernel) have finished.
    if (slice == 0 && hv % p.gva == 0)
        for (int cc = tid; cc < 2 * Dk; cc += kPrefillThreads)
            write_conv_state<Act>(p, cs, start, end, cc < Dk ? h * Dk + cc : p.H * Dk + h * Dk + (cc - Dk));

    // prologue: chunk 0's inputs (HIP), the state slice, the conv taps
    if constexpr (!PRODUCE) {
        const int n0r = chunk_rows(0);
        load_tile_async<KQ>(Kb, ldkq, qk_src + start * qk_ld + Dk, qk_ld, n0r, Dk);
        load_tile_async<KQ>(Qb, ldkq, qk_src + start * qk_ld, qk_ld, n0r, Dk);
        load_tile_async<KQ>(Tb, ldc, t_src + start * c_ld, c_ld, n0r, C);
        stage_gates(p, Gb, start, n0r, hv);
        stage_raw_v<Act, DVS>(p, RawB, ldr, cs, start, end, start, n0r, vch);
        cp_async_commit();
    }
    for (int i = tid; i < DVS * (Dk / 4); i += kPrefillThreads) {
        const int row = i / (Dk / 4), c4 = i % (Dk / 4);
        const float4 v = reinterpret_cast<const float4*>(Sg + static_cast<int64_t>(row) * Dk)[c4];
        if constexpr (EXACT) {
            *reinterpret_cast<float4*>(Ss + row * lds + 4 * c4) = v;
        } else {
            if constexpr (!RSTATE) {
                *reinterpret_cast<float2*>(Ss + seq_state_at<TL>(row, 4 * c4, ntn)) = make_float2(v.x, v.y);
                *reinterpret_cast<float2*>(Ss + seq_state_at<TL>(row, 4 * c4 + 2, ntn)) = make_float2(v.z, v.w);
            }
            *reinterpret_cast<uint2*>(ShB + row * ldsh + 4 * c4) =
                make_uint2(f16x2_from(v.x, v.y), f16x2_from(v.z, v.w));
        }
    }
    if constexpr (OUTW) mbar_arrive(full + kStageSh0);  // chunk 0's f16 state, for the output warps
    // RSTATE: warp w's P4 tile w, rows um0 + acc_row, columns un0 + acc_col (pairs), from the pool;
    // st_pairs(f) calls f(i, j, e, the pair's place in the pool slot) for each pair of the lane's
    float st[UMT][UNT][4];
    const int st_m0 = (warp / ntn) * UWM, st_n0 = (warp % ntn) * UWN;
    auto st_pairs = [&](auto&& f) {
#pragma unroll
        for (int i = 0; i < UMT; ++i)
#pragma unroll
            for (int j = 0; j < UNT; ++j)
#pragma unroll
                for (int e = 0; e < 4; e += 2) {
                    const int row = st_m0 + acc_row(i, e, g), col = st_n0 + acc_col(j, e, t);
                    f(i, j, e, reinterpret_cast<float2*>(Sg + static_cast<int64_t>(row) * Dk + col));
                }
    };
    if constexpr (RSTATE)
        st_pairs([&](int i, int j, int e, const float2* q) {
            const float2 v = *q;
            st[i][j][e] = v.x;
            st[i][j][e + 1] = v.y;
        });
    for (int i = tid; i < 4 * DVS; i += kPrefillThreads) {
        wts[i] = conv_tap<Act>(p, vch + i / 4, i % 4);
    }

    constexpr int WM = DVS >= 64 ? 32 : 16;
    constexpr int WN = DVS == 128 ? 32 : (DVS == 16 ? 8 : 16);
    constexpr int MT = WM / 16, NT = WN / 8;
    const int m0 = (warp / (DVS / WN)) * WM, n0 = (warp % (DVS / WN)) * WN;
    // Eight steps of K S0ᵀ, Q S0ᵀ in flight for the smallest warp tile (16-wide slices), four
    // otherwise: each the faster there (docs/performance-cuda.md)
    constexpr int P1_UNROLL = MT * NT == 1 ? 8 : 4;

    for (int ck = 0; ck < nchunks; ++ck) {
        const int64_t c0 = start + static_cast<int64_t>(ck) * C;
        const int n = chunk_rows(ck);
        const bool more = ck + 1 < nchunks;
        const int64_t c1 = c0 + C;
        const int n1 = more ? chunk_rows(ck + 1) : 0;
        const int kb = buffer_of(ck, kbufs);
        const KQ* Ks = Kb + kb * kq_elems;
        KQ* Knext = Kb + buffer_of(ck + 1, kbufs) * kq_elems;
        const float4* G = Gb + gate_buffer(ck) * C;
        const int sb = buffer_of(ck, sbufs), su = use_of(ck, sbufs);
        const KQ* Qs = Qb + sb * kq_elems;
        const Act* Raw = RawB + sb * raw_elems;
        const float* VC = VCb + sb * vc_elems;
        const KQ* Tt = Tb + sb * c_elems;
        const KQ* QKt = QKb + sb * c_elems;
        // the f16 state copy at the chunk's start, and where P4 leaves the next one; Δ (OUTW: two
        // buffers each, chunk ck in ck & 1, used hu = ck >> 1 times before)
        const f16* Sh = ShB + (OUTW ? (ck & 1) * sh_elems : 0);
        f16* ShNext = ShB + (OUTW ? ((ck + 1) & 1) * sh_elems : 0);
        YD* Dt = DtB + (OUTW ? (ck & 1) * d_elems : 0);

        if constexpr (PRODUCE) {
            mbar_wait(full + kStageKG0 + kb, use_of(ck, kbufs) & 1);
            // q̂ and the raw inputs are read here, but with output warps (and so conv warps) neither
            if constexpr (!OUTW) mbar_wait(full + kStageQR0 + sb, su & 1);
        } else {
            cp_async_wait_all();
        }
        compute_sync();  // chunk ck's K, Q, raw v, gates have landed (HIP: and T); S of chunk ck-1 is complete
        if (ck == 0) {   // the old conv state was read by the first staging of raw v; these channels are ours
            if constexpr (OUTW) mbar_wait(full + kStageQR0, 0);  // (not waited for above)
            for (int cc = tid; cc < DVS; cc += kPrefillThreads) write_conv_state<Act>(p, cs, start, end, vch + cc);
        }
        if constexpr (!PRODUCE) {
            if (kbufs == 2 && more) load_tile_async<KQ>(Knext, ldkq, qk_src + c1 * qk_ld + Dk, qk_ld, n1, Dk);
            load_tile_async<KQ>(QKb, ldc, qkm_src + c0 * c_ld, c_ld, n, C);
            if (more) stage_gates(p, Gb + gate_buffer(ck + 1) * C, c1, n1, hv);
            cp_async_commit();  // group A: QKm of this chunk (and the next k̂, gates)
        }

        // ---- P1: X = K S0ᵀ, O = Q S0ᵀ (OUTW: the output warps') on the warp's tile of the C x DVS
        // outputs; Y -> Yt ----
        float oo[MT][NT][4];
        {
            float xo[MT][NT][4];
            zero_acc(xo);
            zero_acc(oo);
            if constexpr (OUTW)
                warp_mma_h16<MT, NT, P1_UNROLL>(xo, H16A<MT>{Ks + m0 * ldkq, ldkq}, H16Bnk<NT>{Sh + n0 * ldsh, ldsh}, 0,
                                                Dk);
            else if constexpr (EXACT)
                warp_mma_frag_dual<MT, NT, EXACT, P1_UNROLL>(
                    xo, oo, rows_a<MT, EXACT>(Ks + m0 * ldkq, ldkq), rows_a<MT, EXACT>(Qs + m0 * ldkq, ldkq),
                    pair_b<NT, EXACT>([&](int k, int nn) { return load_pair(Ss + (n0 + nn) * lds + k); }), 0, Dk);
            else
                warp_mma_h16_dual<MT, NT, P1_UNROLL>(xo, oo, H16A<MT>{Ks + m0 * ldkq, ldkq},
                                                     H16A<MT>{Qs + m0 * ldkq, ldkq}, H16Bnk<NT>{Sh + n0 * ldsh, ldsh},
                                                     0, Dk);
            // Y = β (conv(v) - e^γ X): SiLU(conv(v)) from the conv warps (CONVW), else the conv of v
            // from the staged raw inputs here, a lane's two columns (2t, 2t + 1) at once (rows past
            // n: β = 0). SiLU with the fast exponential and division, as for q and k (they shorten
            // the whole prefill: docs/performance-cuda.md).
            if constexpr (CONVW) mbar_wait(full + kStageV0 + sb, su & 1);
            // the gates of the lane's rows, loaded once for all its columns (the stores to Yt
            // between would otherwise make the compiler load them again for each)
            float4 grs[MT][2];
#pragma unroll
            for (int i = 0; i < MT; ++i)
#pragma unroll
                for (int e = 0; e < 4; e += 2) grs[i][e / 2] = G[m0 + acc_row(i, e, g)];
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                const int col = n0 + acc_col(j, 0, t);
                float4 w0{}, w1{};
                if constexpr (!CONVW) {
                    w0 = reinterpret_cast<const float4*>(wts)[col];
                    w1 = reinterpret_cast<const float4*>(wts)[col + 1];
                }
#pragma unroll
                for (int i = 0; i < MT; ++i)
#pragma unroll
                    for (int e = 0; e < 4; e += 2) {
                        const int row = m0 + acc_row(i, e, g);
                        float2 sv;  // SiLU(conv(v)) of columns col, col + 1
                        if constexpr (CONVW) {
                            sv = *reinterpret_cast<const float2*>(VC + row * ldv + col);
                        } else {
                            const float2 r0 = load_act_pair(Raw + row * ldr + col),
                                         r1 = load_act_pair(Raw + (row + 1) * ldr + col);
                            const float2 r2 = load_act_pair(Raw + (row + 2) * ldr + col),
                                         r3 = load_act_pair(Raw + (row + 3) * ldr + col);
                            sv = conv_silu_pair(w0, w1, r0, r1, r2, r3);
                        }
                        const float4 gr = grs[i][e / 2];
                        const float y0 = gr.z * (sv.x - gr.x * xo[i][j][e]);
                        const float y1 = gr.z * (sv.y - gr.x * xo[i][j][e + 1]);
                        if constexpr (EXACT) {
                            Yt[ct_at(col, row, ldt)] = y0;
                            Yt[ct_at(col + 1, row, ldt)] = y1;
                        } else {
                            store_pair<YD>(Yt + row * ldy + col, y0, y1);
                        }
                        if constexpr (!OUTW) {
                            oo[i][j][e] *= gr.x;
                            oo[i][j][e + 1] *= gr.x;
                        }
                    }
            }
        }
        compute_sync();  // Q and the raw inputs (or SiLU(conv(v))) are free; Yt is complete
        if constexpr (PRODUCE) {
            if constexpr (!OUTW) mbar_arrive(empty + kStageQR0 + sb);
            if constexpr (CONVW) mbar_arrive(empty + kStageV0 + sb);
            mbar_wait(full + kStageT0 + sb, su & 1);
        } else {
            if (more) {
                load_tile_async<KQ>(Qb, ldkq, qk_src + c1 * qk_ld, qk_ld, n1, Dk);
                stage_raw_v<Act, DVS>(p, RawB, ldr, cs, start, end, c1, n1, vch);
            }
            cp_async_commit();  // group B: the next q̂ and raw v
        }

        // ---- P2: Δ = T Y (T lower triangular: k < m0 + WM; rows past n of Y are zero) ----
        // k steps of 8 (tf32) or 16 (f16); rows past n of every operand are zero
        const int kv = EXACT ? (n + 7) & ~7 : (n + 15) & ~15;
        const int kend = m0 + WM < kv ? m0 + WM : kv;
        if constexpr (OUTW)  // the output warps are done with chunk ck - 2's Δ, in this buffer
            if (ck >= 2) mbar_wait(empty + kStageD0 + (ck & 1), ((ck >> 1) - 1) & 1);
        {
            float dd[MT][NT][4];
            zero_acc(dd);
            if constexpr (EXACT)
                warp_mma_frag<MT, NT, EXACT>(
                    dd, rows_a<MT, EXACT>(Tt + m0 * ldc, ldc),
                    pair_b<NT, EXACT>([&](int k, int nn) { return load_pair(Yt + ct_at(n0 + nn, k, ldt)); }), 0, kend);
            else
                warp_mma_h16<MT, NT>(dd, H16A<MT>{Tt + m0 * ldc, ldc}, H16Bkn<NT>{Yt + n0, ldy}, 0, kend);
#pragma unroll
            for (int i = 0; i < MT; ++i)
#pragma unroll
                for (int j = 0; j < NT; ++j)
#pragma unroll
                    for (int e = 0; e < 4; ++e)
                        Dt[delta_at<EXACT>(n0 + acc_col(j, e, t), m0 + acc_row(i, e, g), ldt)] =
                            from_f32<YD>(dd[i][j][e]);
        }
        if constexpr (OUTW)
            mbar_arrive(full + kStageD0 + (ck & 1));
        else if constexpr (PRODUCE)
            mbar_wait(full + kStageQKm0 + sb, su & 1);
        else
            cp_async_wait_group<1>();  // group A (QKm) has landed; B may still be in flight
        compute_sync();                // Δ complete, T free
        if constexpr (PRODUCE) {
            mbar_arrive(empty + kStageT0 + sb);
        } else {
            if (more) load_tile_async<KQ>(Tb, ldc, t_src + c1 * c_ld, c_ld, n1, C);
            cp_async_commit();  // group C: the next T
        }

        // ---- P3: O += QKm Δ, written out (OUTW: by the output warps) ----
        if constexpr (!OUTW) {
            if constexpr (EXACT)
                warp_mma_frag<MT, NT, EXACT>(
                    oo, rows_a<MT, EXACT>(QKt + m0 * ldc, ldc),
                    pair_b<NT, EXACT>([&](int k, int nn) { return load_pair(Dt + ct_at(n0 + nn, k, ldt)); }), 0, kend);
            else
                warp_mma_h16<MT, NT>(oo, H16A<MT>{QKt + m0 * ldc, ldc}, H16Bnk<NT>{Dt + n0 * ldt, ldt}, 0, kend);
            store_out_tile(out, out_ld, out_pairs, c0, n, m0, n0, oo);
            if constexpr (PRODUCE) mbar_arrive(empty + kStageQKm0 + sb);
        }
        // ---- P4: S = exp(Γ) S + (diag(exp(Γ-γ)) Δ)ᵀ K ----
        if constexpr (OUTW)  // the output warps are done with chunk ck - 1's f16 state, in ShNext
            if (ck >= 1) mbar_wait(empty + kStageSh0 + ((ck + 1) & 1), (((ck + 1) >> 1) - 1) & 1);
        {
            const int ntiles = (DVS / UWM) * ntn;
            const float eG = G[n - 1].x;
            for (int tile = warp; tile < ntiles; tile += kPrefillWarps) {
                const int um0 = (tile / ntn) * UWM, un0 = (tile % ntn) * UWN;
                float acc[UMT][UNT][4];
                // float2 accesses (columns 2t, 2t + 1). EXACT: rows lds = 8 (mod 32) words apart, so
                // that a half warp's eight-byte accesses cover the 32 banks once (scalar ones
                // conflicted two ways); else fragment order (seq_state_at), lane-contiguous.
                auto s_at = [&](int i, int j, int e) {
                    if constexpr (EXACT)
                        return (um0 + acc_row(i, e, g)) * lds + un0 + acc_col(j, e, t);
                    else
                        return (((tile * UMT + i) * UNT + j) * 2 + e / 2) * (2 * kWarpSize) + 2 * lane;
                };
#pragma unroll
                for (int i = 0; i < UMT; ++i)
#pragma unroll
                    for (int j = 0; j < UNT; ++j)
#pragma unroll
                        for (int e = 0; e < 4; e += 2) {
                            float2 s;
                            if constexpr (RSTATE)
                                s = make_float2(st[i][j][e], st[i][j][e + 1]);
                            else
                                s = *reinterpret_cast<const float2*>(Ss + s_at(i, j, e));
                            acc[i][j][e] = eG * s.x;
                            acc[i][j][e + 1] = eG * s.y;
                        }
                if constexpr (EXACT)
                    warp_mma_frag<UMT, UNT, EXACT>(acc, pair_a<UMT, EXACT>([&](int m, int k) {
                                                       const float2 d = load_pair(Dt + ct_at(um0 + m, k, ldt));
                                                       return make_float2(d.x * G[k].y, d.y * G[k + 1].y);
                                                   }),
                                                   rows_bt<UNT, EXACT>(Ks + un0, ldkq), 0, kv);
                else
                    warp_mma_h16<UMT, UNT>(acc, H16AScaledK<UMT, DecayOf>{H16A<UMT>{Dt + um0 * ldt, ldt}, DecayOf{G}},
                                           H16Bkn<UNT>{Ks + un0, ldkq}, 0, kv);
#pragma unroll
                for (int i = 0; i < UMT; ++i)
#pragma unroll
                    for (int j = 0; j < UNT; ++j)
#pragma unroll
                        for (int e = 0; e < 4; e += 2) {
                            const int row = um0 + acc_row(i, e, g), col = un0 + acc_col(j, e, t);
                            if constexpr (RSTATE) {
                                st[i][j][e] = acc[i][j][e];
                                st[i][j][e + 1] = acc[i][j][e + 1];
                            } else {
                                *reinterpret_cast<float2*>(Ss + s_at(i, j, e)) =
                                    make_float2(acc[i][j][e], acc[i][j][e + 1]);
                            }
                            if constexpr (!EXACT)
                                *reinterpret_cast<uint32_t*>(ShNext + row * ldsh + col) =
                                    f16x2_from(acc[i][j][e], acc[i][j][e + 1]);
                        }
            }
        }
        if constexpr (OUTW) mbar_arrive(full + kStageSh0 + ((ck + 1) & 1));  // the next chunk's f16 state
        if constexpr (PRODUCE) {
            mbar_arrive(empty + kStageKG0 + kb);
        } else if (kbufs == 1) {  // one k̂ buffer: the next chunk's copy waits for every reader of this one
            __syncthreads();
            if (more) load_tile_async<KQ>(Knext, ldkq, qk_src + c1 * qk_ld + Dk, qk_ld, n1, Dk);
            cp_async_commit();
        }
    }
    if constexpr (RSTATE) {  // each thread its own values back to the pool
        st_pairs([&](int i, int j, int e, float2* q) { *q = make_float2(st[i][j][e], st[i][j][e + 1]); });
        return;
    }
    compute_sync();
    for (int i = tid; i < DVS * (Dk / 4); i += kPrefillThreads) {
        const int row = i / (Dk / 4), c4 = i % (Dk / 4);
        float4 v;
        if constexpr (EXACT) {
            v = *reinterpret_cast<const float4*>(Ss + row * lds + 4 * c4);
        } else {
            const float2 a = *reinterpret_cast<const float2*>(Ss + seq_state_at<TL>(row, 4 * c4, ntn));
            const float2 b = *reinterpret_cast<const float2*>(Ss + seq_state_at<TL>(row, 4 * c4 + 2, ntn));
            v = make_float4(a.x, a.y, b.x, b.y);
        }
        reinterpret_cast<float4*>(Sg + static_cast<int64_t>(row) * Dk)[c4] = v;
    }
}

}  // namespace
}  // namespace gdn_gpu

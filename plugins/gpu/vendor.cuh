// Vendor layer for the GDN GPU kernels: everything that differs between CUDA and HIP lives here,
// as explicit wrappers (not macro renames) where the semantics differ. The kernels in
// plugins/gpu/*.cuh use only what this header defines plus plain C++.
//
//   - warp size is a compile-time constant (32 on NVIDIA; 64 on gfx9 would need its own value
//     and a run-time check against the device);
//   - shuffles: CUDA takes a member mask, HIP 5.2 has no *_sync variants;
//   - 16-bit float types: CUDA's __nv_bfloat16/__half vs HIP's hip_bfloat16/__half;
//   - tensor-core products: mma.sync via inline PTX here; a HIP build substitutes MFMA or a
//     scalar loop with the same fragment contract (documented at each function).
#pragma once

#include <cstdint>
#include <cstdio>

#if defined(__HIP_PLATFORM_AMD__) || defined(__HIPCC__)
// HIP (ROCm) build: Debian's HIP 5.2 and newer ROCm. No *_sync shuffles, no __hip_bfloat16.
#define GDN_GPU_HIP 1
#include <hip/hip_bfloat16.h>
#include <hip/hip_fp16.h>
#include <hip/hip_runtime.h>
#else
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#endif

// The tensor-core products below are emulated with shuffles and FMAs on HIP (same fragment
// contract). GDN_GPU_EMULATE_MMA selects the emulation on CUDA too, so that the code a ROCm
// build runs can be exercised on an NVIDIA GPU.
#if defined(GDN_GPU_HIP) && !defined(GDN_GPU_EMULATE_MMA)
#define GDN_GPU_EMULATE_MMA 1
#endif

namespace gdn_gpu {

// ---- types -------------------------------------------------------------------------------------
#if defined(GDN_GPU_HIP)
using bf16 = hip_bfloat16;  // HIP 5.2 has no __hip_bfloat16; this one converts from f32 with RNE
using f16 = __half;
#else
using bf16 = __nv_bfloat16;
using f16 = __half;
#endif

// The kernels' warp: 32 lanes that shuffle, reduce and hold one mma fragment together. It is
// the same number in the host and device passes of every build (launch geometry depends on it).
// On AMD wave64 hardware (gfx9: gfx90a, gfx940, gfx942) a wavefront holds two such warps and
// every collective below stays inside its 32-lane half (shuffle width 32); on wave32 (gfx10+)
// warp and wavefront coincide. 1-D thread blocks keep a warp inside one wavefront.
constexpr int kWarpSize = 32;

#if defined(GDN_GPU_HIP) && defined(__AMDGCN_WAVEFRONT_SIZE)
// The hardware wavefront of the target being compiled (device pass only; a fat binary holds
// wave64 and wave32 targets at once, so the host asks the device at run time).
constexpr int kWaveSize = __AMDGCN_WAVEFRONT_SIZE;
static_assert(kWaveSize % kWarpSize == 0, "a wavefront must hold whole 32-lane warps");
#elif !defined(GDN_GPU_HIP)
constexpr int kWaveSize = 32;
#endif

#if defined(GDN_GPU_HIP)
__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(bf16 x) { return static_cast<float>(x); }
__device__ __forceinline__ float to_f32(f16 x) { return __half2float(x); }

template <typename T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ float from_f32<float>(float x) {
    return x;
}
template <>
__device__ __forceinline__ bf16 from_f32<bf16>(float x) {
    return bf16(x);
}  // RNE
template <>
__device__ __forceinline__ f16 from_f32<f16>(float x) {
    return __float2half_rn(x);
}
#else
__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f32(f16 x) { return __half2float(x); }

template <typename T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ float from_f32<float>(float x) {
    return x;
}
template <>
__device__ __forceinline__ bf16 from_f32<bf16>(float x) {
    return __float2bfloat16_rn(x);
}
template <>
__device__ __forceinline__ f16 from_f32<f16>(float x) {
    return __float2half_rn(x);
}
#endif

// Lane of the calling thread in its 32-lane warp (1-D thread blocks).
__device__ __forceinline__ int lane_in_warp() { return static_cast<int>(threadIdx.x) & (kWarpSize - 1); }

// 2^x, approximate, results below the normal range flushed to zero (one instruction on NVIDIA
// GPUs; __expf adds a rescaling for subnormal results that callers such as SiLU do not need).
#if defined(GDN_GPU_HIP)
__device__ __forceinline__ float exp2_approx_ftz(float x) { return exp2f(x); }  // flushing optional
#else
__device__ __forceinline__ float exp2_approx_ftz(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
#endif
// 1 / sqrt(x), approximate, for normal x (subnormal x flushed to zero; rsqrtf adds their rescaling).
#if defined(GDN_GPU_HIP)
__device__ __forceinline__ float rsqrt_approx_ftz(float x) { return rsqrtf(x); }
#else
__device__ __forceinline__ float rsqrt_approx_ftz(float x) {
    float y;
    asm("rsqrt.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
#endif

// ---- warp collectives (full warp participates) ---------------------------------------------------
#if defined(GDN_GPU_HIP)
// HIP's shuffles take no mask and act on the whole wavefront unless given a width: width
// kWarpSize keeps lane indices (and xor partners) inside the caller's 32-lane warp on wave64.
__device__ __forceinline__ float warp_xor(float v, int lane_mask) { return __shfl_xor(v, lane_mask, kWarpSize); }
__device__ __forceinline__ float warp_up(float v, int delta) {
    return __shfl_up(v, static_cast<unsigned>(delta), kWarpSize);
}
__device__ __forceinline__ double warp_up(double v, int delta) {
    return __shfl_up(v, static_cast<unsigned>(delta), kWarpSize);
}
__device__ __forceinline__ double warp_bcast(double v, int src_lane) { return __shfl(v, src_lane, kWarpSize); }
__device__ __forceinline__ float warp_bcast(float v, int src_lane) { return __shfl(v, src_lane, kWarpSize); }
__device__ __forceinline__ uint32_t warp_bcast(uint32_t v, int src_lane) {
    return static_cast<uint32_t>(__shfl(static_cast<int>(v), src_lane, kWarpSize));
}
#else
__device__ __forceinline__ uint32_t warp_bcast(uint32_t v, int src_lane) {
    return __shfl_sync(0xffffffffu, v, src_lane);
}
__device__ __forceinline__ float warp_xor(float v, int lane_mask) { return __shfl_xor_sync(0xffffffffu, v, lane_mask); }
__device__ __forceinline__ float warp_up(float v, int delta) { return __shfl_up_sync(0xffffffffu, v, delta); }
__device__ __forceinline__ double warp_up(double v, int delta) { return __shfl_up_sync(0xffffffffu, v, delta); }
__device__ __forceinline__ double warp_bcast(double v, int src_lane) { return __shfl_sync(0xffffffffu, v, src_lane); }
__device__ __forceinline__ float warp_bcast(float v, int src_lane) { return __shfl_sync(0xffffffffu, v, src_lane); }
#endif
// Orders the shared-memory accesses of a warp's lanes before the point against those after it.
#if defined(GDN_GPU_HIP)
// A wavefront's lanes run in lockstep and its LDS accesses complete in order; the compiler must
// not move them across the point.
__device__ __forceinline__ void warp_sync() { __builtin_amdgcn_wave_barrier(); }
#else
__device__ __forceinline__ void warp_sync() { __syncwarp(); }
#endif
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = kWarpSize / 2; o > 0; o >>= 1) v += warp_xor(v, o);
    return v;
}

// ---- tensor-core fragments ------------------------------------------------------------------------
// Fragment contract (the NVIDIA m16n8 layouts; a port must provide the same mapping):
//   lane = 4*g + t (g in 0..7, t in 0..3)
//   C/D (16x8 f32): d[0]=(g,2t) d[1]=(g,2t+1) d[2]=(g+8,2t) d[3]=(g+8,2t+1)
//   tf32 m16n8k8:  A a[0]=(g,t) a[1]=(g+8,t) a[2]=(g,t+4) a[3]=(g+8,t+4); B b[0]=(k=t,n=g) b[1]=(t+4,g)
//   f16 m16n8k16:  A a[0]=(g,2t:2t+1) a[1]=(g+8,2t:) a[2]=(g,2t+8:) a[3]=(g+8,2t+8:);
//                  B b[0]=(k=2t:2t+1,n=g) b[1]=(k=2t+8:2t+9,n=g)
#if !defined(GDN_GPU_EMULATE_MMA)
__device__ __forceinline__ uint32_t tf32_bits(float x) {
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}

__device__ __forceinline__ void mma_tf32_16x8x8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ void mma_f16_16x8x16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// ldmatrix: N (1, 2 or 4) 8x8 matrices of 16-bit values from shared memory in one instruction;
// lane l gives the address of row l % 8 of matrix l / 8 (16-byte aligned). Register q of lane
// 4g + t receives matrix q's (row g, columns 2t and 2t + 1), lower column in the lower half; with
// TRANS its (rows 2t and 2t + 1, column g). Only where the fragments are native (not emulated).
#define GDN_GPU_HAS_LDMATRIX 1
template <int N, bool TRANS>
__device__ __forceinline__ void ldmatrix(uint32_t (&r)[N], const void* row) {
    const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row));
    if constexpr (N == 4 && TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(a));
    else if constexpr (N == 4)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(a));
    else if constexpr (N == 2 && TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                     : "=r"(r[0]), "=r"(r[1])
                     : "r"(a));
    else if constexpr (N == 2)
        asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(a));
    else if constexpr (TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(a));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(a));
}
#else
// Emulation of the two products above with the same fragment contract: each lane gathers the
// A row and B column pieces it needs from the other lanes of its warp (shuffles) and
// accumulates in f32 with FMAs. Operands are read as the tensor cores read them (tf32: the top
// 19 bits of the f32, so callers may pass raw f32 bits or tf32_bits() values; f16 products are
// exact in f32), so results differ from CUDA's only in the order of the f32 additions.
// Cost: 32 shuffles per product. TODO(perf): MFMA (gfx90a/gfx940, wave64) and WMMA (gfx11).

// f32 -> tf32 bit pattern as cvt.rna.tf32.f32 rounds it (nearest, ties away from zero; the low
// 13 bits zero); Inf and NaN pass through.
__device__ __forceinline__ uint32_t tf32_bits(float x) {
    uint32_t u = __float_as_uint(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return u;
    u += 0x1000u;  // half an ulp of tf32 on the magnitude: ties round away from zero
    return u & 0xffffe000u;
}
// The value a tensor core reads from an operand register: its top 19 bits.
__device__ __forceinline__ float tf32_value(uint32_t bits) { return __uint_as_float(bits & 0xffffe000u); }

__device__ __forceinline__ void mma_tf32_16x8x8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    const int lane = lane_in_warp(), g = lane >> 2, t = lane & 3;
    const int arow = 4 * g;     // lanes 4g..4g+3 hold rows g and g+8 of A
    const int bc0 = 8 * t;      // lanes 4n..4n+3 hold column n of B: n = 2t
    const int bc1 = 8 * t + 4;  //                                    n = 2t + 1
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        const float a_g_k = tf32_value(warp_bcast(a[0], arow + k));   // A(g, k)
        const float a_h_k = tf32_value(warp_bcast(a[1], arow + k));   // A(g+8, k)
        const float a_g_k4 = tf32_value(warp_bcast(a[2], arow + k));  // A(g, k+4)
        const float a_h_k4 = tf32_value(warp_bcast(a[3], arow + k));  // A(g+8, k+4)
        const float b_k_0 = tf32_value(warp_bcast(b[0], bc0 + k));    // B(k, 2t)
        const float b_k_1 = tf32_value(warp_bcast(b[0], bc1 + k));    // B(k, 2t+1)
        const float b_k4_0 = tf32_value(warp_bcast(b[1], bc0 + k));   // B(k+4, 2t)
        const float b_k4_1 = tf32_value(warp_bcast(b[1], bc1 + k));   // B(k+4, 2t+1)
        d[0] = fmaf(a_g_k, b_k_0, fmaf(a_g_k4, b_k4_0, d[0]));
        d[1] = fmaf(a_g_k, b_k_1, fmaf(a_g_k4, b_k4_1, d[1]));
        d[2] = fmaf(a_h_k, b_k_0, fmaf(a_h_k4, b_k4_0, d[2]));
        d[3] = fmaf(a_h_k, b_k_1, fmaf(a_h_k4, b_k4_1, d[3]));
    }
}

// The two f16 halves of a fragment register (lower address = lower 16 bits) as f32.
__device__ __forceinline__ float f16_lo(uint32_t v) {
    return __half2float(__ushort_as_half(static_cast<unsigned short>(v & 0xffffu)));
}
__device__ __forceinline__ float f16_hi(uint32_t v) {
    return __half2float(__ushort_as_half(static_cast<unsigned short>(v >> 16)));
}

__device__ __forceinline__ void mma_f16_16x8x16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    const int lane = lane_in_warp(), g = lane >> 2, t = lane & 3;
    const int arow = 4 * g, bc0 = 8 * t, bc1 = 8 * t + 4;
#pragma unroll
    for (int kp = 0; kp < 4; ++kp) {  // k = 2kp, 2kp+1 (registers 0/1) and 2kp+8, 2kp+9 (2/3)
        const uint32_t ag = warp_bcast(a[0], arow + kp), ah = warp_bcast(a[1], arow + kp);
        const uint32_t ag8 = warp_bcast(a[2], arow + kp), ah8 = warp_bcast(a[3], arow + kp);
        const uint32_t b0 = warp_bcast(b[0], bc0 + kp), b1 = warp_bcast(b[0], bc1 + kp);
        const uint32_t b08 = warp_bcast(b[1], bc0 + kp), b18 = warp_bcast(b[1], bc1 + kp);
        const float x[8] = {f16_lo(ag), f16_hi(ag), f16_lo(ag8), f16_hi(ag8),    // row g
                            f16_lo(ah), f16_hi(ah), f16_lo(ah8), f16_hi(ah8)};   // row g+8
        const float y0[4] = {f16_lo(b0), f16_hi(b0), f16_lo(b08), f16_hi(b08)};  // column 2t
        const float y1[4] = {f16_lo(b1), f16_hi(b1), f16_lo(b18), f16_hi(b18)};  // column 2t+1
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            d[0] = fmaf(x[e], y0[e], d[0]);
            d[1] = fmaf(x[e], y1[e], d[1]);
            d[2] = fmaf(x[4 + e], y0[e], d[2]);
            d[3] = fmaf(x[4 + e], y1[e], d[3]);
        }
    }
}
#endif

// ---- asynchronous global -> shared copies (16 bytes, both sides 16-byte aligned) ------------------------
// Contract: the copy is complete after cp_async_wait_all() in the issuing thread, or after
// cp_async_wait_group<N>() once N or fewer later groups were committed (then a barrier makes it
// visible to the block). HIP has no such copy: a plain 16-byte load and store, complete at once.
#if defined(GDN_GPU_HIP)
__device__ __forceinline__ void cp_async16(void* smem_dst, const void* gmem_src) {
    *static_cast<float4*>(smem_dst) = *static_cast<const float4*>(gmem_src);
}
__device__ __forceinline__ void cp_async_wait_all() {}
__device__ __forceinline__ void cp_async_commit() {}
template <int N>
__device__ __forceinline__ void cp_async_wait_group() {}
#else
__device__ __forceinline__ void cp_async16(void* smem_dst, const void* gmem_src) {
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem_dst));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem_src) : "memory");
}
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;\n" ::: "memory"); }
// Groups: cp_async_commit() closes the group of this thread's copies issued since the last one;
// cp_async_wait_group<N>() waits until at most the N most recent groups are still in flight.
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait_group() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
#endif

// ---- barriers in shared memory between producer and consumer warps (CUDA, sm_80 and newer) ---------
// An mbarrier completes a phase once `count` arrivals have been made; a waiter names the phase by
// its parity (0 for the first phase, then 1, 0, ...) and then sees the memory the arrivals released.
// mbar_arrive_on_copies is an arrival made when every cp.async this thread issued before it has
// landed (it does not release the thread's plain stores: those need an mbar_arrive of their own).
// HIP has no such barriers: its kernels keep block-wide barriers (kAsyncBarriers false), and these
// are never called there.
#if defined(GDN_GPU_HIP)
constexpr bool kAsyncBarriers = false;
__device__ __forceinline__ void mbar_init(uint64_t*, unsigned) {}
__device__ __forceinline__ void mbar_arrive(uint64_t*) {}
__device__ __forceinline__ void mbar_arrive_on_copies(uint64_t*) {}
__device__ __forceinline__ void mbar_wait(uint64_t*, unsigned) {}
__device__ __forceinline__ void sync_threads_named(int, int) { __syncthreads(); }
#else
constexpr bool kAsyncBarriers = true;
__device__ __forceinline__ unsigned smem_u32(const void* p) {
    return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(uint64_t* bar, unsigned count) {
    asm volatile("mbarrier.init.shared.b64 [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
    asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.shared.b64 st, [%0];\n}\n" ::"r"(smem_u32(bar)) : "memory");
}
__device__ __forceinline__ void mbar_arrive_on_copies(uint64_t* bar) {
    asm volatile("cp.async.mbarrier.arrive.noinc.shared.b64 [%0];\n" ::"r"(smem_u32(bar)) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t* bar, unsigned parity) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile(
        "{\n.reg .pred done;\nWAIT_%=:\n"
        "mbarrier.try_wait.parity.shared.b64 done, [%0], %1;\n"
        "@!done bra WAIT_%=;\n}\n" ::"r"(smem_u32(bar)),
        "r"(parity)
        : "memory");
#else
    asm volatile(
        "{\n.reg .pred done;\nWAIT_%=:\n"
        "mbarrier.test_wait.parity.shared.b64 done, [%0], %1;\n"
        "@!done bra WAIT_%=;\n}\n" ::"r"(smem_u32(bar)),
        "r"(parity)
        : "memory");
#endif
}
// A block barrier among `threads` threads (whole warps) only, by hardware barrier `id` (1..15;
// __syncthreads is 0): the consumer warps synchronize without their producer.
__device__ __forceinline__ void sync_threads_named(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
#endif

// ---- programmatic dependent launch (sm_90 and newer) --------------------------------------------------
// A kernel launched with gdn_rt::LaunchOn::overlap_previous may be scheduled while the kernel before
// it in the stream is still draining. wait_previous_grid() returns once that kernel has completed
// and its writes are visible, so every kernel calls it before its first global memory access; it
// returns at once where the launch did not overlap (or the target has no such launch: sm_80, HIP).
// allow_next_grid() lets the next overlapping kernel start once every block of this one has called
// it or exited (all of this grid's blocks are then resident, so the next grid's waiting blocks
// can only take the places this grid's finished blocks free).
__device__ __forceinline__ void wait_previous_grid() {
#if !defined(GDN_GPU_HIP) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void allow_next_grid() {
#if !defined(GDN_GPU_HIP) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// A load that may race with another kernel's store of the same address (it returns the old or the
// new value; a relaxed atomic read where the target has one). For guesses made before
// wait_previous_grid(), never for values a result depends on.
__device__ __forceinline__ int64_t load_racy(const int64_t* p) {
#if !defined(GDN_GPU_HIP) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
    int64_t v;
    asm volatile("ld.relaxed.gpu.global.s64 %0, [%1];\n" : "=l"(v) : "l"(p) : "memory");
    return v;
#else
    return *static_cast<const volatile int64_t*>(p);
#endif
}
// Pulls `bytes` (a multiple of 16) from a 16-byte aligned global address into L2; a hint with no
// effect on results (nothing where the target has no bulk prefetch).
__device__ __forceinline__ void prefetch_l2(const void* p, uint32_t bytes) {
#if !defined(GDN_GPU_HIP) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(p), "r"(bytes) : "memory");
#else
    (void)p;
    (void)bytes;
#endif
}

// ---- memory ordering between blocks ---------------------------------------------------------------
__device__ __forceinline__ void fence_device() { __threadfence(); }
__device__ __forceinline__ int atomic_add(int* p, int v) { return atomicAdd(p, v); }

}  // namespace gdn_gpu

// ---- host runtime ------------------------------------------------------------------------------------
// The host side of a plugin calls the runtime through these names, so that a HIP build maps them
// in one place (hipMalloc etc. have the same semantics for what we use).
#if defined(GDN_GPU_HIP)
namespace gdn_rt {
using Error = hipError_t;
using Stream = hipStream_t;
using DeviceProp = hipDeviceProp_t;
constexpr Error kSuccess = hipSuccess;
constexpr Error kErrInsufficientDriver = hipErrorInsufficientDriver;
constexpr Error kErrNoDevice = hipErrorNoDevice;
constexpr Error kErrMemoryAllocation = hipErrorOutOfMemory;
constexpr const char* kApi = "hip";  // prefix of the runtime's function names, for messages
inline const char* error_string(Error e) { return hipGetErrorString(e); }
inline const char* error_name(Error e) { return hipGetErrorName(e); }
inline Error get_last_error() { return hipGetLastError(); }
// Errors that mean "this runtime/driver/code object cannot serve this device", not a bug.
inline bool is_driver_error(Error e) {
    return e == hipErrorInsufficientDriver || e == hipErrorNoBinaryForGpu || e == hipErrorSharedObjectInitFailed;
}
inline Error device_count(int* n) { return hipGetDeviceCount(n); }
inline Error set_device(int d) { return hipSetDevice(d); }
inline Error device_properties(DeviceProp* p, int d) { return hipGetDeviceProperties(p, d); }
// AMD has no opt-in beyond the default: the limit is the LDS one work-group may use (64 KiB on
// gfx90a, gfx940/942 and gfx10/11; 160 KiB on gfx950).
inline Error device_attribute_smem_optin(int* v, int d) {
    return hipDeviceGetAttribute(v, hipDeviceAttributeMaxSharedMemoryPerBlock, d);
}
// "gfx90a", "gfx1030", ...: the ISA name without target features (":sramecc+:xnack-").
inline void device_arch(const DeviceProp& p, char* out, size_t cap) {
    size_t i = 0;
    for (; i + 1 < cap && p.gcnArchName[i] && p.gcnArchName[i] != ':'; ++i) out[i] = p.gcnArchName[i];
    if (cap) out[i] = '\0';
}
inline Error stream_create_nonblocking(Stream* s) { return hipStreamCreateWithFlags(s, hipStreamNonBlocking); }
inline Error stream_destroy(Stream s) { return hipStreamDestroy(s); }
inline Error stream_flags(Stream s, unsigned* flags) { return hipStreamGetFlags(s, flags); }
inline Error stream_synchronize(Stream s) { return hipStreamSynchronize(s); }
inline Error stream_is_capturing(Stream s, bool* capturing) {
    hipStreamCaptureStatus st = hipStreamCaptureStatusNone;
    Error e = hipStreamIsCapturing(s, &st);
    *capturing = st != hipStreamCaptureStatusNone;
    return e;
}
inline Error malloc_device(void** p, size_t n) { return hipMalloc(p, n); }
inline Error free_device(void* p) { return hipFree(p); }
inline Error memset_async(void* p, int v, size_t n, Stream s) { return hipMemsetAsync(p, v, n, s); }
enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };
inline Error memcpy_async(void* d, const void* s, size_t n, CopyKind k, Stream st) {
    hipMemcpyKind kind = k == CopyKind::HostToDevice   ? hipMemcpyHostToDevice
                         : k == CopyKind::DeviceToHost ? hipMemcpyDeviceToHost
                                                       : hipMemcpyDeviceToDevice;
    return hipMemcpyAsync(d, s, n, kind, st);
}
template <typename K>
inline Error set_max_dynamic_smem(K kernel, int bytes) {
    return hipFuncSetAttribute(reinterpret_cast<const void*>(kernel), hipFuncAttributeMaxDynamicSharedMemorySize,
                               bytes);
}
// Where a kernel goes: its stream, and whether it may overlap the previous kernel in that stream
// (programmatic dependent launch; HIP has none, so such launches are ordinary ones there).
struct LaunchOn {
    Stream stream;
    bool overlap_previous;
};
template <typename... P, typename... A>
inline Error launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, LaunchOn on, A... args) {
    kernel<<<grid, block, smem, on.stream>>>(args...);
    return hipGetLastError();
}
}  // namespace gdn_rt
#else
namespace gdn_rt {
using Error = cudaError_t;
using Stream = cudaStream_t;
using DeviceProp = cudaDeviceProp;
constexpr Error kSuccess = cudaSuccess;
constexpr Error kErrInsufficientDriver = cudaErrorInsufficientDriver;
constexpr Error kErrNoDevice = cudaErrorNoDevice;
constexpr Error kErrMemoryAllocation = cudaErrorMemoryAllocation;
inline const char* error_string(Error e) { return cudaGetErrorString(e); }
inline const char* error_name(Error e) { return cudaGetErrorName(e); }
inline Error get_last_error() { return cudaGetLastError(); }
inline Error device_count(int* n) { return cudaGetDeviceCount(n); }
inline Error set_device(int d) { return cudaSetDevice(d); }
inline Error device_properties(DeviceProp* p, int d) { return cudaGetDeviceProperties(p, d); }
inline Error device_attribute_smem_optin(int* v, int d) {
    return cudaDeviceGetAttribute(v, cudaDevAttrMaxSharedMemoryPerBlockOptin, d);
}
inline Error stream_create_nonblocking(Stream* s) { return cudaStreamCreateWithFlags(s, cudaStreamNonBlocking); }
inline Error stream_destroy(Stream s) { return cudaStreamDestroy(s); }
inline Error stream_flags(Stream s, unsigned* flags) { return cudaStreamGetFlags(s, flags); }
inline Error stream_synchronize(Stream s) { return cudaStreamSynchronize(s); }
inline Error stream_is_capturing(Stream s, bool* capturing) {
    cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
    Error e = cudaStreamIsCapturing(s, &st);
    *capturing = st != cudaStreamCaptureStatusNone;
    return e;
}
inline Error malloc_device(void** p, size_t n) { return cudaMalloc(p, n); }
inline Error free_device(void* p) { return cudaFree(p); }
inline Error memset_async(void* p, int v, size_t n, Stream s) { return cudaMemsetAsync(p, v, n, s); }
enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };
inline Error memcpy_async(void* d, const void* s, size_t n, CopyKind k, Stream st) {
    cudaMemcpyKind kind = k == CopyKind::HostToDevice   ? cudaMemcpyHostToDevice
                          : k == CopyKind::DeviceToHost ? cudaMemcpyDeviceToHost
                                                        : cudaMemcpyDeviceToDevice;
    return cudaMemcpyAsync(d, s, n, kind, st);
}
template <typename K>
inline Error set_max_dynamic_smem(K kernel, int bytes) {
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}
// Where a kernel goes: its stream, and whether it may overlap the previous kernel in that stream
// (programmatic dependent launch, compute capability 9.0 and newer: the kernel's blocks may be
// scheduled while the previous kernel drains and wait in wait_previous_grid(); the dependency is
// kept, only the launch latency and the previous kernel's tail are overlapped). Captured into a
// CUDA graph as a programmatic edge.
struct LaunchOn {
    Stream stream;
    bool overlap_previous;
};
template <typename... P, typename... A>
inline Error launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, LaunchOn on, A... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = on.stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = on.overlap_previous ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, args...);
}
// Vendor-neutral names a host file shared by both builds can use (see the HIP half).
constexpr const char* kApi = "cuda";
inline bool is_driver_error(Error e) {
    return e == cudaErrorInsufficientDriver || e == cudaErrorNoKernelImageForDevice ||
           e == cudaErrorUnsupportedPtxVersion || e == cudaErrorCompatNotSupportedOnDevice;
}
inline void device_arch(const DeviceProp& p, char* out, size_t cap) {
    if (cap) std::snprintf(out, cap, "sm_%d%d", p.major, p.minor);
}
}  // namespace gdn_rt
#endif

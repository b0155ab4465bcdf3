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

#if defined(__HIP_PLATFORM_AMD__) || defined(__HIPCC__)
#error "plugins/gpu/vendor.cuh: the HIP half of the vendor layer is not written yet (see DESIGN.md)"
#else
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#endif

namespace gdn_gpu {

// ---- types -------------------------------------------------------------------------------------
using bf16 = __nv_bfloat16;
using f16 = __half;

constexpr int kWarpSize = 32;

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f32(f16 x) { return __half2float(x); }

template <typename T> __device__ __forceinline__ T from_f32(float x);
template <> __device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_f32<bf16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ f16 from_f32<f16>(float x) { return __float2half_rn(x); }

// ---- warp collectives (full warp participates) ---------------------------------------------------
__device__ __forceinline__ float warp_xor(float v, int lane_mask) {
    return __shfl_xor_sync(0xffffffffu, v, lane_mask);
}
__device__ __forceinline__ float warp_up(float v, int delta) {
    return __shfl_up_sync(0xffffffffu, v, delta);
}
__device__ __forceinline__ double warp_up(double v, int delta) {
    return __shfl_up_sync(0xffffffffu, v, delta);
}
__device__ __forceinline__ double warp_bcast(double v, int src_lane) {
    return __shfl_sync(0xffffffffu, v, src_lane);
}
__device__ __forceinline__ float warp_bcast(float v, int src_lane) {
    return __shfl_sync(0xffffffffu, v, src_lane);
}
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

// ---- memory ordering between blocks ---------------------------------------------------------------
__device__ __forceinline__ void fence_device() { __threadfence(); }
__device__ __forceinline__ int atomic_add(int* p, int v) { return atomicAdd(p, v); }

} // namespace gdn_gpu

// ---- host runtime ------------------------------------------------------------------------------------
// The host side of a plugin calls the runtime through these names, so that a HIP build maps them
// in one place (hipMalloc etc. have the same semantics for what we use).
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
template <typename K> inline Error set_max_dynamic_smem(K kernel, int bytes) {
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}
} // namespace gdn_rt

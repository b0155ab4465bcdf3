// The per-dtype entry points of the ROCm plugin's kernels (one translation unit each).
#pragma once

#include "../gpu/gdn_common.cuh"

namespace gdn_rocm {
gdn_rt::Error forward_f32(const gdn_gpu::GdnParams& p, const gdn_gpu::LaunchPlan& plan, gdn_rt::Stream s);
gdn_rt::Error forward_bf16(const gdn_gpu::GdnParams& p, const gdn_gpu::LaunchPlan& plan, gdn_rt::Stream s);
gdn_rt::Error forward_f16(const gdn_gpu::GdnParams& p, const gdn_gpu::LaunchPlan& plan, gdn_rt::Stream s);
size_t seq_smem_bytes(int Dk, int dvs, bool exact, int kbufs, int sbufs);
size_t prep_smem_bytes(int Dk, bool exact, bool fused);
}  // namespace gdn_rocm

// Kernel instantiations for f32 activations.
#include "../gpu/gdn_launch.cuh"
#include "forward.hpp"

namespace gdn_cuda {
gdn_rt::Error forward_f32(const gdn_gpu::GdnParams& p, const gdn_gpu::LaunchPlan& plan, gdn_rt::Stream s) {
    return gdn_gpu::launch_forward<float>(p, plan, s);
}
size_t seq_smem_bytes(int Dk, int dvs, bool exact, int kbufs, int sbufs) {
    return gdn_gpu::seq_smem_bytes(Dk, dvs, exact, kbufs, sbufs);
}
// fused: the variant that computes q̂, k̂ itself (gdn_gpu::prep_fused decides, as launch_prefill does).
size_t prep_smem_bytes(int Dk, bool exact, bool fused) { return gdn_gpu::prep_smem_bytes(Dk, exact, fused); }
}  // namespace gdn_cuda

// Kernel instantiations for bf16 activations.
#include "../gpu/gdn_launch.cuh"
#include "forward.hpp"

namespace gdn_cuda {
gdn_rt::Error forward_bf16(const gdn_gpu::GdnParams& p, const gdn_gpu::LaunchPlan& plan, gdn_rt::Stream s) {
    return gdn_gpu::launch_forward<gdn_gpu::bf16>(p, plan, s);
}
}  // namespace gdn_cuda

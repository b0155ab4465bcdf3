// Kernel instantiations for bf16 activations.
#include "forward.inl"

namespace gdn_rocm {
gdn_rt::Error forward_bf16(const gdn_gpu::GdnParams& p, const gdn_gpu::LaunchPlan& plan, gdn_rt::Stream s) {
    return gdn_gpu::launch_forward<gdn_gpu::bf16>(p, plan, s);
}
}  // namespace gdn_rocm

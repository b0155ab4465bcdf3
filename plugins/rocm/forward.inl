// One activation dtype's kernels: the shared launchers of plugins/gpu (the same as the CUDA
// plugin's) and the token-by-token extend for devices whose LDS cannot hold the chunked one.
#include "../gpu/gdn_launch.cuh"
#include "../gpu/gdn_recurrent.cuh"
#include "forward.hpp"
#include "targets.hpp"

namespace gdn_rocm {
namespace {
template <typename Act>
gdn_rt::Error forward(const gdn_gpu::GdnParams& p, const gdn_gpu::LaunchPlan& plan, int recurrent_rpw,
                      gdn_rt::Stream s) {
    if (recurrent_rpw == 0 || !plan.extend) return gdn_gpu::launch_forward<Act>(p, plan, s);
    gdn_gpu::LaunchPlan decode_only = plan;
    decode_only.extend = false;
    if (plan.decode) {
        const gdn_rt::Error e = gdn_gpu::launch_forward<Act>(p, decode_only, s);
        if (e != gdn_rt::kSuccess) return e;
    }
    return gdn_gpu::launch_recurrent<Act>(p, recurrent_rpw, s);
}
} // namespace
} // namespace gdn_rocm

// What each per-dtype translation unit of the ROCm plugin compiles: the shared launchers of
// plugins/gpu, the same as the CUDA plugin's (the token-by-token extend for devices whose LDS
// cannot hold the chunked prefill included: LaunchPlan::extend_rpw).
#include "../gpu/gdn_launch.cuh"
#include "forward.hpp"
#include "targets.hpp"

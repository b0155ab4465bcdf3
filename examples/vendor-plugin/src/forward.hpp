// The GDN layer, computed plainly: one thread, one request after another, one token after
// another, in the order of the function's definition.
#pragma once

#include "gdn/plugin.h"

namespace myvendor {

// What this backend declares (gdn_capabilities); check_forward refuses everything else.
constexpr int kMinHeadDim = 1, kMaxHeadDim = 4096;
constexpr int kMinConvKernel = 2, kMaxConvKernel = 4;
constexpr int kMaxGvaRatio = 31;

// GDN_OK, or GDN_ERR_UNSUPPORTED / GDN_ERR_INVALID_ARGUMENT with a message; writes nothing.
gdn_status check_forward(const gdn_forward_args& args, gdn_errbuf err);

// Runs the layer. `args` has passed check_forward.
void forward(const gdn_forward_args& args);

}  // namespace myvendor

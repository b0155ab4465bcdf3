// forward_gdn: checks the call against the capabilities, then runs it in the stream's arena.
#pragma once

#include "gdn/plugin.h"
#include "stream.hpp"

namespace gdn_cpu {

// The capability limits that validation enforces and device_capabilities reports.
inline constexpr int kMinHeadDim = 8, kMaxHeadDim = 256;
inline constexpr int kMinConvKernel = 2, kMaxConvKernel = 4;
inline constexpr int kMaxGvaRatio = 31;
// ABI 1.2: recurrent-state dtypes and GDN_FEATURE_* bits this backend runs.
inline constexpr uint32_t kStateDtypes = (1u << GDN_DTYPE_F32) | (1u << GDN_DTYPE_BF16) | (1u << GDN_DTYPE_F16);
inline constexpr uint32_t kFeatures = GDN_FEATURE_WRITE_SLOTS | GDN_FEATURE_NO_OUTPUT | GDN_FEATURE_CHECKPOINTS |
                                      GDN_FEATURE_ACCEPTED | GDN_FEATURE_BATCH_INVARIANT;

// Refuses (writing nothing) or computes the whole layer call; may throw std::bad_alloc.
gdn_status forward(Stream& stream, const gdn_forward_args& args, gdn_errbuf err);

}  // namespace gdn_cpu

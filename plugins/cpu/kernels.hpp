// The compute kernels as seen from the ISA-neutral part of the plugin: one table per ISA the
// kernel sources were compiled for (x86-64-v3: AVX2; x86-64-v4: AVX-512), chosen at run time.
// Only plain functions cross: threading (oneTBB) and scratch ownership stay in baseline code,
// so no inline template of TBB or the standard library is compiled for two ISAs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "problem.hpp"

namespace gdn_cpu {

struct Kernels {
    const char* isa;
    // Floats of per-worker scratch that run_group needs for this call's shapes.
    std::size_t (*scratch_floats)(const Problem& p);
    // One task: the layer over one group (request, key head, value-column block).
    void (*run_group)(const Problem& p, const GroupTask& t, float* scratch);
    // The new conv state of request `req`, every channel (after all its groups have run).
    void (*update_conv_state)(const Problem& p, int64_t req);
};

namespace v3 {
const Kernels& kernels();
}
namespace v4 {
const Kernels& kernels();
}

// v4 where the CPU has AVX-512 (F, BW, CD, DQ, VL) unless GDN_CPU_ISA=v3 asks for the fallback.
const Kernels& select_kernels();

}  // namespace gdn_cpu

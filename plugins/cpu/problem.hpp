// One forward_gdn call, decoded from gdn_forward_args into what the kernels need: sizes, base
// pointers and the strides that may differ from packed. Built once per call after validation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gdn/plugin.h"

namespace gdn_cpu {

struct Problem {
    int H, HV, Dk, Dv, Kc, ratio, conv_dim;
    int64_t T, B, padding_slot;
    gdn_dtype act;

    const void* qkv;  // [T, conv_dim], row stride qkv_ld
    int64_t qkv_ld;
    const void* a;  // [T, HV], row stride a_ld
    int64_t a_ld;
    const void* b;  // [T, HV], row stride b_ld
    int64_t b_ld;
    const void* conv_w;  // [conv_dim, Kc]
    const float* A_log;  // [HV]
    const float* dt_bias;  // [HV]
    const int64_t* cu;  // [B + 1], host copy
    const int64_t* slots;  // [B], host copy
    float* rstate;  // [slots, HV, Dv, Dk], slot stride rstate_stride
    int64_t rstate_stride;
    void* cstate;  // [slots, conv_dim, Kc - 1], slot stride cstate_stride
    int64_t cstate_stride;
    void* out;  // [T, HV * Dv], packed
};

// One unit of parallel work: request `req`, key head `h` and all value heads that read it,
// restricted to the value columns [col0, col1) of their states (the whole Dv unless there are
// too few (request, head) pairs to keep every thread busy).
struct GroupTask {
    int64_t req;
    int h;
    int col0, col1;
    bool chunked;
    bool write_conv_state;  // false when column blocks of one group run concurrently
};

}  // namespace gdn_cpu

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
    const void* conv_w;    // [conv_dim, Kc]
    const float* A_log;    // [HV]
    const float* dt_bias;  // [HV]
    const int64_t* cu;     // [B + 1], host copy
    const int64_t* slots;  // [B], host copy
    void* rstate;          // [slots, HV, Dv, Dk] in `state`, slot stride rstate_stride
    int64_t rstate_stride;
    gdn_dtype state;  // recurrent-state dtype: f32, bf16 or f16
    void* cstate;     // [slots, conv_dim, Kc - 1], slot stride cstate_stride
    int64_t cstate_stride;
    void* out;  // [T, HV * Dv], packed; NULL: no output

    // ABI 1.2 (NULL when the call does not use them).
    const int64_t* write_slots;  // [B], GDN_SLOT_NONE: no state write; NULL: the read slots
    const int64_t* accepted;     // [B], tokens that run; NULL: all
    const int64_t* ck_cu;        // [B + 1] into ck_pos / ck_slots; NULL: no checkpoints
    const int64_t* ck_pos;
    const int64_t* ck_slots;
    // Conformance mutants only (never set by the plugin itself): store 16-bit states by
    // truncation instead of rounding to nearest even.
    bool truncate_state = false;
    // Some request's state goes through an f32 copy in scratch (16-bit state, a write slot,
    // checkpoints): the scratch holds room for it.
    bool state_copies = false;

    int64_t write_slot(int64_t r) const { return write_slots ? write_slots[r] : slots[r]; }
    // The tokens of request r that run (and advance its state).
    int64_t run_length(int64_t r) const { return accepted ? accepted[r] : cu[r + 1] - cu[r]; }
    int64_t checkpoints_begin(int64_t r) const { return ck_cu ? ck_cu[r] : 0; }
    int64_t checkpoints_end(int64_t r) const { return ck_cu ? ck_cu[r + 1] : 0; }
    // The state can be updated in place in the pool: f32, written where it was read, no snapshot.
    bool in_place(int64_t r) const {
        return state == GDN_DTYPE_F32 && write_slot(r) == slots[r] && checkpoints_begin(r) == checkpoints_end(r);
    }
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

// One forward_gdn call, decoded from gdn_forward_args into what the kernels need: sizes, base
// pointers and the strides that may differ from packed. Built once per call after validation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gdn/plugin.h"
#include "simd.hpp"

namespace gdn_cpu {

// Tokens per chunk of the chunked prefill. 64 keeps a chunk's matrices (64 x 128 f32 = 32 KiB
// each) inside L2 together with the transposed state, and is what the GPU kernels use.
inline constexpr int kChunk = 64;

struct Problem {
    int H, HV, Dk, Dv, Kc, ratio, conv_dim;
    int dkp, dvp;  // Dk and Dv rounded up to 16: the padded widths of every scratch matrix
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

// Offsets (in floats) of the regions of a worker's scratch for one call's shapes.
struct Layout {
    explicit Layout(const Problem& p) {
        const int C = kChunk;
        const int w = p.dkp > p.dvp ? p.dkp : p.dvp;
        std::size_t at = 0;
        auto take = [&at](std::size_t n) {
            const std::size_t o = at;
            at += (n + 15) / 16 * 16;  // every region starts 64-byte aligned
            return o;
        };
        xw = take(std::size_t(C + p.Kc - 1) * w);
        wt = take(std::size_t(p.Kc) * w);
        Q = take(std::size_t(C) * p.dkp);
        K = take(std::size_t(C) * p.dkp);
        Kt = take(std::size_t(p.dkp) * C);
        KK = take(C * C);
        QK = take(C * C);
        V = take(std::size_t(C) * p.dvp);
        g = take(C);
        beta = take(C);
        gamma = take(2 * C);  // doubles
        eg = take(C);
        dcy = take(C);
        E = take(C * C);
        A = take(C * C);
        Tm = take(C * C);
        T1 = take(C * C);
        T2 = take(C * C);
        P = take(C * C);
        W = take(std::size_t(C) * p.dkp);
        U = take(std::size_t(C) * p.dvp);
        X = take(std::size_t(C) * p.dvp);
        O = take(std::size_t(C) * p.dvp);
        St = take(std::size_t(p.ratio) * p.dkp * p.dvp);
        total = at;
    }
    std::size_t xw, wt, Q, K, Kt, KK, QK, V, g, beta, gamma, eg, dcy, E, A, Tm, T1, T2, P, W, U, X,
        O, St, total;
};

}  // namespace gdn_cpu

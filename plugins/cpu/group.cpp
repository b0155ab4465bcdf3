// One task of a forward call: a group (request, key head, the value heads that read it, a block
// of value columns) from the conv to the output rows and the updated states. Compiled once per
// ISA (see kernels.hpp). The chunks of a group are sequential through its states; the q/k conv,
// norm and key products of a chunk are done once and shared by the group's value heads.
#include <cmath>
#include <cstring>

#include "chunk.hpp"
#include "front_end.hpp"
#include "half.hpp"
#include "kernels.hpp"
#include "matmul.hpp"
#include "recurrent.hpp"
#include "transpose.hpp"

namespace gdn_cpu::GDN_CPU_ISA {

namespace {

// Extra floats per row of a transposed state: a row stride of a power of two (512 B at Dv = 128)
// maps a column walk (the transposes, the B operand of the products) onto a few L1 sets.
constexpr int kStatePad = 16;
static_assert(kChunk <= kMaxTokens, "a chunk of the token-by-token form is one recurrent_tokens call");

// Offsets (in floats) of the regions of a worker's scratch for one call's shapes. Widths are
// padded to whole register tiles (dkp, dvp) so that no kernel has a tail.
struct Layout {
    explicit Layout(const Problem& p) : dkp(round_up(p.Dk, kTileCols)), dvp(round_up(p.Dv, kTileCols)) {
        const int C = kChunk;
        const int w = dkp > dvp ? dkp : dvp;
        std::size_t at = 0;
        auto take = [&at](std::size_t n) {
            const std::size_t o = at;
            at += (n + 15) / 16 * 16;  // every region starts 64-byte aligned
            return o;
        };
        xw = take(std::size_t(C + p.Kc - 1) * w);
        wt = take(std::size_t(p.Kc) * w);
        Q = take(std::size_t(C) * dkp);
        K = take(std::size_t(C) * dkp);
        Kt = take(std::size_t(dkp) * C);
        KK = take(C * C);
        QK = take(C * C);
        V = take(std::size_t(C) * dvp);
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
        W = take(std::size_t(C) * dkp);
        U = take(std::size_t(C) * dvp);
        X = take(std::size_t(C) * dvp);
        O = take(std::size_t(C) * dvp);
        St = take(std::size_t(p.ratio) * dkp * (dvp + kStatePad));
        S32 = p.state_copies ? take(std::size_t(p.ratio) * dvp * dkp) : at;
        total = at;
    }
    int dkp, dvp;
    std::size_t xw, wt, Q, K, Kt, KK, QK, V, g, beta, gamma, eg, dcy, E, A, Tm, T1, T2, P, W, U, X, O, St, S32, total;
};

// The pool keeps a state as S [Dv][Dk]; the chunked form works on St = S^T in scratch, with a
// padded row stride (kStatePad). In place (an f32 state written where it was read) the chunked
// form moves it between the pool and St directly (transpose.hpp); otherwise through
// load_state_transposed / store_state_transposed, which convert the state dtype on the way.
void load_transposed(const float* S, int rows, int Dk, float* St, int64_t ldst) {
    pool_to_transposed<StateF32>(S, rows, Dk, St, ldst);
}
void store_transposed(const float* St, int64_t ldst, int rows, int Dk, float* S) {
    transposed_to_pool<StateF32>(St, ldst, rows, Dk, S);
}

// The conv state of request `req`, channels [ch0, ch0 + width), after the call: each checkpoint's
// (from the read slot, before it changes), then the final one into the write slot.
template <class Act>
void finish_conv_state(const Problem& p, int64_t req, int ch0, int width) {
    const int64_t s0 = p.cu[req], L = p.run_length(req), rslot = p.slots[req], wslot = p.write_slot(req);
    for (int64_t k = p.checkpoints_begin(req); k < p.checkpoints_end(req); ++k)
        copy_conv_state<Act>(p, s0, p.ck_pos[k], rslot, p.ck_slots[k], ch0, width);
    if (wslot == GDN_SLOT_NONE) return;
    if (wslot == rslot)
        update_conv_state<Act>(p, s0, L, rslot, ch0, width);
    else
        copy_conv_state<Act>(p, s0, L, rslot, wslot, ch0, width);
}

template <class Act>
void run_group(const Problem& p, const GroupTask& t, float* base) {
    const Layout lay(p);
    const int64_t s0 = p.cu[t.req], L = p.run_length(t.req), slot = p.slots[t.req], wslot = p.write_slot(t.req);
    const int C = kChunk, Dk = p.Dk, Dv = p.Dv, dkp = lay.dkp;
    const int ncols = t.col1 - t.col0, ldv = round_up(ncols, kTileCols), ldst = ldv + kStatePad;
    const int hv0 = t.h * p.ratio;

    float* Q = base + lay.Q;
    float* K = base + lay.K;
    float* V = base + lay.V;
    float* O = base + lay.O;
    float* g = base + lay.g;
    float* beta = base + lay.beta;
    float* xw = base + lay.xw;
    float* wt = base + lay.wt;
    float* St = base + lay.St;
    const ChunkWork work{
        base + lay.E,  base + lay.A,  base + lay.Tm, base + lay.T1, base + lay.T2,
        base + lay.P,  base + lay.W,  base + lay.U,  base + lay.X,  reinterpret_cast<double*>(base + lay.gamma),
        base + lay.eg, base + lay.dcy};

    // The states of the group's value heads, restricted to our value columns: in the pool itself
    // (f32, written where read, no snapshot), else an f32 copy in scratch, read from the read
    // slot and stored (rounded) to the write slot and the checkpoint slots. Token by token, an
    // f32 state without checkpoints whose tokens fit in one chunk (verify, commit, a fork) needs
    // no copy either: each row goes from the read slot to the write slot (or nowhere) directly.
    const bool in_place = p.in_place(t.req);
    const bool direct = !t.chunked && !in_place && p.state == GDN_DTYPE_F32 && L <= C &&
                        p.checkpoints_begin(t.req) == p.checkpoints_end(t.req);
    float* pool = static_cast<float*>(p.rstate);
    auto in_pool = [&](int64_t at_slot, int i) {
        return pool + at_slot * p.rstate_stride + (int64_t(hv0 + i) * Dv + t.col0) * Dk;
    };
    auto state_of = [&](int i) { return in_place ? in_pool(slot, i) : base + lay.S32 + int64_t(i) * ncols * Dk; };
    // Where the token-by-token form reads a state from and writes it to.
    auto read_from = [&](int i) { return direct ? in_pool(slot, i) : state_of(i); };
    auto write_to = [&](int i) { return !direct ? state_of(i) : wslot == GDN_SLOT_NONE ? nullptr : in_pool(wslot, i); };
    auto scratch_state = [&](int i) { return St + int64_t(i) * dkp * ldst; };
    if (t.chunked) {  // load transposed: St[j][c] = S[c][j], zero padded; no f32 copy
        for (int i = 0; i < p.ratio; ++i) {
            float* st = scratch_state(i);
            std::memset(st, 0, sizeof(float) * dkp * ldst);
            if (in_place)
                load_transposed(state_of(i), ncols, Dk, st, ldst);
            else
                load_state_transposed(p, slot, hv0 + i, t.col0, ncols, st, ldst);
        }
    } else if (!in_place && !direct) {
        for (int i = 0; i < p.ratio; ++i) load_state(p, slot, hv0 + i, t.col0, ncols, state_of(i));
    }
    alignas(64) float decay[C];

    // Chunks end at every checkpoint too, so that the state after exactly that many tokens exists.
    int64_t ck = p.checkpoints_begin(t.req);
    const int64_t ck_end = p.checkpoints_end(t.req);
    const float q_scale = 1.0f / std::sqrt(float(Dk));
    for (int64_t c0 = 0; c0 < L;) {
        int64_t stop = c0 + C < L ? c0 + C : L;
        if (ck < ck_end && p.ck_pos[ck] < stop) stop = p.ck_pos[ck];
        // Only the chunked form reads rows past n (zeroed up to np, a whole register tile).
        const int n = int(stop - c0), np = t.chunked ? round_up(n, kTileRows) : n;
        conv_silu<Act>(p, s0, slot, c0, n, np, t.h * Dk, Dk, Q, dkp, xw, wt);
        conv_silu<Act>(p, s0, slot, c0, n, np, (p.H + t.h) * Dk, Dk, K, dkp, xw, wt);
        l2_normalize_rows(Q, dkp, n, dkp, q_scale);
        l2_normalize_rows(K, dkp, n, dkp, 1.0f);

        const ChunkKeys keys{n, np, dkp, Q, K, base + lay.Kt, base + lay.KK, base + lay.QK};
        if (t.chunked) chunk_keys(keys, base + lay.Kt, base + lay.KK, base + lay.QK);

        for (int i = 0; i < p.ratio; ++i) {
            const int hv = hv0 + i;
            conv_silu<Act>(p, s0, slot, c0, n, np, 2 * p.H * Dk + hv * Dv + t.col0, ncols, V, ldv, xw, wt);
            gates<Act>(p, s0 + c0, n, hv, g, beta);
            if (t.chunked) {
                chunk_head(keys, ldv, V, g, beta, scratch_state(i), ldst, O, work);
            } else if (n == 1 && read_from(i) == write_to(i)) {  // decode
                recurrent_step(state_of(i), Dk, Dk, ncols, K, Q, V, std::exp(g[0]), beta[0], O);
            } else {
                for (int r = 0; r < n; ++r) decay[r] = std::exp(g[r]);
                recurrent_tokens(read_from(i), write_to(i), Dk, Dk, ncols, n, K, Q, dkp, V, ldv, decay, beta, O, ldv);
            }
            if (p.out) write_rows<Act>(p, s0 + c0, n, hv * Dv + t.col0, ncols, O, ldv);
        }
        c0 = stop;
        // The chunked form's state is in St: straight from there into the slot, in one pass.
        for (; ck < ck_end && p.ck_pos[ck] == c0; ++ck)
            for (int i = 0; i < p.ratio; ++i) {
                if (t.chunked)
                    store_state_transposed(p, scratch_state(i), ldst, p.ck_slots[ck], hv0 + i, t.col0, ncols, true);
                else
                    store_state(p, state_of(i), p.ck_slots[ck], hv0 + i, t.col0, ncols);
            }
    }

    if (t.chunked && in_place) {
        for (int i = 0; i < p.ratio; ++i) store_transposed(scratch_state(i), ldst, ncols, Dk, state_of(i));
    } else if (t.chunked && wslot != GDN_SLOT_NONE) {
        for (int i = 0; i < p.ratio; ++i)
            store_state_transposed(p, scratch_state(i), ldst, wslot, hv0 + i, t.col0, ncols, false);
    } else if (!in_place && !direct && wslot != GDN_SLOT_NONE) {
        for (int i = 0; i < p.ratio; ++i) store_state(p, state_of(i), wslot, hv0 + i, t.col0, ncols);
    }
    if (t.chunked && ck_end > p.checkpoints_begin(t.req)) stream_fence();  // the snapshots' streaming stores
    if (t.write_conv_state) {
        finish_conv_state<Act>(p, t.req, t.h * Dk, Dk);
        finish_conv_state<Act>(p, t.req, (p.H + t.h) * Dk, Dk);
        finish_conv_state<Act>(p, t.req, 2 * p.H * Dk + hv0 * Dv, p.ratio * Dv);
    }
}

std::size_t scratch_floats(const Problem& p) { return Layout(p).total; }

// One instantiation per activation dtype (plugin.cpp ties the count to gdn::kActivationDTypes);
// validate() admits no other dtype.
void run_group_any(const Problem& p, const GroupTask& t, float* scratch) {
    switch (p.act) {
        case GDN_DTYPE_F32: run_group<F32>(p, t, scratch); break;
        case GDN_DTYPE_BF16: run_group<BF16>(p, t, scratch); break;
        case GDN_DTYPE_F16: run_group<F16>(p, t, scratch); break;
        case GDN_DTYPE_I32:
        case GDN_DTYPE_I64: break;
    }
}

void update_request_conv_state(const Problem& p, int64_t req) {
    switch (p.act) {
        case GDN_DTYPE_F32: finish_conv_state<F32>(p, req, 0, p.conv_dim); break;
        case GDN_DTYPE_BF16: finish_conv_state<BF16>(p, req, 0, p.conv_dim); break;
        case GDN_DTYPE_F16: finish_conv_state<F16>(p, req, 0, p.conv_dim); break;
        case GDN_DTYPE_I32:
        case GDN_DTYPE_I64: break;
    }
}

}  // namespace

}  // namespace gdn_cpu::GDN_CPU_ISA

namespace gdn_cpu::GDN_CPU_ISA {

#define GDN_CPU_STR2(x) #x
#define GDN_CPU_STR(x) GDN_CPU_STR2(x)

const Kernels& kernels() {
    static const Kernels table{GDN_CPU_STR(GDN_CPU_ISA), &scratch_floats, &run_group_any, &update_request_conv_state};
    return table;
}

}  // namespace gdn_cpu::GDN_CPU_ISA

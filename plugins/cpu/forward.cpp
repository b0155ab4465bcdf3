// Plans and runs one layer call. The unit of parallel work is a group: one request, one key
// head and the value heads that read it (so the q/k conv and norm are done once per group and
// the group owns every conv-state channel it reads). Inside a group the chunks are sequential
// through the states. When there are too few groups to occupy the threads, each group is also
// split by value columns: the rows of S evolve independently given q, k, g and beta, so column
// blocks of a state are independent tasks (each recomputes the group's cheap k-side work).
#include "forward.hpp"

#include <cmath>
#include <cstring>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>

#include "chunk.hpp"
#include "front_end.hpp"
#include "half.hpp"
#include "recurrent.hpp"
#include "validate.hpp"

namespace gdn_cpu {

namespace {

// Requests shorter than this run token by token under PrefillPath::automatic: below it the
// chunk's fixed work (T, the key products) costs more than the recurrence saves.
constexpr int64_t kMinChunkedLength = 8;

bool use_chunked(PrefillPath path, int64_t length) {
    switch (path) {
        case PrefillPath::chunked: return true;
        case PrefillPath::recurrent: return false;
        default: return length >= kMinChunkedLength;
    }
}

template <class Act>
void run_group(const Problem& p, const Layout& lay, const GroupTask& t, Scratch& scratch) {
    const int64_t s0 = p.cu[t.req], L = p.cu[t.req + 1] - s0, slot = p.slots[t.req];
    const int C = kChunk, Dk = p.Dk, Dv = p.Dv, dkp = p.dkp;
    const int ncols = t.col1 - t.col0, ldv = round_up(ncols, 16);
    const int hv0 = t.h * p.ratio;

    float* base = scratch.get(lay.total);
    float* Q = base + lay.Q;
    float* K = base + lay.K;
    float* V = base + lay.V;
    float* O = base + lay.O;
    float* g = base + lay.g;
    float* beta = base + lay.beta;
    float* xw = base + lay.xw;
    float* wt = base + lay.wt;
    float* St = base + lay.St;
    const ChunkWork work{base + lay.E, base + lay.A, base + lay.Tm, base + lay.T1, base + lay.T2,
                         base + lay.P, base + lay.W, base + lay.U, base + lay.X,
                         reinterpret_cast<double*>(base + lay.gamma), base + lay.eg, base + lay.dcy};

    // The states of the group's value heads, restricted to our value columns.
    float* pool = p.rstate + slot * p.rstate_stride;
    auto state_of = [&](int i) { return pool + (int64_t(hv0 + i) * Dv + t.col0) * Dk; };
    auto scratch_state = [&](int i) { return St + int64_t(i) * dkp * ldv; };

    if (t.chunked) {  // load transposed: St[j][c] = S[c][j], zero padded
        for (int i = 0; i < p.ratio; ++i) {
            const float* S = state_of(i);
            float* st = scratch_state(i);
            std::memset(st, 0, sizeof(float) * dkp * ldv);
            for (int c = 0; c < ncols; ++c)
                for (int j = 0; j < Dk; ++j) st[j * ldv + c] = S[int64_t(c) * Dk + j];
        }
    }

    const float q_scale = 1.0f / std::sqrt(float(Dk));
    for (int64_t c0 = 0; c0 < L; c0 += C) {
        const int n = int(L - c0 < C ? L - c0 : C), np = round_up(n, 4);
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
                chunk_head(keys, ldv, V, g, beta, scratch_state(i), O, work);
            } else {
                float* S = state_of(i);
                for (int r = 0; r < n; ++r)
                    recurrent_step(S, Dk, Dk, ncols, K + r * dkp, Q + r * dkp, V + r * ldv,
                                   std::exp(g[r]), beta[r], O + r * ldv);
            }
            write_rows<Act>(p, s0 + c0, n, hv * Dv + t.col0, ncols, O, ldv);
        }
    }

    if (t.chunked) {
        for (int i = 0; i < p.ratio; ++i) {
            float* S = state_of(i);
            const float* st = scratch_state(i);
            for (int c = 0; c < ncols; ++c)
                for (int j = 0; j < Dk; ++j) S[int64_t(c) * Dk + j] = st[j * ldv + c];
        }
    }
    if (t.write_conv_state) {
        update_conv_state<Act>(p, s0, L, slot, t.h * Dk, Dk);
        update_conv_state<Act>(p, s0, L, slot, (p.H + t.h) * Dk, Dk);
        update_conv_state<Act>(p, s0, L, slot, 2 * p.H * Dk + hv0 * Dv, p.ratio * Dv);
    }
}

template <class Act>
void run(Stream& stream, const Problem& p) {
    using S = typename Act::storage;
    const int64_t out_ld = int64_t(p.HV) * p.Dv;

    // Padding requests: zero output rows, state untouched. Counting live groups on the way.
    int64_t live_groups = 0;
    for (int64_t r = 0; r < p.B; ++r) {
        const int64_t L = p.cu[r + 1] - p.cu[r];
        if (p.slots[r] == p.padding_slot) {
            if (L > 0) std::memset(static_cast<S*>(p.out) + p.cu[r] * out_ld, 0, sizeof(S) * L * out_ld);
        } else if (L > 0) {
            live_groups += p.H;
        }
    }
    if (live_groups == 0) return;

    // Column blocks: enough tasks for about two per thread, blocks at least 32 columns wide.
    int blocks = 1, width = p.Dv;
    const int64_t want = 2 * int64_t(stream.num_threads);
    if (live_groups < want && p.Dv >= 64) {
        const int64_t most = p.Dv / 32;
        blocks = int((want + live_groups - 1) / live_groups < most ? (want + live_groups - 1) / live_groups : most);
        width = round_up((p.Dv + blocks - 1) / blocks, 16);
        blocks = (p.Dv + width - 1) / width;
    }

    const Layout lay(p);
    const int64_t tasks = p.B * p.H * blocks;
    stream.arena.execute([&] {
        tbb::parallel_for(
            tbb::blocked_range<int64_t>(0, tasks, 1),
            [&](const tbb::blocked_range<int64_t>& range) {
                Scratch& scratch = stream.scratch.local();
                for (int64_t i = range.begin(); i < range.end(); ++i) {
                    GroupTask t;
                    t.req = i / (int64_t(p.H) * blocks);
                    const int64_t L = p.cu[t.req + 1] - p.cu[t.req];
                    if (L == 0 || p.slots[t.req] == p.padding_slot) continue;
                    t.h = int(i / blocks % p.H);
                    const int block = int(i % blocks);
                    t.col0 = block * width;
                    t.col1 = t.col0 + width < p.Dv ? t.col0 + width : p.Dv;
                    t.chunked = use_chunked(stream.prefill, L);
                    t.write_conv_state = blocks == 1;
                    run_group<Act>(p, lay, t, scratch);
                }
            },
            tbb::simple_partitioner());
        if (blocks > 1) {
            // Column blocks of a group read the same conv-state channels: update them only
            // after every block is done.
            tbb::parallel_for(tbb::blocked_range<int64_t>(0, p.B, 1), [&](const tbb::blocked_range<int64_t>& range) {
                for (int64_t r = range.begin(); r < range.end(); ++r) {
                    const int64_t L = p.cu[r + 1] - p.cu[r];
                    if (L > 0 && p.slots[r] != p.padding_slot)
                        update_conv_state<Act>(p, p.cu[r], L, p.slots[r], 0, p.conv_dim);
                }
            });
        }
    });
}

}  // namespace

gdn_status forward(Stream& stream, const gdn_forward_args& args, gdn_errbuf err) {
    Problem p;
    if (const gdn_status s = validate(args, p, err); s != GDN_OK) return s;
    switch (p.act) {
        case GDN_DTYPE_F32: run<F32>(stream, p); break;
        case GDN_DTYPE_BF16: run<BF16>(stream, p); break;
        default: run<F16>(stream, p); break;
    }
    return GDN_OK;
}

}  // namespace gdn_cpu

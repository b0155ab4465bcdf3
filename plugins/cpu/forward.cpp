// Plans and runs one layer call. The unit of parallel work is a group: one request, one key
// head and the value heads that read it (so the q/k conv and norm are done once per group and
// the group owns every conv-state channel it reads). Inside a group the chunks are sequential
// through the states. When there are too few groups to occupy the threads, each group is also
// split by value columns: the rows of S evolve independently given q, k, g and beta, so column
// blocks of a state are independent tasks (each recomputes the group's cheap k-side work).
#include "forward.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>

#include "kernels.hpp"
#include "validate.hpp"

namespace gdn_cpu {

namespace {

// Requests shorter than this run token by token under PrefillPath::automatic: below it the
// chunked form's fixed work (transposing the states in and out, T, the key products) costs more
// than the recurrence saves (measured crossover at Qwen3-Next shape: 8 to 12 tokens).
constexpr int64_t kMinChunkedLength = 10;

bool use_chunked(PrefillPath path, int64_t length) {
    switch (path) {
        case PrefillPath::chunked: return true;
        case PrefillPath::recurrent: return false;
        case PrefillPath::automatic: break;
    }
    return length >= kMinChunkedLength;
}

const char* act_name(gdn_dtype t) {
    switch (t) {
        case GDN_DTYPE_F32: return "f32";
        case GDN_DTYPE_BF16: return "bf16";
        case GDN_DTYPE_F16: return "f16";
        case GDN_DTYPE_I32:
        case GDN_DTYPE_I64: break;
    }
    return "?";
}

// GDN_VERBOSE=plan: one line per call on stderr, each group of requests with the path it takes
// and why, then how the groups are split over the threads.
void print_plan(const Stream& stream, const Problem& p, int blocks, int width, int64_t live_groups) {
    // [decode, extend] x [token by token, chunked] live requests
    int64_t count[2][2] = {{0, 0}, {0, 0}}, padding = 0, empty = 0;
    for (int64_t r = 0; r < p.B; ++r) {
        const int64_t L = p.run_length(r);
        if (L == 0)
            ++empty;
        else if (p.slots[r] == p.padding_slot)
            ++padding;
        else
            ++count[L > 1][use_chunked(stream.prefill, L)];
    }
    char chunked_len[32], recurrent_len[32];
    std::snprintf(chunked_len, sizeof chunked_len, "length >= %d tokens", int(kMinChunkedLength));
    std::snprintf(recurrent_len, sizeof recurrent_len, "length < %d tokens", int(kMinChunkedLength));
    const char* why_chunked[2] = {"forced by GDN_CPU_PREFILL=chunked", chunked_len};
    const char* why_recurrent[2] = {"forced by GDN_CPU_PREFILL=recurrent", recurrent_len};
    const bool automatic = stream.prefill == PrefillPath::automatic;
    std::string line;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "gdn_verbose,plan,cpu,%s,%s,requests=%" PRId64 ",tokens=%" PRId64 ",threads=%d:", stream.kernels->isa,
                  act_name(p.act), p.B, p.T, stream.num_threads);
    line = buf;
    const char* sep = " ";
    const auto add = [&](const char* text) {
        line += sep;
        line += text;
        sep = "; ";
    };
    for (int extend = 1; extend >= 0; --extend)
        for (int chunked = 1; chunked >= 0; --chunked) {
            if (count[extend][chunked] == 0) continue;
            const char* why = chunked ? why_chunked[automatic] : extend ? why_recurrent[automatic] : "one token";
            std::snprintf(buf, sizeof buf, "%s x%" PRId64 " -> %s (%s)", extend ? "extend" : "decode",
                          count[extend][chunked], chunked ? "chunked" : "token by token", why);
            add(buf);
        }
    if (padding) {
        std::snprintf(buf, sizeof buf, "padding x%" PRId64 " -> outputs zeroed, state untouched", padding);
        add(buf);
    }
    if (empty) {
        std::snprintf(buf, sizeof buf, "empty x%" PRId64 " -> nothing", empty);
        add(buf);
    }
    if (blocks > 1)
        std::snprintf(buf, sizeof buf, "groups in %d value-column blocks of %d (%" PRId64 " groups < 2 x %d threads)",
                      blocks, width, live_groups, stream.num_threads);
    else
        std::snprintf(buf, sizeof buf, "whole groups (%" PRId64 " (request, key head) groups)", live_groups);
    add(buf);
    std::fprintf(stderr, "%s\n", line.c_str());
}

// Both states of request r, read slot to write slot, unchanged (a request that runs no token).
void copy_request_state(const Problem& p, int64_t r) {
    const std::size_t state_bytes = std::size_t(p.HV) * p.Dv * p.Dk * (p.state == GDN_DTYPE_F32 ? 4 : 2);
    const std::size_t conv_bytes = std::size_t(p.conv_dim) * (p.Kc - 1) * (p.act == GDN_DTYPE_F32 ? 4 : 2);
    const std::size_t state_el = p.state == GDN_DTYPE_F32 ? 4 : 2, conv_el = p.act == GDN_DTYPE_F32 ? 4 : 2;
    const int64_t from = p.slots[r], to = p.write_slot(r);
    char* rs = static_cast<char*>(p.rstate);
    char* cs = static_cast<char*>(p.cstate);
    std::memcpy(rs + to * p.rstate_stride * state_el, rs + from * p.rstate_stride * state_el, state_bytes);
    std::memcpy(cs + to * p.cstate_stride * conv_el, cs + from * p.cstate_stride * conv_el, conv_bytes);
}

}  // namespace

const Kernels& select_kernels() {
    const char* env = std::getenv("GDN_CPU_ISA");
    const bool force_v3 = env && std::strcmp(env, "v3") == 0;
    __builtin_cpu_init();
    const bool v4 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
                    __builtin_cpu_supports("avx512vl");
    return v4 && !force_v3 ? v4::kernels() : v3::kernels();
}

#ifdef GDN_CPU_MUTANT
// Conformance mutants (tests/conformance builds this file again with GDN_CPU_MUTANT set): each
// gets one serving feature subtly wrong, and the suite must say which and why.
#define GDN_CPU_MUTANT_CHECKPOINT_LATE 1  // every checkpoint one token late (clamped to the length)
#define GDN_CPU_MUTANT_VERIFY_WRITES 2    // a write slot "none" writes the read slot
#define GDN_CPU_MUTANT_COMMIT_PLUS_ONE 3  // commit advances accepted + 1 tokens
#define GDN_CPU_MUTANT_BF16_TRUNCATES 4   // a bf16 state is stored by truncation
#define GDN_CPU_MUTANT_BATCH_VARIANT 5    // claims batch invariance, but plans by batch size
namespace {
struct Mutated {
    std::vector<int64_t> pos, writes, accepted;
};
void mutate(Problem& p, Mutated& m) {
    switch (GDN_CPU_MUTANT) {
        case GDN_CPU_MUTANT_CHECKPOINT_LATE:
            if (!p.ck_cu) break;
            m.pos.assign(p.ck_pos, p.ck_pos + p.ck_cu[p.B]);
            for (int64_t r = 0; r < p.B; ++r)
                for (int64_t i = p.ck_cu[r]; i < p.ck_cu[r + 1]; ++i)
                    m.pos[std::size_t(i)] = std::min(m.pos[std::size_t(i)] + 1, p.run_length(r));
            p.ck_pos = m.pos.data();
            break;
        case GDN_CPU_MUTANT_VERIFY_WRITES:
            if (!p.write_slots) break;
            m.writes.assign(p.write_slots, p.write_slots + p.B);
            for (int64_t r = 0; r < p.B; ++r)
                if (m.writes[std::size_t(r)] == GDN_SLOT_NONE) m.writes[std::size_t(r)] = p.slots[r];
            p.write_slots = m.writes.data();
            p.state_copies = true;
            break;
        case GDN_CPU_MUTANT_COMMIT_PLUS_ONE:
            if (!p.accepted) break;
            m.accepted.assign(p.accepted, p.accepted + p.B);
            for (int64_t r = 0; r < p.B; ++r)
                m.accepted[std::size_t(r)] = std::min(m.accepted[std::size_t(r)] + 1, p.cu[r + 1] - p.cu[r]);
            p.accepted = m.accepted.data();
            break;
        case GDN_CPU_MUTANT_BF16_TRUNCATES: p.truncate_state = true; break;
    }
}
}  // namespace
#endif

gdn_status forward(Stream& stream, const gdn_forward_args& args, gdn_errbuf err) {
    Problem p;
    if (const gdn_status s = validate(args, p, err); s != GDN_OK) return s;
#ifdef GDN_CPU_MUTANT
    Mutated mutated;
    mutate(p, mutated);
#endif
    const Kernels& k = *stream.kernels;

    // Padding requests: zero output rows, state untouched. Counting live groups on the way.
    const std::size_t row_bytes = std::size_t(p.HV) * p.Dv * (p.act == GDN_DTYPE_F32 ? 4 : 2);
    // A request that runs no token but writes elsewhere than it reads: its state moves as it is.
    int64_t live_groups = 0;
    for (int64_t r = 0; r < p.B; ++r) {
        const int64_t L = p.run_length(r);
        if (p.slots[r] == p.padding_slot) {
            if (L > 0 && p.out) std::memset(static_cast<char*>(p.out) + p.cu[r] * row_bytes, 0, L * row_bytes);
        } else if (L > 0) {
            live_groups += p.H;
        } else if (p.write_slot(r) != p.slots[r] && p.write_slot(r) != GDN_SLOT_NONE) {
            copy_request_state(p, r);
        }
    }

    // Column blocks: enough tasks for about two per thread, blocks at least 32 columns wide.
    int blocks = 1, width = p.Dv;
    const int64_t want = 2 * int64_t(stream.num_threads);
    if (live_groups > 0 && live_groups < want && p.Dv >= 64) {
        const int64_t per_group = (want + live_groups - 1) / live_groups, most = p.Dv / 32;
        blocks = int(per_group < most ? per_group : most);
        width = (p.Dv + blocks - 1) / blocks;
        width = (width + 15) / 16 * 16;
        blocks = (p.Dv + width - 1) / width;
    }
    if (stream.verbose_plan) print_plan(stream, p, blocks, width, live_groups);
    if (live_groups == 0) return GDN_OK;

    const std::size_t scratch_floats = k.scratch_floats(p);
    const int64_t tasks = p.B * p.H * blocks;
    auto run_tasks = [&](int64_t begin, int64_t end, float* scratch) {
        for (int64_t i = begin; i < end; ++i) {
            GroupTask t;
            t.req = i / (int64_t(p.H) * blocks);
            const int64_t L = p.run_length(t.req);
            if (L == 0 || p.slots[t.req] == p.padding_slot) continue;
            t.h = int(i / blocks % p.H);
            const int block = int(i % blocks);
            t.col0 = block * width;
            t.col1 = t.col0 + width < p.Dv ? t.col0 + width : p.Dv;
            t.chunked = use_chunked(stream.prefill, L);
#ifdef GDN_CPU_MUTANT
            if (GDN_CPU_MUTANT == GDN_CPU_MUTANT_BATCH_VARIANT && p.B > 1) t.chunked = false;
#endif
            t.write_conv_state = blocks == 1;
            k.run_group(p, t, scratch);
        }
    };
    // Column blocks of a group read the same conv-state channels: update them only after every
    // block is done.
    auto update_conv_states = [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r)
            if (p.run_length(r) > 0 && p.slots[r] != p.padding_slot) k.update_conv_state(p, r);
    };
    if (stream.num_threads == 1) {  // no oneTBB: the tasks in order on the calling thread
        run_tasks(0, tasks, stream.serial_scratch.get(scratch_floats));
        if (blocks > 1) update_conv_states(0, p.B);
        return GDN_OK;
    }
    stream.arena.execute([&] {
        tbb::parallel_for(
            tbb::blocked_range<int64_t>(0, tasks, 1),
            [&](const tbb::blocked_range<int64_t>& range) {
                run_tasks(range.begin(), range.end(), stream.scratch.local().get(scratch_floats));
            },
            tbb::simple_partitioner());
        if (blocks > 1)
            tbb::parallel_for(tbb::blocked_range<int64_t>(0, p.B, 1), [&](const tbb::blocked_range<int64_t>& range) {
                update_conv_states(range.begin(), range.end());
            });
    });
    return GDN_OK;
}

}  // namespace gdn_cpu

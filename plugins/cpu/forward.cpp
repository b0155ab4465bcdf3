// Plans and runs one layer call. The unit of parallel work is a group: one request, one key
// head and the value heads that read it (so the q/k conv and norm are done once per group and
// the group owns every conv-state channel it reads). Inside a group the chunks are sequential
// through the states. When there are too few groups to occupy the threads, each group is also
// split by value columns: the rows of S evolve independently given q, k, g and beta, so column
// blocks of a state are independent tasks (each recomputes the group's cheap k-side work).
#include "forward.hpp"

#include <cstdlib>
#include <cstring>

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
        default: return length >= kMinChunkedLength;
    }
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

gdn_status forward(Stream& stream, const gdn_forward_args& args, gdn_errbuf err) {
    Problem p;
    if (const gdn_status s = validate(args, p, err); s != GDN_OK) return s;
    const Kernels& k = *stream.kernels;

    // Padding requests: zero output rows, state untouched. Counting live groups on the way.
    const std::size_t row_bytes = std::size_t(p.HV) * p.Dv * (p.act == GDN_DTYPE_F32 ? 4 : 2);
    int64_t live_groups = 0;
    for (int64_t r = 0; r < p.B; ++r) {
        const int64_t L = p.cu[r + 1] - p.cu[r];
        if (p.slots[r] == p.padding_slot) {
            if (L > 0) std::memset(static_cast<char*>(p.out) + p.cu[r] * row_bytes, 0, L * row_bytes);
        } else if (L > 0) {
            live_groups += p.H;
        }
    }
    if (live_groups == 0) return GDN_OK;

    // Column blocks: enough tasks for about two per thread, blocks at least 32 columns wide.
    int blocks = 1, width = p.Dv;
    const int64_t want = 2 * int64_t(stream.num_threads);
    if (live_groups < want && p.Dv >= 64) {
        const int64_t per_group = (want + live_groups - 1) / live_groups, most = p.Dv / 32;
        blocks = int(per_group < most ? per_group : most);
        width = (p.Dv + blocks - 1) / blocks;
        width = (width + 15) / 16 * 16;
        blocks = (p.Dv + width - 1) / width;
    }

    const std::size_t scratch_floats = k.scratch_floats(p);
    const int64_t tasks = p.B * p.H * blocks;
    auto run_tasks = [&](int64_t begin, int64_t end, float* scratch) {
        for (int64_t i = begin; i < end; ++i) {
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
            k.run_group(p, t, scratch);
        }
    };
    // Column blocks of a group read the same conv-state channels: update them only after every
    // block is done.
    auto update_conv_states = [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r)
            if (p.cu[r + 1] > p.cu[r] && p.slots[r] != p.padding_slot) k.update_conv_state(p, r);
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

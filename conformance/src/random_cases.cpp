// Seeded random cases against the fp64 reference. Case i covers, by construction, every
// activation dtype (i mod 3) and mode (i/3 mod 3); the rest (head dims, GVA ratio, conv width,
// batch shape) is drawn. Extend batches always hold a zero-length and a short request (shorter
// than the conv window) once they have three requests; some f32/bf16 extend cases have strong
// decay (cumulative log decay far below -100 inside one chunk). A case depends on (seed, i) only,
// so every backend runs the same random-i and `--case random-i --seed S` reruns it.
#include <algorithm>
#include <random>

#include "cases.hpp"

namespace gdn::conformance::detail {

namespace {

uint64_t splitmix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

template <class T>
T pick(std::mt19937_64& rng, std::initializer_list<T> xs) {
    return *(xs.begin() + std::ptrdiff_t(rng() % xs.size()));
}

struct Drawn {
    RandomCaseSpec spec;
    uint64_t data_seed;
};

Drawn draw(uint64_t seed, int i) {
    std::mt19937_64 rng(splitmix(seed ^ splitmix(uint64_t(i))));
    RandomCaseSpec s;
    const DType dtypes[] = {DType::f32, DType::bf16, DType::f16};
    const ForwardMode modes[] = {ForwardMode::extend, ForwardMode::decode, ForwardMode::mixed};
    s.activation_dtype = dtypes[i % 3];
    s.mode = modes[(i / 3) % 3];
    s.num_k_heads = pick(rng, {1, 2, 3, 4});
    s.num_v_heads = s.num_k_heads * pick(rng, {1, 2, 3, 4});
    s.head_k_dim = pick(rng, {8, 16, 20, 32, 48, 64, 100, 128});
    s.head_v_dim = pick(rng, {8, 16, 24, 32, 40, 64, 128});
    s.conv_kernel = pick(rng, {2, 3, 4});
    s.strong_decay = s.mode == ForwardMode::extend && s.activation_dtype != DType::f16 && (i / 9) % 2 == 0;

    s.lengths.clear();
    switch (s.mode) {
        case ForwardMode::extend: {
            const int B = pick(rng, {1, 2, 3, 4, 5});
            for (int r = 0; r < B; ++r) s.lengths.push_back(pick<int64_t>(rng, {0, 1, 2, 3, 17, 63, 64, 65, 129, 200}));
            if (B >= 3) {
                s.lengths[0] = 0;                                  // a request with no new tokens
                s.lengths[1] = int64_t(rng() % (s.conv_kernel - 1)) + 1;  // shorter than the conv window
            }
            if (s.strong_decay) s.lengths.back() = 150;  // several chunks of strong decay
            break;
        }
        case ForwardMode::decode: {
            const int B = pick(rng, {1, 2, 3, 5, 8});
            s.lengths.assign(std::size_t(B), 1);
            break;
        }
        case ForwardMode::mixed: {
            const int B = pick(rng, {2, 3, 4, 6});
            for (int r = 0; r < B; ++r) s.lengths.push_back(rng() % 2 ? 1 : pick<int64_t>(rng, {0, 2, 3, 40, 100}));
            s.lengths[0] = 1;    // at least one decode row
            s.lengths[1] = 70;   // and one prefill
            break;
        }
    }
    // Keep one case around a second of fp64 reference on a slow machine: trim the longest
    // request while the work (tokens x state size) is large.
    auto work = [&] {
        int64_t t = 0;
        for (int64_t l : s.lengths) t += l;
        return t * s.num_v_heads * s.head_k_dim * s.head_v_dim;
    };
    while (work() > 40'000'000) {
        auto longest = std::max_element(s.lengths.begin(), s.lengths.end());
        *longest /= 2;
    }
    return {s, rng()};
}

}  // namespace

std::vector<CaseDef> random_cases(const Options& options) {
    std::vector<CaseDef> cases;
    for (int i = 0; i < options.random_cases; ++i) {
        const Drawn d = draw(options.seed, i);
        CaseDef def;
        def.id = "random-" + std::to_string(i);
        def.category = "random";
        Case c = random_case(d.spec, d.data_seed);
        def.description = describe(c) + (d.spec.strong_decay ? " strong decay" : "");
        def.run = [d](const Context& ctx, CaseOutcome& out) {
            const Case c = random_case(d.spec, d.data_seed);
            run_numeric(ctx, c, out);
            if (d.spec.strong_decay) out.description += " strong decay";
        };
        cases.push_back(std::move(def));
    }
    return cases;
}

}  // namespace gdn::conformance::detail

// Seeded random cases against the fp64 reference, drawn from what the backend declares
// (declared_space.cpp). Case i runs dtype i mod |dtypes| in mode i/|dtypes| mod |modes|, so every
// declared dtype runs in every declared mode; conv width, GVA ratio and both head dims each cycle
// through their declared values from an offset drawn from the seed, so that a count of cases
// equal to the longest axis runs every value. The rest (number of heads, batch shape, the data)
// is drawn. Extend batches always hold a zero-length and a short request (shorter than the conv
// window) once they have three requests; every other round of dtype x mode runs the first
// declared mode with strong decay (cumulative log decay far below -100 inside one chunk). A case
// depends on (seed, i) and the declaration only, so backends declaring the same capabilities run
// the same random-i and `--case random-i --seed S` reruns it.
#include <algorithm>
#include <random>

#include "cases.hpp"

namespace gdn::conformance::detail {

namespace {

constexpr int64_t kMaxStatePerSlot = int64_t(1) << 16;  // HV x Dk x Dv, so that a case stays small

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

Drawn draw(uint64_t seed, int i, const DeclaredSpace& sp) {
    // Offsets of the cycling axes: a function of the seed alone, the same for every case.
    std::mt19937_64 axes(splitmix(seed ^ 0x5EED0FF5E7ull));
    auto cycle = [&](const std::vector<int>& values, std::size_t shift = 0) {
        const std::size_t offset = axes() % values.size();
        return values[(std::size_t(i) + shift + offset) % values.size()];
    };
    const int conv_kernel = cycle(sp.conv_kernels), ratio = cycle(sp.gva_ratios);
    // The value dim shifts by one each round, so that it meets every key dim.
    const int dk = cycle(sp.head_k_dims), dv = cycle(sp.head_v_dims, std::size_t(i) / sp.head_v_dims.size());

    std::mt19937_64 rng(splitmix(seed ^ splitmix(uint64_t(i))));
    RandomCaseSpec s;
    const std::size_t nd = sp.dtypes.size(), nm = sp.modes.size();
    s.activation_dtype = sp.dtypes[std::size_t(i) % nd];
    s.mode = sp.modes[(std::size_t(i) / nd) % nm];
    s.strong_decay = (std::size_t(i) / (nd * nm)) % 2 == 0 && s.mode == sp.modes.front();
    s.conv_kernel = conv_kernel;
    s.num_k_heads = pick(rng, {1, 2, 3, 4});
    s.num_v_heads = s.num_k_heads * ratio;
    s.head_k_dim = dk;
    s.head_v_dim = dv;
    // A large state: one head group, then the smallest declared size for one of the dims, the
    // key dim in one round of the head-dim cycle and the value dim in the next, so that each
    // large size runs in some round.
    auto state = [&] { return int64_t(s.num_v_heads) * s.head_k_dim * s.head_v_dim; };
    if (state() > kMaxStatePerSlot) {
        s.num_k_heads = 1;
        s.num_v_heads = ratio;
    }
    if (state() > kMaxStatePerSlot) {
        const bool shrink_v = (std::size_t(i) / std::max(sp.head_k_dims.size(), sp.head_v_dims.size())) % 2 == 0;
        (shrink_v ? s.head_v_dim : s.head_k_dim) = (shrink_v ? sp.head_v_dims : sp.head_k_dims).front();
    }

    s.lengths.clear();
    switch (s.mode) {
        case ForwardMode::extend: {
            const int B = pick(rng, {1, 2, 3, 4, 5});
            for (int r = 0; r < B; ++r) s.lengths.push_back(pick<int64_t>(rng, {0, 1, 2, 3, 17, 63, 64, 65, 129, 200}));
            if (B >= 3) {
                s.lengths[0] = 0;                                         // a request with no new tokens
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
            s.lengths[0] = 1;                          // at least one decode row
            s.lengths[1] = s.strong_decay ? 150 : 70;  // and one prefill
            break;
        }
    }
    // Keep one case around a second of fp64 reference on a slow machine: trim the longest
    // request while the work (tokens x state size) is large.
    auto work = [&] {
        int64_t t = 0;
        for (int64_t l : s.lengths) t += l;
        return t * state();
    };
    while (work() > 10'000'000) {
        auto longest = std::max_element(s.lengths.begin(), s.lengths.end());
        *longest /= 2;
    }
    return {s, rng()};
}

// What a drawn case exercises beyond its shape, for its description.
std::string exercises(const RandomCaseSpec& s) {
    std::vector<std::string> what;
    if (s.strong_decay) what.push_back("strong decay (cumulative log decay below -100 inside a chunk)");
    if (s.mode != ForwardMode::decode) {
        bool empty = false, short_one = false, chunks = false;
        for (int64_t l : s.lengths) {
            empty = empty || l == 0;
            short_one = short_one || (l > 0 && l < s.conv_kernel - 1);
            chunks = chunks || l > 64;
        }
        if (empty) what.push_back("a request with no new tokens");
        if (short_one) what.push_back("a request shorter than the conv window");
        if (chunks) what.push_back("a request longer than one chunk");
    }
    if (s.mode == ForwardMode::mixed) what.push_back("decode and prefill rows in one batch");
    if (s.num_v_heads > s.num_k_heads) what.push_back("GVA ratio " + std::to_string(s.num_v_heads / s.num_k_heads));
    std::string out;
    for (const auto& w : what) out += (out.empty() ? "; exercises " : ", ") + w;
    return out;
}

}  // namespace

std::vector<CaseDef> random_cases(const Options& options, const gdn_capabilities& caps) {
    const DeclaredSpace space = declared_space(caps);
    std::vector<CaseDef> cases;
    if (space.empty()) return cases;  // capability-declared says why
    const int count = random_case_count(options, space);
    for (int i = 0; i < count; ++i) {
        const Drawn d = draw(options.seed, i, space);
        CaseDef def;
        def.id = "random-" + std::to_string(i);
        def.category = "random";
        def.description = describe(random_case(d.spec, d.data_seed)) + exercises(d.spec);
        def.run = [d](const Context& ctx, CaseOutcome& out) {
            const Case c = random_case(d.spec, d.data_seed);
            run_numeric(ctx, c, out);
            out.description += exercises(d.spec);
            if (out.metrics) ctx.coverage->add(d.spec);
        };
        cases.push_back(std::move(def));
    }
    return cases;
}

}  // namespace gdn::conformance::detail

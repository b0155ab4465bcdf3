// Tensor-parallel head sharding (docs/serving.md): one layer of HV value heads and H key heads
// equals two layers of HV/2 value heads and H/2 key heads, each on its slice of the mixed_qkv
// columns, conv weight rows, a / b columns, A_log and dt_bias, with the outputs concatenated and
// each shard's state the matching slice of the full layer's state.
//
// Exactness: no value of one value head depends on another value head (its q and k come from
// its own key head, the conv is per channel, the gates and the recurrence are per head), so the
// sharded computation is the same arithmetic. The CPU backend runs a head's arithmetic in the
// same order whatever the head count and batch, so its shards are bitwise equal to the full
// layer, and this test demands that. A GPU backend may pick its kernel variant from the problem
// size (how many heads share the device), which can change the rounding of a head's reductions:
// there the shards are held to the golden README's tolerance of the activation dtype.
#include <catch2/catch.hpp>

#include "rows.hpp"

using namespace gdn;

namespace {

// The conv channels of shard `s` of `shards` of the full problem `p`.
std::vector<int64_t> shard_channels(const reference::Problem& p, int s, int shards) {
    const int H = p.num_k_heads / shards, HV = p.num_v_heads / shards, Dk = p.head_k_dim, Dv = p.head_v_dim;
    // doc:tp-channels begin
    // The conv channels of shard s, in mixed_qkv's order: its q, its k, its v columns. They index
    // the columns of mixed_qkv and the rows of conv_weight (and of the conv state).
    std::vector<int64_t> channels;
    for (int64_t i = 0; i < int64_t(H) * Dk; ++i) channels.push_back(int64_t(s) * H * Dk + i);
    for (int64_t i = 0; i < int64_t(H) * Dk; ++i)
        channels.push_back(int64_t(p.num_k_heads) * Dk + int64_t(s) * H * Dk + i);
    for (int64_t i = 0; i < int64_t(HV) * Dv; ++i)
        channels.push_back(2LL * p.num_k_heads * Dk + int64_t(s) * HV * Dv + i);
    // doc:tp-channels end
    return channels;
}

// Shard `s` of `shards`: the slices of every per-channel and per-head input of the full case.
Case shard_of(const Case& full, int s, int shards) {
    const auto& p = full.problem;
    const int H = p.num_k_heads / shards, HV = p.num_v_heads / shards;
    const int64_t C = p.conv_dim(), T = p.num_tokens();
    const std::vector<int64_t> channels = shard_channels(p, s, shards);
    Case c = full;
    auto& q = c.problem;
    q.num_k_heads = H;
    q.num_v_heads = HV;
    q.mixed_qkv.clear();
    q.a.clear();
    q.b.clear();
    q.conv_weight.clear();
    q.A_log.assign(p.A_log.begin() + s * HV, p.A_log.begin() + (s + 1) * HV);
    q.dt_bias.assign(p.dt_bias.begin() + s * HV, p.dt_bias.begin() + (s + 1) * HV);
    for (int64_t t = 0; t < T; ++t) {
        for (int64_t ch : channels) q.mixed_qkv.push_back(p.mixed_qkv[std::size_t(t * C + ch)]);
        for (int h = s * HV; h < (s + 1) * HV; ++h) {
            q.a.push_back(p.a[std::size_t(t * p.num_v_heads + h)]);
            q.b.push_back(p.b[std::size_t(t * p.num_v_heads + h)]);
        }
    }
    for (int64_t ch : channels)
        for (int k = 0; k < p.conv_kernel; ++k)
            q.conv_weight.push_back(p.conv_weight[std::size_t(ch * p.conv_kernel + k)]);
    q.conv_state.clear();
    q.recurrent_state.clear();
    return c;
}

// Columns [from, from + width) of each row of a [rows, stride] matrix.
std::vector<double> columns(const std::vector<double>& m, int64_t stride, int64_t from, int64_t width) {
    std::vector<double> v;
    for (std::size_t r = 0; r < m.size() / std::size_t(stride); ++r)
        v.insert(v.end(), m.begin() + std::ptrdiff_t(r * std::size_t(stride) + std::size_t(from)),
                 m.begin() + std::ptrdiff_t(r * std::size_t(stride) + std::size_t(from + width)));
    return v;
}

}  // namespace

TEST_CASE("two head shards of a layer compute exactly the full layer's heads", "[tensor-parallel][invariant]") {
    const uint64_t seed = test::seed("two head shards of a layer compute exactly the full layer's heads");
    const Backend& be = test::backend();
    const bool bitwise = be.name() == "cpu";
    for (const DType act : {DType::bf16, DType::f32}) {
        RandomCaseSpec spec;
        spec.num_k_heads = 4;
        spec.num_v_heads = 8;
        spec.head_k_dim = 32;
        spec.head_v_dim = 48;
        spec.activation_dtype = act;
        spec.lengths = {60};  // rows: a 30 + 7 prefill, then three decode steps of two requests, spare
        const Case full = random_case(spec, seed);
        const Case shard[2] = {shard_of(full, 0, 2), shard_of(full, 1, 2)};
        DeviceLayer full_layer(be, full.problem, act, 0);
        DeviceLayer s0(be, shard[0].problem, act, 0), s1(be, shard[1].problem, act, 0);
        const DeviceLayer* shard_layer[2] = {&s0, &s1};
        GDNPool full_pool(be, pool_config(full, 2));
        GDNPool shard_pool[2] = {GDNPool(be, pool_config(shard[0], 2)), GDNPool(be, pool_config(shard[1], 2))};

        const int64_t Wfull = int64_t(full.problem.num_v_heads) * full.problem.head_v_dim, Wshard = Wfull / 2;
        auto compare = [&](ForwardMode mode, std::vector<int64_t> lens, int64_t t0) {
            const auto want = test::run_rows(full, full_layer.layer(), full_pool, mode, {0, 1}, lens, t0);
            for (int s = 0; s < 2; ++s) {
                INFO(dtype_name(act) << " shard " << s << " " << mode_name(mode) << " at row " << t0);
                const auto got =
                    test::run_rows(shard[s], shard_layer[s]->layer(), shard_pool[s], mode, {0, 1}, lens, t0);
                const auto want_cols = columns(want, Wfull, s * Wshard, Wshard);
                if (bitwise) {
                    CHECK(got == want_cols);
                } else {
                    CHECK(reference::relative_l2(got, want_cols) <= default_tolerance(act).out);
                }
                // The shard's recurrent state is the full state's slice of its value heads.
                for (int64_t slot = 0; slot < 2; ++slot) {
                    const auto full_state = full_pool.read_recurrent(0, slot);
                    const auto part = shard_pool[s].read_recurrent(0, slot);
                    const std::size_t n = part.size();
                    const std::vector<float> slice(full_state.begin() + std::ptrdiff_t(s * n),
                                                   full_state.begin() + std::ptrdiff_t((s + 1) * n));
                    if (bitwise) CHECK(part == slice);
                    // Its conv state is the full conv state's rows of its channels.
                    const auto full_conv = full_pool.read_conv_bytes(0, slot);
                    const auto conv = shard_pool[s].read_conv_bytes(0, slot);
                    const std::size_t row = full_conv.size() / std::size_t(full.problem.conv_dim());
                    std::vector<uint8_t> rows;
                    for (int64_t ch : shard_channels(full.problem, s, 2))
                        rows.insert(rows.end(), full_conv.begin() + std::ptrdiff_t(std::size_t(ch) * row),
                                    full_conv.begin() + std::ptrdiff_t(std::size_t(ch + 1) * row));
                    CHECK(conv == rows);  // the conv state is a copy of inputs: exact on every backend
                }
            }
        };
        compare(ForwardMode::extend, {30, 7}, 0);
        for (int step = 0; step < 3; ++step) compare(ForwardMode::decode, {1, 1}, 37 + 2 * step);
    }
}

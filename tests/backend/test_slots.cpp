// Which slots a batch may name, and the batch that names none. By default a pool hands out slots
// (alloc_slot) and a forward may use only those: a slot freed and not reallocated is an error, at
// every point where a batch names it. A pool created with engine_managed_slots leaves the
// numbering to the engine. An empty batch (an idle step) is a legal no-op. Row IDs (S1, S2) are
// those of docs/errors.md.
#include <catch2/catch.hpp>

#include "runner.hpp"

using namespace gdn;
using test::expect_error;

namespace {

Case small_case(uint64_t seed, std::vector<int64_t> lengths) {
    RandomCaseSpec spec;
    spec.num_k_heads = 1;
    spec.num_v_heads = 2;
    spec.head_k_dim = spec.head_v_dim = 16;
    spec.lengths = std::move(lengths);
    return random_case(spec, seed);
}

PoolConfig pool_managed_by_gdn(const Case& c, int64_t slots) {
    PoolConfig pc = pool_config(c, slots);
    pc.engine_managed_slots = false;  // the default of PoolConfig; pool_config() sets it for tests
    return pc;
}

}  // namespace

TEST_CASE("S1: a batch naming a freed slot is refused unless the engine manages slots", "[errors][slots]") {
    const uint64_t seed = test::seed("S1: a batch naming a freed slot is refused unless the engine manages slots");
    const Backend& be = test::backend();
    const Case c = small_case(seed, {2, 3});
    const auto& p = c.problem;
    CHECK_FALSE(PoolConfig{}.engine_managed_slots);
    GDNPool pool(be, pool_managed_by_gdn(c, 4));
    DeviceLayer layer(be, p, DType::f32, 0);
    Tensor q = to_device(be, DType::f32, p.mixed_qkv, {5, p.conv_dim()});
    Tensor a = to_device(be, DType::f32, p.a, {5, 2}), b = to_device(be, DType::f32, p.b, {5, 2});
    const int64_t s0 = pool.alloc_slot(), s1 = pool.alloc_slot();
    const std::string free_msg = "a slot allocated with alloc_slot (or a pool with engine_managed_slots), but slot ";

    // Never allocated, and allocated then freed: refused when the batch is made.
    const auto before = pool.snapshot();
    expect_error("req_pool_indices[1]: " + free_msg + "3 is free", [&] {
        ForwardBatch::extend(pool, {s0, 3}, {2, 3});
    });
    ForwardBatch fb = ForwardBatch::extend(pool, {s0, s1}, {2, 3});
    pool.free_slot(s1);
    expect_error("req_pool_indices[1]: " + free_msg + std::to_string(s1) + " is free", [&] {
        ForwardBatch::decode(pool, {s0, s1});
    });
    // A batch made while the slot was allocated, run after it was freed: refused by forward.
    expect_error("req_pool_indices[1]: " + free_msg + std::to_string(s1) + " is free",
                 [&] { (void)layer.layer().forward(fb, q.view(), a.view(), b.view()); });
    // update_slots onto a free slot.
    ForwardBatch dec = ForwardBatch::decode(pool, {s0});
    expect_error("req_pool_indices[0]: " + free_msg + "2 is free", [&] { dec.update_slots({2}); });
    CHECK(pool.snapshot() == before);
    // The padding slot is never allocated and always allowed; a reallocated slot is fine again.
    (void)ForwardBatch::decode(pool, {s0, pool.padding_slot()});
    CHECK(pool.alloc_slot() == s1);
    (void)layer.layer().forward(fb, q.view(), a.view(), b.view());
    fb.stream().synchronize();

    // engine_managed_slots: any slot in range, allocated or not.
    PoolConfig managed = pool_managed_by_gdn(c, 4);
    managed.engine_managed_slots = true;
    GDNPool mine(be, managed);
    ForwardBatch any = ForwardBatch::extend(mine, {3, 1}, {2, 3});
    (void)layer.layer().forward(any, q.view(), a.view(), b.view());
    any.stream().synchronize();
    expect_error("req_pool_indices[0]: a slot in 0..3 or the padding slot 4, got 5",
                 [&] { ForwardBatch::decode(mine, {5}); });
}

TEST_CASE("S2: an empty batch is an idle step that changes nothing", "[slots]") {
    const uint64_t seed = test::seed("S2: an empty batch is an idle step that changes nothing");
    const Backend& be = test::backend();
    const Case c = small_case(seed, {1});
    const auto& p = c.problem;
    for (const bool managed : {false, true}) {
        PoolConfig pc = pool_managed_by_gdn(c, 3);
        pc.engine_managed_slots = managed;
        GDNPool pool(be, pc);
        const int64_t s = pool.alloc_slot();
        std::vector<float> st(2 * 16 * 16);
        for (std::size_t i = 0; i < st.size(); ++i) st[i] = float(i % 13) / 13.0f;
        pool.write_recurrent(0, s, st);
        DeviceLayer layer(be, p, DType::f32, 0);
        const auto before = pool.snapshot();
        for (const ForwardMode mode : {ForwardMode::extend, ForwardMode::decode, ForwardMode::mixed}) {
            INFO("mode " << mode_name(mode) << ", engine_managed_slots " << managed);
            ForwardBatch idle(mode, pool, {}, {});
            CHECK(idle.num_requests() == 0);
            CHECK(idle.num_tokens() == 0);
            const TensorView q(nullptr, DType::f32, {0, p.conv_dim()}, be), a(nullptr, DType::f32, {0, 2}, be),
                b(nullptr, DType::f32, {0, 2}, be);
            // Both forms of forward: it used to be refused with "host_slots is NULL".
            const Tensor out = layer.layer().forward(idle, q, a, b);
            CHECK(out.shape() == std::vector<int64_t>{0, 32});
            layer.layer().forward(idle, q, a, b, TensorView(nullptr, DType::f32, {0, 32}, be));
            idle.stream().synchronize();
            CHECK(pool.snapshot() == before);
        }
    }
}

TEST_CASE("S16, S17: write slots and checkpoint slots must be allocated slots too", "[errors][slots][serving]") {
    const uint64_t seed = test::seed("S16, S17: write slots and checkpoint slots must be allocated slots too");
    const Backend& be = test::backend();
    // The checks come before the capability checks; only the calls that run need the features.
    const uint32_t needed = GDN_FEATURE_WRITE_SLOTS | GDN_FEATURE_CHECKPOINTS;
    const bool runs = (be.capabilities().features & needed) == needed;
    const Case c = small_case(seed, {2, 3});
    const auto& p = c.problem;
    GDNPool pool(be, pool_managed_by_gdn(c, 6));
    DeviceLayer layer(be, p, DType::f32, 0);
    Tensor q = to_device(be, DType::f32, p.mixed_qkv, {5, p.conv_dim()});
    Tensor a = to_device(be, DType::f32, p.a, {5, 2}), b = to_device(be, DType::f32, p.b, {5, 2});
    const int64_t s0 = pool.alloc_slot(), s1 = pool.alloc_slot(), w = pool.alloc_slot(), ck = pool.alloc_slot();
    const int64_t never = 5;  // never handed out
    const std::string free_msg = "a slot allocated with alloc_slot (or a pool with engine_managed_slots), but slot ";
    const auto refused_call = [&](ForwardBatch& fb) { (void)layer.layer().forward(fb, q.view(), a.view(), b.view()); };
    const auto forward = [&](ForwardBatch& fb) {
        if (!runs) return;
        (void)layer.layer().forward(fb, q.view(), a.view(), b.view());
        fb.stream().synchronize();
    };

    const auto before = pool.snapshot();
    // Refused when set.
    ForwardBatch fb = ForwardBatch::extend(pool, {s0, s1}, {2, 3});
    expect_error("write_slots[0]: " + free_msg + "5 is free", [&] { fb.set_write_slots({never, s1}); });
    expect_error("checkpoint slot 1: " + free_msg + "5 is free", [&] {
        fb.set_checkpoints({{{1, ck}}, {{2, never}}});
    });
    CHECK_FALSE(fb.has_write_slots());
    CHECK(fb.num_checkpoints() == 0);
    // Refused by forward when freed after the batch was made, and by update_slots.
    fb.set_write_slots({w, s1});
    fb.set_checkpoints({{{1, ck}}, {}});
    pool.free_slot(w);
    expect_error("write_slots[0]: " + free_msg + std::to_string(w) + " is free", [&] { refused_call(fb); });
    expect_error("write_slots[0]: " + free_msg + std::to_string(w) + " is free", [&] { fb.update_slots({s0, s1}); });
    CHECK(pool.alloc_slot() == w);
    pool.free_slot(ck);
    expect_error("checkpoint slot 0: " + free_msg + std::to_string(ck) + " is free", [&] { refused_call(fb); });
    expect_error("checkpoint slot 0: " + free_msg + std::to_string(ck) + " is free", [&] {
        fb.update_slots({s0, s1});
    });
    CHECK(pool.snapshot() == before);
    CHECK(pool.alloc_slot() == ck);
    forward(fb);  // all allocated again: runs

    // kNoStateWrite and the padding slot are never allocated and always allowed.
    ForwardBatch none = ForwardBatch::decode(pool, {s0, pool.padding_slot()});
    none.set_write_slots({kNoStateWrite, pool.padding_slot()});

    // engine_managed_slots: any slot in range.
    PoolConfig managed = pool_managed_by_gdn(c, 6);
    managed.engine_managed_slots = true;
    GDNPool mine(be, managed);
    ForwardBatch any = ForwardBatch::extend(mine, {0, 1}, {2, 3});
    any.set_write_slots({4, 1});
    any.set_checkpoints({{{1, 5}}, {}});
    forward(any);
}

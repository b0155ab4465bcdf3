// GDNPool slot semantics on the backend's device.
#include <catch2/catch.hpp>

#include <set>

#include "runner.hpp"

using namespace gdn;

namespace {
PoolConfig small_config(int64_t slots) {
    PoolConfig pc;
    pc.num_layers = 3;
    pc.num_slots = slots;
    pc.num_k_heads = 1;
    pc.num_v_heads = 2;
    pc.head_k_dim = 8;
    pc.head_v_dim = 16;
    pc.conv_kernel = 3;
    pc.activation_dtype = DType::bf16;
    return pc;
}
std::vector<float> pattern(std::size_t n, float base) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = base + float(i) * 0.25f;
    return v;
}
}  // namespace

TEST_CASE("a pool's size is known before it is allocated", "[pool]") {
    for (int64_t slots : {1, 5, 64}) {
        const PoolConfig pc = small_config(slots);
        GDNPool pool(test::backend(), pc);
        CHECK(GDNPool::bytes_required(pc) == pool.bytes());
    }
    // Qwen3-Next-80B-A3B: 36 GDN layers, H=16, HV=32, Dk=Dv=128, Kc=4, bf16; 256 slots.
    PoolConfig qwen;
    qwen.num_layers = 36;
    qwen.num_slots = 256;
    qwen.num_k_heads = 16;
    qwen.num_v_heads = 32;
    qwen.head_k_dim = qwen.head_v_dim = 128;
    qwen.conv_kernel = 4;
    qwen.activation_dtype = DType::bf16;
    const std::size_t per_slot = 32 * 128 * 128 * 4 + (2 * 16 * 128 + 32 * 128) * 3 * 2;  // recurrent + conv
    CHECK(GDNPool::bytes_required(qwen) == 36 * 257 * per_slot);
    CHECK(GDNPool::bytes_required(qwen) > std::size_t(18) << 30);  // about 18.5 GiB
    qwen.num_slots = 0;
    CHECK_THROWS_WITH(GDNPool::bytes_required(qwen), "num_slots: at least 1, got 0");
    qwen.num_slots = INT64_MAX - 1;
    CHECK_THROWS_WITH(GDNPool::bytes_required(qwen), Catch::Contains("do not fit in memory"));
}

TEST_CASE("the pool allocates exactly its states plus one padding slot, zeroed", "[pool]") {
    GDNPool pool(test::backend(), small_config(5));
    const PoolConfig& c = pool.config();
    CHECK(pool.bytes() ==
          std::size_t(c.num_layers * (c.num_slots + 1)) * (pool.recurrent_slot_bytes() + pool.conv_slot_bytes()));
    CHECK(pool.recurrent_slot_bytes() == 2 * 16 * 8 * 4);
    CHECK(pool.conv_slot_bytes() == std::size_t(c.conv_dim() * 2 * 2));
    CHECK(pool.padding_slot() == 5);
    for (uint8_t byte : pool.snapshot()) REQUIRE(byte == 0);
}

TEST_CASE("slots are handed out once, reset on allocation, and reused after free", "[pool]") {
    GDNPool pool(test::backend(), small_config(3));
    std::set<int64_t> got;
    for (int i = 0; i < 3; ++i) got.insert(pool.alloc_slot());
    CHECK(got == std::set<int64_t>{0, 1, 2});
    CHECK_THROWS_AS(pool.alloc_slot(), Error);
    pool.write_recurrent(2, 1, pattern(256, 1.0f));
    pool.free_slot(1);
    CHECK_THROWS_AS(pool.free_slot(1), Error);  // double free is an error
    CHECK(pool.alloc_slot() == 1);
    for (float x : pool.read_recurrent(2, 1)) REQUIRE(x == 0.0f);  // reset on allocation
}

TEST_CASE("reset zeroes one slot in every layer; copy copies one slot in every layer", "[pool]") {
    GDNPool pool(test::backend(), small_config(4));
    for (int layer = 0; layer < 3; ++layer)
        for (int64_t s = 0; s < 4; ++s) {
            pool.write_recurrent(layer, s, pattern(256, float(10 * layer + s)));
            std::vector<uint8_t> conv(pool.conv_slot_bytes(), uint8_t(1 + layer * 4 + s));
            pool.write_conv_bytes(layer, s, conv);
        }
    pool.copy_slot(1, 3);
    pool.reset_slot(0);
    for (int layer = 0; layer < 3; ++layer) {
        INFO("layer " << layer);
        CHECK(pool.read_recurrent(layer, 3) == pool.read_recurrent(layer, 1));
        CHECK(pool.read_conv_bytes(layer, 3) == pool.read_conv_bytes(layer, 1));
        CHECK(pool.read_recurrent(layer, 2) == pattern(256, float(10 * layer + 2)));  // untouched
        for (float x : pool.read_recurrent(layer, 0)) REQUIRE(x == 0.0f);
        for (uint8_t x : pool.read_conv_bytes(layer, 0)) REQUIRE(x == 0);
    }
}

TEST_CASE("pool arguments out of range are errors naming the argument", "[pool]") {
    GDNPool pool(test::backend(), small_config(2));
    auto expect = [](auto&& f, const std::string& fragment) {
        try {
            f();
            FAIL("no error");
        } catch (const Error& e) {
            INFO(e.what());
            CHECK(std::string(e.what()).find(fragment) != std::string::npos);
        }
    };
    expect([&] { pool.reset_slot(2); }, "slot: a slot in 0..1, got 2");  // the padding slot is not resettable
    expect([&] { pool.copy_slot(-1, 0); }, "src");
    expect([&] { pool.copy_slot(0, 7); }, "dst");
    expect([&] { (void)pool.recurrent_state(3); }, "layer");
    auto bad = small_config(2);
    bad.num_v_heads = 3;
    bad.num_k_heads = 2;
    expect([&] { GDNPool p(test::backend(), bad); }, "num_v_heads");
    bad = small_config(0);
    expect([&] { GDNPool p(test::backend(), bad); }, "num_slots");
}

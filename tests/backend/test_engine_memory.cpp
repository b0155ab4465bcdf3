// GDNPool over memory the engine allocated (EngineMemory): the pool works in place on the
// engine's buffers, keeps their contents, never frees them, and refuses buffers it cannot use.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>

#include "gdn/registry.hpp"
#include "rows.hpp"

using namespace gdn;

namespace {

Case small_case(uint64_t seed) {
    RandomCaseSpec spec;
    spec.num_k_heads = 1;
    spec.num_v_heads = 2;
    spec.head_k_dim = 16;
    spec.head_v_dim = 32;
    spec.conv_kernel = 4;
    spec.activation_dtype = DType::bf16;
    spec.lengths = {23, 9};
    return random_case(spec, seed);
}

// Device memory the test (the "engine") allocates and frees itself.
struct EngineBuffer {
    EngineBuffer(const Backend& be, std::size_t n) : backend(be), bytes(n), data(be.allocate(n)) {}
    ~EngineBuffer() { backend.deallocate(data); }
    EngineBuffer(const EngineBuffer&) = delete;
    EngineBuffer& operator=(const EngineBuffer&) = delete;
    std::vector<uint8_t> read() const {
        std::vector<uint8_t> v(bytes);
        Stream& s = backend.default_stream();
        s.copy(v.data(), data, bytes, GDN_COPY_DEVICE_TO_HOST);
        s.synchronize();
        return v;
    }
    void write(const std::vector<uint8_t>& v) {
        Stream& s = backend.default_stream();
        s.copy(data, v.data(), bytes, GDN_COPY_HOST_TO_DEVICE);
        s.synchronize();
    }
    Backend backend;
    std::size_t bytes;
    void* data;
};

std::vector<uint8_t> random_bytes(std::size_t n, std::mt19937_64& rng) {
    std::vector<uint8_t> v(n);
    for (auto& x : v) x = uint8_t(rng() & 0x3F);  // small exponents only: finite f32/bf16 values
    return v;
}

// A second backend to mix up with the one under test: the fake test plugin's second device.
const Backend& other_backend() {
    static const Registry reg({GDN_TEST_PLUGIN_DIR});
    static const Backend b = reg.open("fake:1");
    return b;
}

}  // namespace

TEST_CASE("a pool over engine memory keeps the engine's states and computes in place", "[pool][engine-memory]") {
    const uint64_t seed = test::seed("a pool over engine memory keeps the engine's states and computes in place");
    const Case c = small_case(seed);
    const Backend& be = test::backend();
    const PoolConfig pc = pool_config(c, 3, 2);
    GDNPool owned(be, pc);  // the same computation on a pool gdn allocated, for comparison
    const std::size_t slots_total = std::size_t(pc.num_layers * (pc.num_slots + 1));
    const std::size_t rb = slots_total * owned.recurrent_slot_bytes(), cb = slots_total * owned.conv_slot_bytes();
    std::mt19937_64 rng(seed);

    EngineBuffer rec(be, rb), conv(be, cb);
    const std::vector<uint8_t> rec_before = random_bytes(rb, rng), conv_before = random_bytes(cb, rng);
    rec.write(rec_before);
    conv.write(conv_before);
    {
        GDNPool pool(be, pc, EngineMemory{be, rec.data, rb, conv.data, cb});
        CHECK_FALSE(pool.owns_memory());
        CHECK(owned.owns_memory());
        CHECK(pool.recurrent_state(0).data() == rec.data);
        CHECK(pool.conv_state(0).data() == conv.data);
        // The engine's existing states are the pool's: nothing was zeroed or copied.
        CHECK(pool.snapshot() == [&] {
            auto all = rec_before;
            all.insert(all.end(), conv_before.begin(), conv_before.end());
            return all;
        }());

        // Slot 2's states in layer 1 start from the engine's bytes in both pools.
        for (int64_t s = 0; s < 3; ++s) {
            owned.write_recurrent(1, s, pool.read_recurrent(1, s));
            owned.write_conv_bytes(1, s, pool.read_conv_bytes(1, s));
        }
        DeviceLayer layer(be, c.problem, c.activation_dtype, 1);
        const auto got = test::run_rows(c, layer.layer(), pool, ForwardMode::extend, {2, 0}, {23, 9}, 0);
        const auto want = test::run_rows(c, layer.layer(), owned, ForwardMode::extend, {2, 0}, {23, 9}, 0);
        CHECK(got == want);
        // The new states are in the engine's buffers themselves.
        for (int64_t s : {0, 2}) {
            CHECK(pool.read_recurrent(1, s) == owned.read_recurrent(1, s));
            CHECK(pool.read_conv_bytes(1, s) == owned.read_conv_bytes(1, s));
        }
        const auto rec_now = rec.read();
        const std::size_t slot_bytes = pool.recurrent_slot_bytes();
        const std::size_t at = (std::size_t(pc.num_slots + 1) + 2) * slot_bytes;  // layer 1, slot 2
        std::vector<float> engine_view(slot_bytes / sizeof(float));
        std::memcpy(engine_view.data(), rec_now.data() + at, slot_bytes);
        CHECK(engine_view == owned.read_recurrent(1, 2));
        // Untouched: layer 0, slot 1 of layer 1, the padding slot.
        auto same = [&](std::size_t from, std::size_t to) {
            return std::equal(rec_now.begin() + std::ptrdiff_t(from), rec_now.begin() + std::ptrdiff_t(to),
                              rec_before.begin() + std::ptrdiff_t(from));
        };
        CHECK(same(0, at - 2 * slot_bytes));
        CHECK(same(at - slot_bytes, at));
        CHECK(same(at + slot_bytes, rb));
        CHECK_FALSE(same(at, at + slot_bytes));

        // Slot allocation works as in a new pool: every slot free, reset when taken.
        CHECK(pool.free_slots() == 3);
        const int64_t s = pool.alloc_slot();
        for (float x : pool.read_recurrent(0, s)) REQUIRE(x == 0.0f);
    }
    // The pool is gone; the engine's memory is still the engine's (freed by ~EngineBuffer, once:
    // under ASan a free by the pool is a double free).
    CHECK(rec.read().size() == rb);
}

TEST_CASE("engine_memory_sizes are the sizes a pool of the configuration uses", "[pool][engine-memory]") {
    for (const int64_t slots : {1, 5, 64})
        for (const DType act : {DType::f32, DType::bf16, DType::f16})
            for (const DType state : {DType::f32, DType::bf16, DType::f16}) {
                PoolConfig pc = pool_config(small_case(1), slots, 3);
                pc.activation_dtype = act;
                pc.state_dtype = state;
                GDNPool pool(test::backend(), pc);
                const EngineMemorySizes sizes = engine_memory_sizes(pc);
                INFO(slots << " slots, " << dtype_name(act) << " activations, " << dtype_name(state) << " state");
                CHECK(sizes.recurrent_bytes == std::size_t(3 * (slots + 1)) * pool.recurrent_slot_bytes());
                CHECK(sizes.conv_bytes == std::size_t(3 * (slots + 1)) * pool.conv_slot_bytes());
                CHECK(sizes.recurrent_bytes + sizes.conv_bytes == pool.bytes());
                CHECK(GDNPool::bytes_required(pc) == pool.bytes());
                // A pool over engine memory of those sizes takes it.
                std::vector<uint8_t> engine(sizes.recurrent_bytes + sizes.conv_bytes + 512);
                if (test::backend().host_accessible()) {
                    auto* base =
                        reinterpret_cast<uint8_t*>((reinterpret_cast<std::uintptr_t>(engine.data()) + 255) / 256 * 256);
                    uint8_t* conv = base + (sizes.recurrent_bytes + 255) / 256 * 256;
                    if (conv + sizes.conv_bytes <= engine.data() + engine.size())
                        CHECK_NOTHROW(
                            GDNPool(test::backend(), pc,
                                    EngineMemory{Backend{}, base, sizes.recurrent_bytes, conv, sizes.conv_bytes}));
                }
            }
    PoolConfig bad = pool_config(small_case(1), 0, 1);
    test::expect_error("num_slots: at least 1, got 0", [&] { (void)engine_memory_sizes(bad); });  // M7
}

TEST_CASE("a CPU engine's host memory is accepted where the backend reads host memory", "[pool][engine-memory]") {
    const Backend& be = test::backend();
    const PoolConfig pc = pool_config(small_case(1), 2, 1);
    GDNPool sizes(be, pc);
    const std::size_t rb = sizes.recurrent_slot_bytes() * 3, cb = sizes.conv_slot_bytes() * 3;
    void* r = std::aligned_alloc(256, (rb + 255) / 256 * 256);
    void* v = std::aligned_alloc(256, (cb + 255) / 256 * 256);
    REQUIRE((r && v));
    if (be.host_accessible()) {
        GDNPool pool(be, pc, EngineMemory{Backend{}, r, rb, v, cb});
        pool.write_recurrent(0, 1, std::vector<float>(rb / 3 / 4, 1.5f));
        CHECK(static_cast<float*>(r)[rb / 3 / 4] == 1.5f);  // slot 1 starts one slot in
    } else {
        test::expect_error("memory.device: memory on backend " + be.name() + ", got host memory", [&] {
            GDNPool p(be, pc, EngineMemory{Backend{}, r, rb, v, cb});
        });  // M6 (backends that cannot read host memory)
    }
    std::free(r);
    std::free(v);
}

TEST_CASE("engine memory too small, too large, misaligned, overlapping or on another device is refused",
          "[pool][engine-memory][errors]") {
    const uint64_t seed =
        test::seed("engine memory too small, too large, misaligned, overlapping or on another device is refused");
    std::mt19937_64 rng(seed);
    const Backend& be = test::backend();
    const PoolConfig pc = pool_config(small_case(1), 2, 3);
    GDNPool sizes(be, pc);
    const std::size_t rb = sizes.recurrent_slot_bytes() * 9, cb = sizes.conv_slot_bytes() * 9;
    // Room for every bad variant: 256 bytes spare at each end.
    EngineBuffer rec(be, rb + 512), conv(be, cb + 512);
    const auto rec_bytes = random_bytes(rec.bytes, rng), conv_bytes = random_bytes(conv.bytes, rng);
    rec.write(rec_bytes);
    conv.write(conv_bytes);
    char* r = static_cast<char*>(rec.data);
    char* v = static_cast<char*>(conv.data);
    const EngineMemory good{be, r, rb, v, cb};
    auto with = [&](auto change) {
        EngineMemory m = good;
        change(m);
        return m;
    };
    auto refused = [&](const std::string& fragment, const EngineMemory& m) {
        test::expect_error(fragment, [&] { GDNPool p(be, pc, m); });
    };
    const std::string want_rb = std::to_string(rb), want_cb = std::to_string(cb);
    refused("memory.recurrent_bytes: num_layers x (num_slots + 1) x recurrent slot bytes = 3 x 3 x " +
                std::to_string(sizes.recurrent_slot_bytes()) + " = " + want_rb + " bytes, got " +
                std::to_string(rb - 4),
            with([&](EngineMemory& m) { m.recurrent_bytes = rb - 4; }));                              // M1
    refused("memory.recurrent_bytes", with([&](EngineMemory& m) { m.recurrent_bytes = rb + 256; }));  // M1
    refused("memory.conv_bytes: num_layers x (num_slots + 1) x conv slot bytes = 3 x 3 x " +
                std::to_string(sizes.conv_slot_bytes()) + " = " + want_cb + " bytes, got 0",
            with([&](EngineMemory& m) { m.conv_bytes = 0; }));  // M1
    refused("memory.recurrent: an address aligned to 256 bytes",
            with([&](EngineMemory& m) { m.recurrent = r + 4; }));                                               // M2
    refused("memory.conv: an address aligned to 256 bytes", with([&](EngineMemory& m) { m.conv = v + 128; }));  // M2
    refused("memory.recurrent: non-null data", with([&](EngineMemory& m) { m.recurrent = nullptr; }));          // M3
    refused("memory.conv: a buffer apart from memory.recurrent", with([&](EngineMemory& m) { m.conv = r; }));   // M4
    refused("memory.device: memory on backend " + be.name() + ", got memory on fake:1",
            with([&](EngineMemory& m) { m.device = other_backend(); }));  // M5
    // Nothing was written into the engine's memory by any refused pool.
    CHECK(rec.read() == rec_bytes);
    CHECK(conv.read() == conv_bytes);
    // The good one is accepted.
    GDNPool ok(be, pc, good);
    CHECK(ok.bytes() == rb + cb);
}

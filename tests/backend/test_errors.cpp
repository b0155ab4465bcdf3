// The bad-input catalogue (docs/errors.md): every error of the API that test_validation.cpp does
// not already provoke, one invalid call each, with its status and the words of its message. Calls
// that reach a pool check that the pool is bit-identical afterwards. The row numbers (E1, E2, ...)
// are those of docs/errors.md.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>

#include "gdn/registry.hpp"
#include "gdn/safetensors.hpp"
#include "runner.hpp"

using namespace gdn;

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

using test::expect_error;

// A small valid setup on the backend under test: H=1, HV=2, Dk=Dv=16, Kc=4, f32, 4 slots.
struct Small {
    Case c;
    GDNPool pool;
    DeviceLayer layer;
    Tensor qkv, a, b, out;

    Small()
        : c(make()), pool(test::backend(), pool_config(c, 4)), layer(test::backend(), c.problem, DType::f32, 0),
          qkv(to_device(test::backend(), DType::f32, c.problem.mixed_qkv, {3, c.problem.conv_dim()})),
          a(to_device(test::backend(), DType::f32, c.problem.a, {3, 2})),
          b(to_device(test::backend(), DType::f32, c.problem.b, {3, 2})), out(test::backend(), DType::f32, {3, 32}) {
        for (int64_t s = 0; s < 4; ++s) pool.write_recurrent(0, s, std::vector<float>(2 * 16 * 16, 0.5f + float(s)));
    }
    static Case make() {
        RandomCaseSpec spec;
        spec.num_k_heads = 1;
        spec.num_v_heads = 2;
        spec.head_k_dim = spec.head_v_dim = 16;
        spec.lengths = {1, 2};
        return random_case(spec, 11);
    }
    const RadixLinearAttention& L() const { return layer.layer(); }
    // The pool must not change by a single bit across `call`.
    void rejected(const std::string& fragment, const std::function<void()>& call,
                  gdn_status status = GDN_ERR_INVALID_ARGUMENT) {
        const auto before = pool.snapshot();
        expect_error(fragment, call, status);
        CHECK(pool.snapshot() == before);
    }
};

Tensor f32(const std::vector<double>& v, std::vector<int64_t> shape) {
    return to_device(test::backend(), DType::f32, v, std::move(shape));
}

// A second backend to mix up with the one under test: the fake test plugin (computes nothing).
const Backend& other_backend() {
    static const Registry reg({GDN_TEST_PLUGIN_DIR});
    static const Backend b = reg.open("fake:1");
    return b;
}

PoolConfig valid_config() {
    PoolConfig pc;
    pc.num_slots = 2;
    pc.num_k_heads = 1;
    pc.num_v_heads = 2;
    pc.head_k_dim = pc.head_v_dim = 16;
    pc.activation_dtype = DType::f32;
    return pc;
}

}  // namespace

TEST_CASE("E1-E9: invalid layer construction", "[errors]") {
    const Backend& be = test::backend();
    const int64_t C = 2 * 16 + 2 * 16;
    Tensor w = f32(std::vector<double>(std::size_t(C * 4), 0.1), {C, 4});
    Tensor A = f32({-1.0, -0.5}, {2}), dt = f32({0.1, 0.2}, {2});
    auto layer = [&](int H, int HV, int Dk, int Dv, const TensorView& cw, const TensorView& al, const TensorView& db) {
        return RadixLinearAttention(
            LayerConfig{.num_k_heads = H, .num_v_heads = HV, .head_k_dim = Dk, .head_v_dim = Dv}, cw, al, db);
    };
    expect_error("num_k_heads: >= 1, got 0", [&] { layer(0, 2, 16, 16, w, A, dt); });   // E1
    expect_error("head_k_dim: >= 1, got 0", [&] { layer(1, 2, 0, 16, w, A, dt); });     // E2
    expect_error("head_v_dim: >= 1, got -3", [&] { layer(1, 2, 16, -3, w, A, dt); });   // E3
    expect_error("conv_weight: shape [conv_dim = 64, Kc in 2..31], got [64, 1]", [&] {  // E4
        layer(1, 2, 16, 16, TensorView(w.data(), DType::f32, {C, 1}, be), A, dt);
    });
    // A width that would truncate to 4 as an int (found by the forward fuzzer's review).               E4
    expect_error("conv_weight: shape [conv_dim = 64, Kc in 2..31], got [64, 4294967300]", [&] {
        layer(1, 2, 16, 16, TensorView(w.data(), DType::f32, {C, (int64_t(1) << 32) + 4}, be), A, dt);
    });
    expect_error("conv_weight: dtype f32, bf16 or f16, got i32",  // E5
                 [&] {
                     layer(1, 2, 16, 16, TensorView(w.data(), DType::i32, {C, 4}, be), A, dt);
                 });
    expect_error("conv_weight: packed strides, got [1, 64]",  // E6
                 [&] {
                     layer(1, 2, 16, 16, TensorView(w.data(), DType::f32, {C, 4}, {1, C}, be), A, dt);
                 });
    expect_error("conv_weight: non-null data",  // E7
                 [&] {
                     layer(1, 2, 16, 16, TensorView(nullptr, DType::f32, {C, 4}, be), A, dt);
                 });
    expect_error("A_log: shape [HV = 2], got [3]",  // E8
                 [&] { layer(1, 2, 16, 16, w, TensorView(A.data(), DType::f32, {3}, be), dt); });
    expect_error("dt_bias: non-null data",
                 [&] { layer(1, 2, 16, 16, w, A, TensorView(nullptr, DType::f32, {2}, be)); });  // E9
    expect_error("A_log: packed strides",                                                        // E9
                 [&] { layer(1, 2, 16, 16, w, TensorView(A.data(), DType::f32, {2}, {2}, be), dt); });
}

TEST_CASE("E10-E14: views, memory and streams of another backend", "[errors]") {
    Small s;
    const Backend& other = other_backend();
    const int64_t C = s.c.problem.conv_dim();
    // The layer's weights on another device than the batch's pool.
    void* mem = other.allocate(std::size_t(C * 4 * 4));
    std::memset(mem, 0, std::size_t(C * 4 * 4));
    std::vector<float> A{-1.f, -1.f}, dt{0.f, 0.f};
    const RadixLinearAttention foreign(0, 0, 1, 2, 16, 16, TensorView(mem, DType::f32, {C, 4}, other),
                                       TensorView(A.data(), DType::f32, {2}), TensorView(dt.data(), DType::f32, {2}));
    ForwardBatch fb = ForwardBatch::extend(s.pool, {0, 1}, {1, 2});
    s.rejected("layer weights: memory on backend " + test::backend().name(),  // E10
               [&] { foreign.forward(fb, s.qkv.view(), s.a.view(), s.b.view(), s.out.view()); });
    s.rejected("mixed_qkv: memory on backend " + test::backend().name() + ", got memory on fake:1", [&] {  // E11
        s.L().forward(fb, TensorView(s.qkv.data(), DType::f32, {3, C}, other), s.a.view(), s.b.view(), s.out.view());
    });
    Stream foreign_stream(other);
    s.rejected("stream: a stream of backend " + test::backend().name(),
               [&] { fb.set_stream(&foreign_stream); });  // E12
    other.deallocate(mem);
    // A stream of the right backend is accepted, and null goes back to the default stream.
    Stream mine(test::backend(), 1);
    fb.set_stream(&mine);
    CHECK(&fb.stream() == &mine);
    fb.set_stream(nullptr);
    CHECK(&fb.stream() == &test::backend().default_stream());
    // Rank and stride count of a view itself.
    expect_error("strides: one stride per dimension (2), got 1",  // E13
                 [&] {
                     TensorView(s.qkv.data(), DType::f32, {3, C}, {C});
                 });
    // A shape whose element count overflows int64 (found by the forward fuzzer: undefined
    // behaviour in packed_strides under UBSan) is refused when the view is made (B2).               E14
    expect_error("shape[1]: a size that keeps [3, 9223372036854775696] f32 below 2^63 bytes, got 9223372036854775696",
                 [&] {
                     TensorView(s.qkv.data(), DType::f32, {3, kMax - 111}, test::backend());
                 });
    CHECK(packed_strides({3, kMax - 111, 5}).back() == 1);
    expect_error("shape: rank at most 6",  // E14
                 [&] {
                     TensorView(s.qkv.data(), DType::f32, {1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1});
                 });
}

TEST_CASE("E15-E20: invalid batches beyond test_validation", "[errors]") {
    Small s;
    s.rejected("mode: extend, decode or mixed", [&] { ForwardBatch(ForwardMode(7), s.pool, {0}, {1}); });  // E15
    s.rejected("extend_seq_lens: lengths whose sum fits in int64",                                         // E16
               [&] {
                   ForwardBatch::extend(s.pool, {0, 1}, {kMax, 1});
               });
    s.rejected("cu_seqlens: non-decreasing, but entry 2",  // E17
               [&] {
                   ForwardBatch::from_cu_seqlens(ForwardMode::extend, s.pool, {0, 1},
                                                 {0, 5, std::numeric_limits<int64_t>::min()});
               });
    s.rejected("req_pool_indices[0]: a slot in 0..3 or the padding slot 4, got 9",  // E18
               [&] {
                   ForwardBatch::decode(s.pool, {0, 1}).update_slots({9, 1});
               });
    // Lengths that do not sum to the rows given: rejected by the shape check before anything is
    // allocated for the output, also when the output is allocated by forward itself.
    ForwardBatch huge = ForwardBatch::extend(s.pool, {0}, {int64_t(1) << 40});
    s.rejected("mixed_qkv: shape [1099511627776, ",
               [&] { (void)s.L().forward(huge, s.qkv.view(), s.a.view(), s.b.view()); });  // E19
    // A padding-only batch is valid: nothing is read or written.
    ForwardBatch padding = ForwardBatch::decode(s.pool, {4, 4});
    Tensor q2 = f32(std::vector<double>(std::size_t(2 * s.c.problem.conv_dim()), 0.5), {2, s.c.problem.conv_dim()});
    Tensor a2 = f32({0, 0, 0, 0}, {2, 2}), b2 = f32({0, 0, 0, 0}, {2, 2});
    const auto before = s.pool.snapshot();
    const Tensor o = s.L().forward(padding, q2.view(), a2.view(), b2.view());
    padding.stream().synchronize();
    CHECK(s.pool.snapshot() == before);
    for (double v : to_host_double(o)) CHECK(v == 0.0);
    // A ForwardBatch that outlives its pool.                                                             // E20
    std::optional<GDNPool> gone;
    gone.emplace(test::backend(), pool_config(s.c, 2));
    ForwardBatch orphan = ForwardBatch::decode(*gone, {0});
    gone.reset();
    expect_error("batch: its GDNPool was destroyed", [&] { (void)orphan.pool(); });
    expect_error("batch: its GDNPool was destroyed", [&] {
        s.L().forward(orphan, TensorView(s.qkv.data(), DType::f32, {1, s.c.problem.conv_dim()}, test::backend()),
                      TensorView(s.a.data(), DType::f32, {1, 2}, test::backend()),
                      TensorView(s.b.data(), DType::f32, {1, 2}, test::backend()));
    });
    expect_error("batch: its GDNPool was destroyed", [&] { orphan.update_slots({0}); });
}

TEST_CASE("E21-E24: outside the backend's capabilities", "[errors][capabilities]") {
    const Backend& be = test::backend();
    const auto& caps = be.capabilities();
    auto try_shape = [&](int H, int HV, int Dk, int Dv, int Kc, DType dt, const std::string& fragment) {
        RandomCaseSpec spec;
        spec.num_k_heads = H;
        spec.num_v_heads = HV;
        spec.head_k_dim = Dk;
        spec.head_v_dim = Dv;
        spec.conv_kernel = Kc;
        spec.activation_dtype = dt;
        spec.lengths = {2};
        const Case c = random_case(spec, 3);
        GDNPool pool(be, pool_config(c, 1));
        DeviceLayer layer(be, c.problem, dt, 0);
        Tensor q = to_device(be, dt, c.problem.mixed_qkv, {2, c.problem.conv_dim()});
        Tensor a = to_device(be, dt, c.problem.a, {2, HV}), b = to_device(be, dt, c.problem.b, {2, HV});
        ForwardBatch fb = ForwardBatch::extend(pool, {0}, {2});
        const auto before = pool.snapshot();
        expect_error(
            "backend " + be.name() + " does not support " + fragment,
            [&] { (void)layer.layer().forward(fb, q.view(), a.view(), b.view()); }, GDN_ERR_UNSUPPORTED);
        CHECK(pool.snapshot() == before);
    };
    const int dv_low = caps.head_v_dim.min - 1;
    if (dv_low >= 1) try_shape(1, 1, 16, dv_low, 4, DType::f32, "head_v_dim " + std::to_string(dv_low));  // E21
    for (int Kc = 2; Kc < 8; ++Kc)
        if (!(caps.conv_kernels & (1u << Kc))) {
            try_shape(1, 1, 16, 16, Kc, DType::f32, "conv_kernel " + std::to_string(Kc));  // E22
            break;
        }
    try_shape(1, 32, 8 < caps.head_k_dim.min ? caps.head_k_dim.min : 8,
              8 < caps.head_v_dim.min ? caps.head_v_dim.min : 8, 4, DType::f32, "GVA ratio 32");  // E23
    for (DType dt : {DType::f32, DType::bf16, DType::f16})
        if (!(caps.activation_dtypes & (1u << unsigned(dt)))) {
            try_shape(1, 1, 16, 16, 4, dt, std::string("activation dtype ") + dtype_name(dt));  // E24
            break;
        }
}

TEST_CASE("E25-E37: invalid pools and pool operations", "[errors][pool]") {
    const Backend& be = test::backend();
    auto with = [&](auto change) {
        PoolConfig pc = valid_config();
        change(pc);
        return [pc, &be] { GDNPool p(be, pc); };
    };
    expect_error("num_layers: at least 1, got 0", with([](PoolConfig& p) { p.num_layers = 0; }));  // E25
    expect_error("num_slots: at least 1, got 0", with([](PoolConfig& p) { p.num_slots = 0; }));    // E26
    expect_error("num_k_heads: at least 1", with([](PoolConfig& p) { p.num_k_heads = 0; }));       // E27
    expect_error("num_v_heads: a positive multiple of num_k_heads (2), got 3",
                 with([](PoolConfig& p) { p.num_k_heads = 2, p.num_v_heads = 3; }));                 // E27
    expect_error("head_k_dim: at least 1", with([](PoolConfig& p) { p.head_k_dim = 0; }));           // E28
    expect_error("head_v_dim: at least 1", with([](PoolConfig& p) { p.head_v_dim = -1; }));          // E28
    expect_error("conv_kernel: at least 2, got 1", with([](PoolConfig& p) { p.conv_kernel = 1; }));  // E29
    expect_error("activation_dtype: f32, bf16 or f16, got i64",
                 with([](PoolConfig& p) { p.activation_dtype = DType::i64; }));      // E30
    expect_error("pool: 1 layers x 9223372036854775806 slots do not fit in memory",  // E31
                 with([](PoolConfig& p) { p.num_slots = kMax - 1; }), GDN_ERR_OUT_OF_MEMORY);
    expect_error("backend: a loaded backend", [] { GDNPool p(Backend(), valid_config()); });  // E32

    GDNPool pool(be, valid_config());
    const auto before = pool.snapshot();
    const int64_t s0 = pool.alloc_slot(), s1 = pool.alloc_slot();
    expect_error(
        "alloc_slot: all 2 slots are in use", [&] { pool.alloc_slot(); }, GDN_ERR_OUT_OF_MEMORY);  // E33
    pool.free_slot(s1);
    expect_error("slot: an allocated slot, but " + std::to_string(s1) + " is free",
                 [&] { pool.free_slot(s1); });                                                        // E34
    expect_error("slot: a slot in 0..1, got 2", [&] { pool.free_slot(2); });                          // E35 padding
    expect_error("slot: a slot in 0..1, got -1", [&] { pool.reset_slot(-1); });                       // E35
    expect_error("src: a slot in 0..1, got 5", [&] { pool.copy_slot(5, s0); });                       // E35
    expect_error("dst: a slot in 0..1, got 2", [&] { pool.copy_slot(s0, 2); });                       // E35
    expect_error("slot: a slot in 0..2, got 3", [&] { (void)pool.read_recurrent(0, 3); });            // E35
    expect_error("layer: a GDN layer index in 0..0, got 1", [&] { (void)pool.recurrent_state(1); });  // E36
    expect_error("layer: a GDN layer index in 0..0, got -1", [&] { (void)pool.read_conv_bytes(-1, 0); });       // E36
    expect_error("state: HV*Dv*Dk = 512 floats", [&] { pool.write_recurrent(0, s0, std::vector<float>(3)); });  // E37
    expect_error("conv_state: ", [&] { pool.write_conv_bytes(0, s0, std::vector<uint8_t>(1)); });               // E37
    CHECK(pool.snapshot() == before);
}

TEST_CASE("E38-E42: buffers, empty handles, dtypes", "[errors]") {
    const Backend& be = test::backend();
    DeviceBuffer buf(be, 64);
    std::vector<uint8_t> host(128);
    expect_error("upload: range within the buffer", [&] { buf.upload(host.data(), 65); });         // E38
    expect_error("download: range within the buffer", [&] { buf.download(host.data(), 8, 60); });  // E38
    // An empty Backend handle (default-constructed or moved from) is an error, never a crash.
    expect_error("backend: a loaded backend, got an empty Backend",
                 [] { Tensor t(Backend(), DType::f32, {4}); });                                             // E39
    expect_error("stream backend: a loaded backend", [] { Stream s{Backend()}; });                          // E39
    expect_error("backend: a loaded backend", [] { (void)Backend().default_stream(); });                    // E39
    expect_error("dtype: one of f32, bf16, f16, i32, i64, got 'f8'", [] { (void)dtype_from_name("f8"); });  // E40
    expect_error("dtype: unknown code 9", [] { (void)dtype_size(DType(9)); });                              // E41
    // The backend's own refusal, passed through with the call's name: memory it cannot give.
    expect_error(
        "mem_alloc: ", [&] { (void)be.allocate(std::size_t(1) << 62); }, GDN_ERR_OUT_OF_MEMORY);  // E42
    try {
        (void)be.allocate(std::size_t(1) << 62);
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("mem_alloc: mem_alloc:") == std::string::npos);  // E42: named once
    }
}

TEST_CASE("E43-E49: choosing a backend", "[errors][registry]") {
    const Registry reg({GDN_TEST_PLUGIN_DIR});
    expect_error("unknown backend `nosuch`: expected auto or one of: ", [&] { (void)reg.open("nosuch"); });  // E43
    expect_error(
        "backend `fake:x`: expected <name>[:<device index>] or auto (the device index must be a non-negative integer)",
        [&] { (void)reg.open("fake:x"); });                                                // E44
    expect_error("(a device index needs a backend name)", [&] { (void)reg.open(":1"); });  // E44
    expect_error("(auto chooses the device itself)", [&] { (void)reg.open("auto:0"); });   // E44
    expect_error("backend `fake:2`: device index 2 out of range: `fake` has 2 devices (indices 0..1)",
                 [&] { (void)reg.open("fake:2"); });  // E45
    expect_error(
        "backend `no_device` cannot be used here:\nno_device: not usable",  // E46
        [&] { (void)reg.open("no_device"); }, GDN_ERR_NO_DEVICE);
    expect_error(
        "backend `init_fails` cannot be used here:", [&] { (void)reg.open("init_fails"); }, GDN_ERR_DRIVER);  // E46
    const Registry empty(std::vector<std::filesystem::path>{});
    expect_error(
        "no gdn backend: no plugin files found in (empty search path)",  // E47
        [&] { (void)empty.open("auto"); }, GDN_ERR_NO_DEVICE);
    const Registry broken({std::filesystem::path(GDN_TEST_PLUGIN_DIR) / "libgdn_text.so"});
    expect_error(
        "no usable gdn backend in ", [&] { (void)broken.open(""); }, GDN_ERR_NO_DEVICE);  // E48
    // Use after the registry is gone: a Backend keeps its plugin loaded, so this is safe.        E49
    Backend kept;
    {
        const Registry gone({GDN_TEST_PLUGIN_DIR});
        kept = gone.open("fake");
    }
    void* p = kept.allocate(16);
    kept.default_stream().fill(p, 3, 16);
    kept.default_stream().synchronize();
    CHECK(static_cast<unsigned char*>(p)[15] == 3);
    kept.deallocate(p);
}

TEST_CASE("E50-E52: the pool and its data outlive every Backend handle and the registry", "[errors][lifetime]") {
    // The pool holds its own Backend: dropping every other handle and the registry is safe.
    std::optional<GDNPool> pool;
    std::optional<ForwardBatch> fb;
    {
        const Registry reg({std::filesystem::path(test::backend().plugin().path())});
        const Backend be = reg.open(test::backend().plugin().name());
        PoolConfig pc = valid_config();
        pc.engine_managed_slots = true;  // the batch names slots before any is allocated
        pool.emplace(be, pc);
        fb.emplace(ForwardBatch::decode(*pool, {0, 1}));
    }
    const int64_t s = pool->alloc_slot();
    pool->write_recurrent(0, s, std::vector<float>(512, 2.0f));
    CHECK(pool->read_recurrent(0, s)[511] == 2.0f);
    fb->update_slots({1, 0});
    fb.reset();
    pool.reset();
}

TEST_CASE("E53-E58: safetensors and golden files", "[errors][safetensors]") {
    auto file = [](const std::string& header, std::size_t payload) {
        std::vector<uint8_t> f(8 + header.size() + payload, 0);
        for (int i = 0; i < 8; ++i) f[std::size_t(i)] = uint8_t(uint64_t(header.size()) >> (8 * i));
        std::memcpy(f.data() + 8, header.data(), header.size());
        return f;
    };
    auto parse = [](const std::vector<uint8_t>& f) { return SafetensorsFile::parse(f.data(), f.size(), "t"); };
    expect_error("t: __metadata__ must be an object of strings",
                 [&] { parse(file(R"({"__metadata__":1})", 0)); });  // E53
    expect_error("t: __metadata__['k'] must be a string",
                 [&] { parse(file(R"({"__metadata__":{"k":1}})", 0)); });                 // E53
    expect_error("t: tensor 'x': an object with dtype, shape and data_offsets expected",  // E54
                 [&] { parse(file(R"({"x":3})", 0)); });
    expect_error("t: tensor 'x': dtype must be a string",
                 [&] { parse(file(R"({"x":{"dtype":1,"shape":[1],"data_offsets":[0,4]}})", 4)); });  // E54
    expect_error("t: tensor 'x': shape must be an array",
                 [&] { parse(file(R"({"x":{"dtype":"F32","shape":1,"data_offsets":[0,4]}})", 4)); });  // E54
    // A shape whose byte count wraps around 2^64 must not pass for an empty tensor.                 E55
    expect_error("t: tensor 'x': shape too large", [&] {
        parse(file(R"({"x":{"dtype":"I64","shape":[2305843009213693952],"data_offsets":[0,0]}})", 0));
    });
    expect_error("t: tensor 'x': shape too large", [&] {
        parse(file(R"({"x":{"dtype":"F32","shape":[0,9223372036854775808],"data_offsets":[0,0]}})", 0));
    });
    const auto ok = file(
        R"({"__metadata__":{"n":"12x","big":"99999999999"},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
    const SafetensorsFile f = parse(ok);
    expect_error("t: no tensor 'y'", [&] { (void)f.at("y"); });                                                 // E56
    expect_error("t: no metadata key 'm'", [&] { (void)f.meta("m"); });                                         // E57
    expect_error("t: metadata 'n' must be an integer, got '12x'", [&] { (void)f.meta_int("n"); });              // E58
    expect_error("t: metadata 'big' must be an integer, got '99999999999'", [&] { (void)f.meta_int("big"); });  // E58
    expect_error("cannot open file", [] { (void)SafetensorsFile::read("/nonexistent/gdn.safetensors"); });      // E58
    expect_error("no metadata key 'num_k_heads'", [&] {  // E58 (gdn check)
        const auto path = std::filesystem::temp_directory_path() / "gdn_test_errors_golden.safetensors";
        {
            std::ofstream out(path, std::ios::binary);
            out.write(reinterpret_cast<const char*>(ok.data()), std::streamsize(ok.size()));
        }
        struct Remove {
            std::filesystem::path p;
            ~Remove() { std::filesystem::remove(p); }
        } rm{path};
        (void)load_golden(path);
    });
}

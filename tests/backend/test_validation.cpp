// Every invalid call is refused with an error that names the argument, before anything is
// written: the pool is bit-identical afterwards.
#include <catch2/catch.hpp>

#include <functional>

#include "runner.hpp"

using namespace gdn;

namespace {

struct Setup {
    Case c;
    GDNPool pool;
    DeviceLayer layer;
    Tensor qkv, a, b, out;
    int64_t T;

    explicit Setup(uint64_t seed)
        : c(make_case(seed)), pool(test::backend(), pool_config(c, 6)),
          layer(test::backend(), c.problem, c.activation_dtype, 0),
          qkv(to_device(test::backend(), DType::bf16, c.problem.mixed_qkv,
                        {c.problem.num_tokens(), c.problem.conv_dim()})),
          a(to_device(test::backend(), DType::bf16, c.problem.a, {c.problem.num_tokens(), 4})),
          b(to_device(test::backend(), DType::bf16, c.problem.b, {c.problem.num_tokens(), 4})),
          out(test::backend(), DType::bf16, {c.problem.num_tokens(), 4 * 16}), T(c.problem.num_tokens()) {
        // Non-zero state everywhere, so a stray write is visible.
        for (int64_t s = 0; s < 6; ++s) {
            std::vector<float> st(4 * 16 * 16);
            for (std::size_t i = 0; i < st.size(); ++i) st[i] = float(i % 7) - 3.0f + float(s);
            pool.write_recurrent(0, s, st);
        }
    }
    static Case make_case(uint64_t seed) {
        RandomCaseSpec spec;
        spec.num_k_heads = 2;
        spec.num_v_heads = 4;
        spec.head_k_dim = spec.head_v_dim = 16;
        spec.activation_dtype = DType::bf16;
        spec.lengths = {3, 4};
        return random_case(spec, seed);
    }
    TensorView view_of(const Tensor& t, std::vector<int64_t> shape, std::vector<int64_t> strides, DType dt) const {
        return TensorView(t.data(), dt, std::move(shape), std::move(strides), test::backend());
    }
};

// Runs `call`, expects an Error with `status` whose message contains `fragment`, and a pool
// that did not change by a single bit.
void expect_rejected(Setup& s, const std::string& fragment, const std::function<void()>& call,
                     gdn_status status = GDN_ERR_INVALID_ARGUMENT) {
    const auto before = s.pool.snapshot();
    test::expect_error(fragment, call, status);
    CHECK(s.pool.snapshot() == before);
}

}  // namespace

TEST_CASE("invalid forward calls are refused before anything is written", "[validation]") {
    Setup s(test::seed("invalid forward calls are refused before anything is written"));
    const auto& L = s.layer.layer();
    const int64_t T = s.T, C = s.c.problem.conv_dim();
    auto batch = [&](std::vector<int64_t> slots, std::vector<int64_t> lens) {
        return ForwardBatch::extend(s.pool, std::move(slots), std::move(lens));
    };

    // Sanity: the valid call goes through and changes the pool (so the checks below can fail).
    {
        const auto before = s.pool.snapshot();
        ForwardBatch ok = batch({1, 4}, {3, 4});
        L.forward(ok, s.qkv.view(), s.a.view(), s.b.view(), s.out.view());
        ok.stream().synchronize();
        CHECK(s.pool.snapshot() != before);
    }

    ForwardBatch fb = batch({0, 5}, {3, 4});
    expect_rejected(s, "mixed_qkv: rank 2", [&] {
        L.forward(fb, s.view_of(s.qkv, {T * C}, {1}, DType::bf16), s.a.view(), s.b.view(), s.out.view());
    });
    expect_rejected(s, "mixed_qkv: shape [7, " + std::to_string(C) + "], got [6, ", [&] {
        L.forward(fb, s.view_of(s.qkv, {6, C}, {C, 1}, DType::bf16), s.a.view(), s.b.view(), s.out.view());
    });
    expect_rejected(s, "mixed_qkv: dtype bf16, got f16", [&] {
        L.forward(fb, s.view_of(s.qkv, {T, C}, {C, 1}, DType::f16), s.a.view(), s.b.view(), s.out.view());
    });
    expect_rejected(s, "mixed_qkv: stride 1 in dimension 1", [&] {
        L.forward(fb, s.view_of(s.qkv, {T, C}, {C, 2}, DType::bf16), s.a.view(), s.b.view(), s.out.view());
    });
    expect_rejected(s, "mixed_qkv: stride", [&] {  // rows overlapping
        L.forward(fb, s.view_of(s.qkv, {T, C}, {C - 1, 1}, DType::bf16), s.a.view(), s.b.view(), s.out.view());
    });
    expect_rejected(s, "mixed_qkv: non-null data", [&] {
        L.forward(fb, TensorView(nullptr, DType::bf16, {T, C}, test::backend()), s.a.view(), s.b.view(), s.out.view());
    });
    expect_rejected(s, "a: shape [7, 4]", [&] {
        L.forward(fb, s.qkv.view(), s.view_of(s.a, {T, 3}, {3, 1}, DType::bf16), s.b.view(), s.out.view());
    });
    expect_rejected(s, "b: dtype bf16, got f32", [&] {
        L.forward(fb, s.qkv.view(), s.a.view(), s.view_of(s.b, {T, 4}, {4, 1}, DType::f32), s.out.view());
    });
    expect_rejected(s, "out: shape [7, 64]", [&] {
        L.forward(fb, s.qkv.view(), s.a.view(), s.b.view(), s.view_of(s.out, {T, 32}, {32, 1}, DType::bf16));
    });
    expect_rejected(s, "out: stride", [&] {
        L.forward(fb, s.qkv.view(), s.a.view(), s.b.view(), s.view_of(s.out, {T, 64}, {65, 1}, DType::bf16));
    });
    // Lengths that do not sum to the tokens given.
    ForwardBatch short_batch = batch({0, 5}, {3, 3});
    expect_rejected(s, "mixed_qkv: shape [6, ",
                    [&] { L.forward(short_batch, s.qkv.view(), s.a.view(), s.b.view(), s.out.view()); });
    // Memory on the host for a backend that cannot read host memory, or vice versa, is caught
    // by the device check; host memory given to a host backend is fine, so only test the view.
    if (!test::backend().host_accessible()) {
        std::vector<uint16_t> host(std::size_t(T * C));
        expect_rejected(s, "mixed_qkv: memory on backend", [&] {
            L.forward(fb, TensorView(host.data(), DType::bf16, {T, C}), s.a.view(), s.b.view(), s.out.view());
        });
    }
}

TEST_CASE("invalid batches are refused naming the argument", "[validation]") {
    Setup s(test::seed("invalid batches are refused naming the argument"));
    expect_rejected(s, "req_pool_indices[1]: a slot not used by another request of the batch, but slot 2 appears twice",
                    [&] {
                        ForwardBatch::extend(s.pool, {2, 2}, {3, 4});
                    });
    expect_rejected(s, "req_pool_indices[0]: a slot in 0..5 or the padding slot 6, got 7", [&] {
        ForwardBatch::extend(s.pool, {7, 2}, {3, 4});
    });
    expect_rejected(s, "req_pool_indices[1]", [&] { ForwardBatch::decode(s.pool, {0, -1}); });
    expect_rejected(s, "extend_seq_lens[1]: a length >= 0, got -2", [&] {
        ForwardBatch::extend(s.pool, {0, 1}, {9, -2});
    });
    expect_rejected(s, "extend_seq_lens: one length per request (2), got 3", [&] {
        ForwardBatch::extend(s.pool, {0, 1}, {1, 2, 3});
    });
    expect_rejected(s, "extend_seq_lens: empty or all 1 in decode mode", [&] {
        ForwardBatch(ForwardMode::decode, s.pool, {0, 1}, {1, 2});
    });
    expect_rejected(s, "cu_seqlens: non-decreasing", [&] {
        ForwardBatch::from_cu_seqlens(ForwardMode::extend, s.pool, {0, 1}, {0, 5, 3});
    });
    expect_rejected(s, "cu_seqlens[0]: 0, got 1", [&] {
        ForwardBatch::from_cu_seqlens(ForwardMode::extend, s.pool, {0, 1}, {1, 5, 7});
    });
    expect_rejected(s, "cu_seqlens: B+1 = 3 entries, got 2", [&] {
        ForwardBatch::from_cu_seqlens(ForwardMode::extend, s.pool, {0, 1}, {0, 5});
    });
    ForwardBatch fb = ForwardBatch::decode(s.pool, {0, 1});
    expect_rejected(s, "req_pool_indices: 2 slots (the batch size), got 1", [&] { fb.update_slots({3}); });
    expect_rejected(s, "appears twice", [&] { fb.update_slots({3, 3}); });
}

TEST_CASE("invalid layers and mismatched pools are refused", "[validation]") {
    Setup s(test::seed("invalid layers and mismatched pools are refused"));
    const auto& p = s.c.problem;
    const Backend& be = test::backend();
    Tensor w = to_device(be, DType::bf16, p.conv_weight, {p.conv_dim(), 4});
    Tensor w3 = to_device(be, DType::bf16, std::vector<double>(std::size_t(p.conv_dim() * 3), 0.1), {p.conv_dim(), 3});
    Tensor A = to_device(be, DType::f32, p.A_log, {4}), dt = to_device(be, DType::f32, p.dt_bias, {4});
    Tensor nan = to_device(be, DType::f32, {0.0, std::nan(""), 0.0, 0.0}, {4});
    Tensor inf = to_device(be, DType::f32, {0.0, 0.0, INFINITY, 0.0}, {4});
    Tensor A16 = to_device(be, DType::bf16, p.A_log, {4});
    auto layer = [&](int H, int HV, const Tensor& cw, const Tensor& al, const Tensor& db, int idx = 0) {
        return RadixLinearAttention(0, idx, H, HV, 16, 16, cw.view(), al.view(), db.view());
    };
    expect_rejected(s, "num_v_heads: a positive multiple of num_k_heads (3), got 4", [&] { layer(3, 4, w, A, dt); });
    expect_rejected(s, "conv_weight: shape [conv_dim = ", [&] { layer(1, 4, w, A, dt); });
    expect_rejected(s, "A_log[1]: a finite value", [&] { layer(2, 4, w, nan, dt); });
    expect_rejected(s, "dt_bias[2]: a finite value", [&] { layer(2, 4, w, A, inf); });
    expect_rejected(s, "A_log: dtype f32, got bf16", [&] { layer(2, 4, w, A16, dt); });
    expect_rejected(s, "gdn_layer_idx: >= 0", [&] { layer(2, 4, w, A, dt, -1); });

    // A layer that does not fit the pool: other conv width, other layer index.
    ForwardBatch fb = ForwardBatch::extend(s.pool, {0, 1}, {3, 4});
    const auto L3 = layer(2, 4, w3, A, dt);
    expect_rejected(s, "pool: H=2 HV=4 Dk=16 Dv=16 Kc=3 bf16 like the layer",
                    [&] { L3.forward(fb, s.qkv.view(), s.a.view(), s.b.view(), s.out.view()); });
    const auto L1 = layer(2, 4, w, A, dt, 1);
    expect_rejected(s, "gdn_layer_idx: below the pool's num_layers (1), got 1",
                    [&] { L1.forward(fb, s.qkv.view(), s.a.view(), s.b.view(), s.out.view()); });
}

TEST_CASE("shapes outside the backend's capabilities are UNSUPPORTED, not wrong answers",
          "[validation][capabilities]") {
    const Backend& be = test::backend();
    const auto& caps = be.capabilities();
    RandomCaseSpec spec;
    spec.num_k_heads = 1;
    spec.num_v_heads = 1;
    spec.head_k_dim = caps.head_k_dim.max + caps.head_k_dim.multiple;  // one step too far
    spec.head_v_dim = 16;
    spec.lengths = {2};
    const Case c = random_case(spec, 1);
    GDNPool pool(be, pool_config(c, 2));
    DeviceLayer layer(be, c.problem, DType::f32, 0);
    Tensor q = to_device(be, DType::f32, c.problem.mixed_qkv, {2, c.problem.conv_dim()});
    Tensor a = to_device(be, DType::f32, c.problem.a, {2, 1}), b = to_device(be, DType::f32, c.problem.b, {2, 1});
    ForwardBatch fb = ForwardBatch::extend(pool, {0}, {2});
    const auto before = pool.snapshot();
    try {
        layer.layer().forward(fb, q.view(), a.view(), b.view());
        FAIL("accepted head_k_dim " << spec.head_k_dim);
    } catch (const Error& e) {
        INFO(e.what());
        CHECK(e.status() == GDN_ERR_UNSUPPORTED);
        CHECK(std::string(e.what()).find("head_k_dim " + std::to_string(spec.head_k_dim)) != std::string::npos);
    }
    CHECK(pool.snapshot() == before);
}

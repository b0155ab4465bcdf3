// Sizes, offsets and memory ranges that a hostile or careless caller can get wrong: shapes that
// are negative or whose byte count wraps, ranks beyond the C struct, buffer offsets whose sum
// wraps, thread counts beyond what the backend's runtime takes, and an output that shares memory
// with an input or with the pool. Each is refused with the argument named, before anything is
// written. Row IDs (B1, B2, ...) are those of docs/errors.md.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "runner.hpp"

using namespace gdn;
using test::expect_error;

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// H=1, HV=2, Dk=Dv=16 (conv_dim 64, out width 32), Kc=4, f32; three requests of 1, 2 and 1 tokens
// in slots 0, 1 and 2 of a four-slot pool whose states are random.
struct Setup {
    Case c;
    GDNPool pool;
    DeviceLayer layer;
    static constexpr int64_t T = 4, C = 64, W = 32;

    explicit Setup(uint64_t seed)
        : c(make(seed)), pool(test::backend(), pool_config(c, 4)), layer(test::backend(), c.problem, DType::f32, 0) {
        std::mt19937 rng{uint32_t(seed)};
        std::uniform_real_distribution<float> u(-1.f, 1.f);
        for (int64_t s = 0; s < 4; ++s) {
            std::vector<float> st(2 * 16 * 16);
            for (auto& x : st) x = u(rng);
            pool.write_recurrent(0, s, st);
        }
    }
    static Case make(uint64_t seed) {
        RandomCaseSpec spec;
        spec.num_k_heads = 1;
        spec.num_v_heads = 2;
        spec.head_k_dim = spec.head_v_dim = 16;
        spec.lengths = {1, 2, 1};
        return random_case(spec, seed);
    }
    ForwardBatch batch() { return ForwardBatch::extend(pool, {0, 1, 2}, {1, 2, 1}); }
    const RadixLinearAttention& L() const { return layer.layer(); }
    // The pool must not change by a single bit across a refused call.
    void rejected(const std::string& fragment, const std::function<void()>& call) {
        const auto before = pool.snapshot();
        expect_error(fragment, call);
        CHECK(pool.snapshot() == before);
    }
};

TensorView view(const Tensor& base, int64_t offset_elems, std::vector<int64_t> shape,
                std::vector<int64_t> strides = {}) {
    void* p = static_cast<char*>(base.data()) + offset_elems * int64_t(dtype_size(base.dtype()));
    if (strides.empty()) return TensorView(p, base.dtype(), std::move(shape), test::backend());
    return TensorView(p, base.dtype(), std::move(shape), std::move(strides), test::backend());
}

}  // namespace

TEST_CASE("B1-B4: shapes and ranks a view or tensor cannot have", "[errors][memory]") {
    const Backend& be = test::backend();
    float host[8] = {};
    // B1: a negative dimension ({-2, -3} used to report 6 elements).
    expect_error("shape[0]: a size >= 0, got -2 in [-2, -3]", [&] { Tensor t(be, DType::f32, {-2, -3}); });
    expect_error("shape[1]: a size >= 0, got -3 in [2, -3]", [&] { TensorView(host, DType::f32, {2, -3}); });
    expect_error("shape[2]: a size >= 0, got -1", [&] { TensorView(host, DType::f32, {1, 1, -1}, {1, 1, 1}); });
    // B2: an element or byte count that wraps around ({2^62, 4} f32 used to report 0 bytes).
    expect_error("shape[0]: a size that keeps [4611686018427387904, 4] f32 below 2^63 bytes, got 4611686018427387904",
                 [&] {
                     Tensor t(be, DType::f32, {int64_t(1) << 62, 4});
                 });
    expect_error("shape[1]: a size that keeps [4, 4611686018427387904] bf16 below 2^63 bytes, got 4611686018427387904",
                 [&] {
                     TensorView(host, DType::bf16, {4, int64_t(1) << 62});
                 });
    expect_error("shape[3]: a size that keeps [65536, 65536, 65536, 65536] f32 below 2^63 bytes, got 65536", [&] {
        TensorView(host, DType::f32, {65536, 65536, 65536, 65536});
    });
    // ... also behind an empty dimension, whose packed strides would still wrap.
    expect_error("shape[1]: a size that keeps [0, 4611686018427387904, 4] i64 below 2^63 bytes", [&] {
        TensorView(host, DType::i64, {0, int64_t(1) << 62, 4});
    });
    // The largest byte count that fits is a valid (empty-handed) view; one more element is not.
    CHECK(TensorView(nullptr, DType::i64, {(kMax >> 3)}).numel() == kMax >> 3);
    expect_error("shape[0]: a size that keeps [1152921504606846976] i64 below 2^63 bytes",
                 [&] { TensorView(nullptr, DType::i64, {(kMax >> 3) + 1}); });
    // B3: strides that carry a view's last element past 2^63 bytes.
    expect_error(
        "strides[0]: strides that keep the view [3, 4] f32 below 2^63 bytes, got strides [4611686018427387904, 1]",
        [&] {
            TensorView(host, DType::f32, {3, 4}, {int64_t(1) << 62, 1});
        });
    expect_error("strides[1]: strides that keep the view [2, 2] f32 below 2^63 bytes", [&] {
        TensorView(host, DType::f32, {2, 2}, {1, std::numeric_limits<int64_t>::min()});
    });
    CHECK(TensorView(host, DType::f32, {0, 4}, {int64_t(1) << 62, 1}).numel() == 0);  // no element: nothing reached
    // B4: a rank beyond GDN_MAX_RANK, through either constructor (the packed one used to write
    // past the end of gdn_tensor's arrays when the view was passed to a plugin).
    expect_error("shape: rank at most 6, got rank 7 [1, 1, 1, 1, 1, 1, 1]", [&] {
        TensorView(host, DType::f32, {1, 1, 1, 1, 1, 1, 1});
    });
    expect_error("shape: rank at most 6, got rank 8", [&] { Tensor t(be, DType::f32, {1, 1, 1, 1, 1, 1, 1, 1}); });
    const gdn_tensor c = TensorView(host, DType::f32, {1, 2, 1, 2, 1, 2}).to_c();
    CHECK(c.rank == 6);
    CHECK(c.strides[0] == 8);
    CHECK(c.shape[5] == 2);
}

TEST_CASE("B5: buffer offsets whose sum with the size wraps around", "[errors][memory]") {
    const Backend& be = test::backend();
    DeviceBuffer buf(be, 64);
    std::vector<uint8_t> host(64, 7);
    const std::size_t huge = std::numeric_limits<std::size_t>::max();
    // offset + bytes wraps to a small number: used to pass the check and copy outside the buffer.
    expect_error("upload: range within the buffer (64 bytes), got 8 bytes at offset 18446744073709551615",
                 [&] { buf.upload(host.data(), 8, huge); });
    expect_error("download: range within the buffer (64 bytes), got 16 bytes at offset 18446744073709551608",
                 [&] { buf.download(host.data(), 16, huge - 7); });
    expect_error("upload: range within the buffer (64 bytes), got 18446744073709551615 bytes at offset 1",
                 [&] { buf.upload(host.data(), huge, 1); });
    // The ends of the buffer are fine.
    buf.upload(host.data(), 8, 56);
    buf.download(host.data(), 64, 0);
    CHECK(host[56] == 7);
    buf.download(host.data(), 0, 64);
}

TEST_CASE("B6: a stream with more threads than the backend's runtime takes", "[errors][memory]") {
    const Backend& be = test::backend();
    if (be.plugin().name() != "cpu") {
        // Other backends ignore the thread count; it must not matter what it is.
        Stream s(be, 100000);
        s.synchronize();
        return;
    }
    // oneTBB crashed on arenas of more than 65536 threads; the CPU backend takes up to 4096.
    for (int n : {4097, 65537, 100000, std::numeric_limits<int>::max()})
        expect_error(
            "stream_create: num_threads: " + std::to_string(n) + " is outside 0..4096 (0: every thread available)",
            [&] { Stream s(be, n); });
    expect_error("stream_create: num_threads: -1 is outside 0..4096", [&] { Stream s(be, -1); });
    Stream ok(be, 2);
    ok.synchronize();
}

TEST_CASE("B7-B9: an output that shares memory with an input or with the pool", "[errors][memory]") {
    const uint64_t seed = test::seed("B7-B9: an output that shares memory with an input or with the pool");
    Setup s(seed);
    const Backend& be = test::backend();
    const auto& p = s.c.problem;
    constexpr int64_t T = Setup::T, C = Setup::C, W = Setup::W;
    // One buffer holds mixed_qkv with a row stride of 3*C: gaps of 2*C elements between its rows.
    std::vector<double> wide(std::size_t(T * 3 * C), 0.0);
    for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < C; ++j) wide[std::size_t(t * 3 * C + j)] = p.mixed_qkv[std::size_t(t * C + j)];
    Tensor big = to_device(be, DType::f32, wide, {T * 3 * C});
    Tensor a = to_device(be, DType::f32, p.a, {T, 2}), b = to_device(be, DType::f32, p.b, {T, 2});
    std::vector<double> b_then_room(p.b);
    b_then_room.resize(std::size_t(T * W), 0.0);
    Tensor b_big = to_device(be, DType::f32, b_then_room, {T * W});  // b, then room for a whole out
    const TensorView qkv = view(big, 0, {T, C}, {3 * C, 1});
    ForwardBatch fb = s.batch();

    // B7: out over an input: the plugin would read inputs it has already overwritten.
    s.rejected("out: memory apart from the inputs and the pool's states, got memory overlapping mixed_qkv", [&] {
        s.L().forward(fb, qkv, a.view(), b.view(), view(big, 0, {T, W}));
    });
    // A row of mixed_qkv starts at 3*C: an out over [2*C + 40, 2*C + 40 + T*W) reaches into it.
    s.rejected("out: memory apart from the inputs and the pool's states, got memory overlapping mixed_qkv", [&] {
        s.L().forward(fb, qkv, a.view(), b.view(), view(big, 2 * C + 40, {T, W}));
    });
    s.rejected("out: memory apart from the inputs and the pool's states, got memory overlapping b", [&] {
        s.L().forward(fb, qkv, a.view(), view(b_big, 0, {T, 2}), view(b_big, 0, {T, W}));
    });
    // B8: out over the pool's state, of this layer or of slots the batch does not name.
    const TensorView rec = s.pool.recurrent_state(0), conv = s.pool.conv_state(0);
    s.rejected(
        "out: memory apart from the inputs and the pool's states, got memory overlapping the pool's recurrent state",
        [&] {
            s.L().forward(fb, qkv, a.view(), b.view(), TensorView(rec.data(), DType::f32, {T, W}, be));
        });
    void* last_slot = static_cast<char*>(conv.data()) + 3 * C * 3 * 4;  // slot 3, not in the batch
    s.rejected("out: memory apart from the inputs and the pool's states, got memory overlapping the pool's conv state",
               [&] {
                   s.L().forward(fb, qkv, a.view(), b.view(), TensorView(last_slot, DType::f32, {T, W}, be));
               });
    // B9: an input inside the state the call writes.
    s.rejected("a: memory apart from the pool's states, got memory overlapping the pool's conv state of layer 0", [&] {
        Tensor out(be, DType::f32, {T, W});
        s.L().forward(fb, qkv, TensorView(conv.data(), DType::f32, {T, 2}, be), b.view(), out.view());
    });

    // out in the gap between two rows of mixed_qkv touches none of its bytes: valid, and the
    // same result as a separate out.
    Tensor own(be, DType::f32, {T, W});
    {
        GDNPool twin(be, pool_config(s.c, 4));
        for (int64_t slot = 0; slot < 4; ++slot) twin.write_recurrent(0, slot, s.pool.read_recurrent(0, slot));
        ForwardBatch tb = ForwardBatch::extend(twin, {0, 1, 2}, {1, 2, 1});
        s.L().forward(tb, qkv, a.view(), b.view(), own.view());
        tb.stream().synchronize();
    }
    const TensorView gap = view(big, C, {1, W});  // T = 1 in the gap after row 0 (2*C wide)
    ForwardBatch one = ForwardBatch::decode(s.pool, {0});
    const TensorView qkv1 = view(big, 0, {1, C}, {3 * C, 1});
    s.L().forward(one, qkv1, TensorView(a.data(), DType::f32, {1, 2}, be), TensorView(b.data(), DType::f32, {1, 2}, be),
                  gap);
    one.stream().synchronize();
    const std::vector<double> got = to_host_double(big), want = to_host_double(own);
    for (int64_t j = 0; j < W; ++j)  // row 0: request 0 alone
        CHECK(std::abs(got[std::size_t(C + j)] - want[std::size_t(j)]) <=
              1e-5 * (1.0 + std::abs(want[std::size_t(j)])));
    for (int64_t j = 0; j < C; ++j)
        CHECK(got[std::size_t(3 * C + j)] == wide[std::size_t(3 * C + j)]);  // row 1 unchanged
}

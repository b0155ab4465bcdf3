// Properties any correct backend has, whatever its algorithm: prefill = prefill then decode,
// a ragged batch = its requests one by one, mixed batches, padding rows, prefix snapshots.
#include <catch2/catch.hpp>

#include "runner.hpp"

using namespace gdn;
using test::as_double;
using test::Runner;

namespace {
Case f32_case(std::vector<int64_t> lens, uint64_t seed) {
    RandomCaseSpec spec;
    spec.num_k_heads = 2;
    spec.num_v_heads = 4;
    spec.head_k_dim = 32;
    spec.head_v_dim = 48;  // a multiple of 16 (GPU backends), yet not a power of two
    spec.lengths = std::move(lens);
    return random_case(spec, seed);
}
}  // namespace

TEST_CASE("prefill of N tokens equals prefill of k then N-k decode steps", "[invariant]") {
    const uint64_t seed = test::seed("prefill of N tokens equals prefill of k then N-k decode steps");
    const int64_t N = 150;
    for (int64_t k : {0, 1, 2, 64, 100}) {
        INFO("k = " << k);
        const Case c = f32_case({N}, seed);
        Runner r(c, 4);
        const auto whole = r.run(ForwardMode::extend, {1}, {N}, 0);
        std::vector<double> split = r.run(ForwardMode::extend, {3}, {k}, 0);
        for (int64_t t = k; t < N; ++t) {
            const auto row = r.run(ForwardMode::decode, {3}, {1}, t);
            split.insert(split.end(), row.begin(), row.end());
        }
        CHECK(reference::relative_l2(split, whole) < 1e-5);
        CHECK(reference::relative_l2(as_double(r.pool().read_recurrent(0, 3)), as_double(r.pool().read_recurrent(0, 1))) <
              1e-5);
        CHECK(r.pool().read_conv_bytes(0, 3) == r.pool().read_conv_bytes(0, 1));
    }
}

TEST_CASE("a ragged batch equals its requests run one by one", "[invariant]") {
    const uint64_t seed = test::seed("a ragged batch equals its requests run one by one");
    const std::vector<int64_t> lens{5, 0, 64, 130, 1, 2};
    const Case c = f32_case(lens, seed);
    Runner r(c, 16);
    const std::vector<int64_t> batch_slots{0, 2, 4, 6, 8, 10}, alone_slots{1, 3, 5, 7, 9, 11};
    const auto batch = r.run(ForwardMode::extend, batch_slots, lens, 0);
    std::vector<double> alone;
    int64_t t0 = 0;
    for (std::size_t i = 0; i < lens.size(); ++i) {
        const auto o = r.run(ForwardMode::extend, {alone_slots[i]}, {lens[i]}, t0);
        alone.insert(alone.end(), o.begin(), o.end());
        t0 += lens[i];
    }
    CHECK(reference::relative_l2(batch, alone) < 1e-6);
    for (std::size_t i = 0; i < lens.size(); ++i) {
        INFO("request " << i);
        CHECK(reference::relative_l2(as_double(r.pool().read_recurrent(0, batch_slots[i])),
                                     as_double(r.pool().read_recurrent(0, alone_slots[i]))) < 1e-6);
        CHECK(r.pool().read_conv_bytes(0, batch_slots[i]) == r.pool().read_conv_bytes(0, alone_slots[i]));
    }
}

TEST_CASE("mixed batches match the reference", "[invariant][mixed]") {
    const uint64_t seed = test::seed("mixed batches match the reference");
    RandomCaseSpec spec;
    spec.mode = ForwardMode::mixed;
    spec.activation_dtype = DType::bf16;
    spec.lengths = {1, 50, 1, 0, 3, 1, 70};
    const Case c = random_case(spec, seed);
    const CaseResult res = run_case(test::backend(), c, default_tolerance(DType::bf16));
    INFO(describe(c) << ": " << res.message);
    CHECK(res.passed);
}

TEST_CASE("padding rows write zeros and never touch the padding slot", "[invariant][padding]") {
    const uint64_t seed = test::seed("padding rows write zeros and never touch the padding slot");
    const Case c = f32_case({1, 1, 1, 1}, seed);
    Runner r(c, 3);
    const int64_t pad = r.pool().padding_slot();
    const auto padding_before = r.pool().read_recurrent(0, pad);
    const auto conv_before = r.pool().read_conv_bytes(0, pad);
    const auto out = r.run(ForwardMode::decode, {0, pad, 2, pad}, {1, 1, 1, 1}, 0);
    const int64_t W = r.width();
    double live = 0;
    for (int64_t i = 0; i < W; ++i) {
        CHECK(out[std::size_t(W + i)] == 0.0);
        CHECK(out[std::size_t(3 * W + i)] == 0.0);
        live += std::abs(out[std::size_t(i)]) + std::abs(out[std::size_t(2 * W + i)]);
    }
    CHECK(live > 0.0);  // the real rows were computed
    CHECK(r.pool().read_recurrent(0, pad) == padding_before);
    CHECK(r.pool().read_conv_bytes(0, pad) == conv_before);
}

TEST_CASE("a copied slot continues exactly like the original (prefix snapshot)", "[invariant][pool]") {
    const uint64_t seed = test::seed("a copied slot continues exactly like the original (prefix snapshot)");
    const Case c = f32_case({40, 40}, seed);
    Runner r(c, 4);
    r.run(ForwardMode::extend, {0}, {40}, 0);
    r.pool().copy_slot(0, 2);
    const auto a = r.run(ForwardMode::extend, {0}, {40}, 40);
    const auto b = r.run(ForwardMode::extend, {2}, {40}, 40);
    CHECK(a == b);
    CHECK(r.pool().read_recurrent(0, 0) == r.pool().read_recurrent(0, 2));
}

TEST_CASE("the same call twice gives bitwise-equal results when the backend claims determinism", "[invariant]") {
    if (!test::backend().capabilities().deterministic) {
        WARN("backend does not claim determinism: not required");
        return;
    }
    const uint64_t seed = test::seed("determinism");
    const Case c = f32_case({33, 200, 1}, seed);
    Runner r(c, 8);
    const auto a = r.run(ForwardMode::extend, {0, 1, 2}, {33, 200, 1}, 0);
    const auto b = r.run(ForwardMode::extend, {3, 4, 5}, {33, 200, 1}, 0);
    CHECK(a == b);
    CHECK(r.pool().read_recurrent(0, 1) == r.pool().read_recurrent(0, 4));
}

// ABI 1.1 native streams: an engine wraps its own runtime stream and runs gdn there. Where the
// backend offers them, the results on a wrapped stream are those on the backend's own stream;
// where it does not (the CPU backend), both entry points say "unsupported".
TEST_CASE("a forward call on a wrapped native stream equals one on the backend's stream", "[invariant][stream]") {
    const uint64_t seed = test::seed("a forward call on a wrapped native stream equals one on the backend's stream");
    const Backend& be = test::backend();
    if (!be.table().stream_wrap || !be.table().stream_native) {
        Stream own(be);
        try {
            (void)own.native_handle();
            FAIL("native_handle() of a backend without stream_native did not throw");
        } catch (const Error& e) {
            CHECK(e.status() == GDN_ERR_UNSUPPORTED);
        }
        int not_a_stream = 0;
        try {
            Stream wrapped(be, NativeStream{&not_a_stream});
            FAIL("wrapping a native stream on a backend without stream_wrap did not throw");
        } catch (const Error& e) {
            CHECK(e.status() == GDN_ERR_UNSUPPORTED);
            CHECK_THAT(e.what(), Catch::Contains("stream_wrap"));
        }
        return;
    }
    Stream own(be);  // its native stream plays the engine's stream
    void* native = own.native_handle();
    REQUIRE(native != nullptr);
    Stream wrapped(be, NativeStream{native});
    CHECK(wrapped.wraps_native());
    CHECK(wrapped.native_handle() == native);
    const int64_t N = 100;
    const Case c = f32_case({N + 1}, seed);
    Runner r(c, 4);
    const auto here = r.run(ForwardMode::extend, {1}, {N}, 0);
    const auto there = r.run(ForwardMode::extend, {2}, {N}, 0, &wrapped);
    const auto here_step = r.run(ForwardMode::decode, {1}, {1}, N);
    const auto there_step = r.run(ForwardMode::decode, {2}, {1}, N, &wrapped);
    CHECK(reference::relative_l2(there, here) < 1e-6);
    CHECK(reference::relative_l2(there_step, here_step) < 1e-6);
    CHECK(reference::relative_l2(as_double(r.pool().read_recurrent(0, 2)), as_double(r.pool().read_recurrent(0, 1))) <
          1e-6);
    CHECK(r.pool().read_conv_bytes(0, 2) == r.pool().read_conv_bytes(0, 1));
}

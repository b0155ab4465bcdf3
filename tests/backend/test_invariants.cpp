// Properties any correct backend has, whatever its algorithm: the conformance suite's invariant
// cases, then mixed batches, padding rows, prefix snapshots, determinism across slots and native
// streams, checked more strictly (bitwise where the function allows it) than the suite does.
#include <catch2/catch.hpp>

#include "gdn/conformance.hpp"
#include "runner.hpp"

using namespace gdn;
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

// The conformance suite's invariant cases (conformance/src/invariant_cases.cpp: prefill = prefill
// then decode, a ragged batch = its requests one by one, slots not named untouched, padding,
// prefix snapshot, rejected calls), the same bodies `gdn conformance` holds any plugin to,
// instantiated here for the backend under test. The tests below add stricter or other checks.
TEST_CASE("the conformance suite's invariant cases pass", "[invariant][conformance]") {
    conformance::Options opt;
    opt.seed = test::seed("the conformance suite's invariant cases pass");
    opt.random_cases = 0;
    opt.case_patterns = {"invariant-*"};
    const conformance::BackendReport report = conformance::Suite(opt).run(test::backend());
    CHECK(report.cases.size() >= 6);
    for (const conformance::CaseOutcome& c : report.cases) {
        INFO(c.id << ": " << conformance::status_name(c.status) << " " << c.description << " " << c.message);
        // A skip is allowed only for a mode the backend does not declare, and says so.
        CHECK((c.status == conformance::Status::pass ||
               (c.status == conformance::Status::skipped && c.message.find("does not declare") != std::string::npos)));
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

// ABI 1.1 native streams. Where the backend offers them, the conformance case
// invariant-native-stream (run above) holds it to them; where it does not (the CPU backend),
// both entry points must say "unsupported" and never hand out a stream.
TEST_CASE("a backend without native streams refuses to wrap one or to name its own", "[invariant][stream]") {
    const Backend& be = test::backend();
    if (be.table().stream_wrap && be.table().stream_native) {
        SUCCEED("the backend offers native streams: see invariant-native-stream");
        return;
    }
    Stream own(be);
    test::expect_error(
        "stream_native", [&] { (void)own.native_handle(); }, GDN_ERR_UNSUPPORTED);  // N2
    int not_a_stream = 0;
    test::expect_error(
        "stream_wrap", [&] { Stream wrapped(be, NativeStream{&not_a_stream}); }, GDN_ERR_UNSUPPORTED);  // N1
}

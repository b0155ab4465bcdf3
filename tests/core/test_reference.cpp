// The fp64 reference against the golden vectors, which came from an independent implementation.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

#include "gdn/harness.hpp"
#include "gdn/reference.hpp"

using namespace gdn;

namespace {
std::vector<std::filesystem::path> golden_files() {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(GDN_GOLDEN_DIR))
        if (e.path().extension() == ".safetensors") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}
}  // namespace

TEST_CASE("the golden directory holds the expected cases", "[reference][golden]") { CHECK(golden_files().size() >= 7); }

TEST_CASE("fp64 reference reproduces every golden file", "[reference][golden]") {
    for (const auto& file : golden_files()) {
        const Case c = load_golden(file);
        INFO(file.filename().string() << ": " << describe(c));
        reference::Problem p = c.problem;
        const auto out = reference::forward(p);
        // The golden outputs are f32 roundings of an fp64 computation: agree to f32 precision.
        CHECK(reference::relative_l2(out, c.expected->out) < 1e-6);
        CHECK(reference::relative_l2(p.recurrent_state, c.expected->recurrent_state) < 1e-6);
        CHECK(p.conv_state == c.expected->conv_state);
    }
}

TEST_CASE("reference: a request split in two calls equals one call", "[reference]") {
    RandomCaseSpec spec;
    spec.lengths = {37};
    const uint64_t seed = 7;
    Case c = random_case(spec, seed);
    reference::Problem whole = c.problem;
    const auto out_whole = reference::forward(whole);

    reference::Problem first = c.problem, second = c.problem;
    const int64_t C = c.problem.conv_dim(), HV = c.problem.num_v_heads, split = 5;
    first.cu_seqlens = {0, split};
    first.mixed_qkv.resize(std::size_t(split * C));
    const auto out1 = reference::forward(first);
    second.cu_seqlens = {0, 37 - split};
    second.mixed_qkv.erase(second.mixed_qkv.begin(), second.mixed_qkv.begin() + split * C);
    second.a.erase(second.a.begin(), second.a.begin() + split * HV);
    second.b.erase(second.b.begin(), second.b.begin() + split * HV);
    second.conv_state = first.conv_state;
    second.recurrent_state = first.recurrent_state;
    const auto out2 = reference::forward(second);
    std::vector<double> joined = out1;
    joined.insert(joined.end(), out2.begin(), out2.end());
    CHECK(reference::relative_l2(joined, out_whole) < 1e-14);
    CHECK(reference::relative_l2(second.recurrent_state, whole.recurrent_state) < 1e-14);
}

TEST_CASE("reference: a decay beyond double's range is exactly 0 or 1, never NaN", "[reference][decay]") {
    // exp(A_log) overflows double from A_log = 710 on; softplus(x) underflows to 0 below x = -745.
    // The product is then exp(A_log + x): exp(200) (decay 0) or exp(-100) (decay 1 in double).
    RandomCaseSpec spec;
    spec.lengths = {9, 4};
    const Case base = random_case(spec, 99);
    auto run = [&](double A_log, double a) {
        reference::Problem p = base.problem;
        for (double& v : p.A_log) v = A_log;
        for (double& v : p.dt_bias) v = 0.0;
        for (double& v : p.a) v = a;
        std::vector<double> out = reference::forward(p);
        out.insert(out.end(), p.recurrent_state.begin(), p.recurrent_state.end());
        return out;
    };
    const auto zero = run(1000.0, -800.0), zero_plain = run(50.0, 0.0);    // exp(-exp(50) * 0.69) = 0 too
    const auto one = run(1000.0, -1100.0), one_plain = run(-1000.0, 0.0);  // -exp(-1000) * 0.69 = -0
    for (double v : zero) REQUIRE(std::isfinite(v));
    for (double v : one) REQUIRE(std::isfinite(v));
    CHECK(zero == zero_plain);
    CHECK(one == one_plain);
}

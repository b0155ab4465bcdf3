// ABI 1.2 serving-state features through the C++ API, on random data with printed seeds:
// 16-bit recurrent state (bitwise the f32 result rounded to nearest even where the backend is
// deterministic), separate write slots and "no write", checkpoints, verify then commit; and every
// invalid serving option refused naming the argument, the pool bit-identical (rows S1-S15 of
// docs/errors.md). Backends that do not declare a feature get GDN_ERR_UNSUPPORTED instead.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <random>

#include "runner.hpp"

using namespace gdn;

namespace {

bool declares(uint32_t features) { return (test::backend().capabilities().features & features) == features; }
bool declares_state(DType t) {
    return t == DType::f32 || (test::backend().capabilities().state_dtypes & (1u << unsigned(t)));
}

// A small f32 case and its layer, pool and device inputs; slot s holds request s % B's state.
struct Serving {
    Case c;
    PoolConfig pc;
    GDNPool pool;
    DeviceLayer layer;
    Tensor qkv, a, b;
    Serving(uint64_t seed, std::vector<int64_t> lens, DType state = DType::f32, int64_t slots = 10)
        : c(make(seed, std::move(lens))), pc(config(c, state, slots)), pool(test::backend(), pc),
          layer(test::backend(), c.problem, DType::f32, 0),
          qkv(to_device(test::backend(), DType::f32, c.problem.mixed_qkv,
                        {c.problem.num_tokens(), c.problem.conv_dim()})),
          a(to_device(test::backend(), DType::f32, c.problem.a, {c.problem.num_tokens(), 4})),
          b(to_device(test::backend(), DType::f32, c.problem.b, {c.problem.num_tokens(), 4})) {
        const auto& p = c.problem;
        const std::size_t rec_n = 4 * 32 * 32, conv_n = std::size_t(p.conv_dim()) * 3;
        const std::size_t B = std::size_t(p.num_requests());
        for (int64_t s = 0; s < slots; ++s) {
            const std::size_t r = std::size_t(s) % B;
            std::vector<float> rec(p.recurrent_state.begin() + std::ptrdiff_t(r * rec_n),
                                   p.recurrent_state.begin() + std::ptrdiff_t((r + 1) * rec_n));
            std::vector<uint8_t> conv(conv_n * 4);
            for (std::size_t i = 0; i < conv_n; ++i)
                store_from_double(conv.data(), DType::f32, i, p.conv_state[r * conv_n + i]);
            pool.write_recurrent(0, s, rec);
            pool.write_conv_bytes(0, s, conv);
        }
    }
    static Case make(uint64_t seed, std::vector<int64_t> lens) {
        RandomCaseSpec spec;
        spec.num_k_heads = 2;
        spec.num_v_heads = 4;
        spec.head_k_dim = spec.head_v_dim = 32;
        spec.activation_dtype = DType::f32;
        spec.lengths = std::move(lens);
        return random_case(spec, seed);
    }
    static PoolConfig config(const Case& c, DType state, int64_t slots) {
        PoolConfig pc = pool_config(c, slots);
        pc.state_dtype = state;
        return pc;
    }
    std::vector<double> run(ForwardBatch& batch, bool output = true) {
        if (!output) {
            layer.layer().forward(batch, qkv.view(), a.view(), b.view(), TensorView());
            batch.stream().synchronize();
            return {};
        }
        Tensor out = layer.layer().forward(batch, qkv.view(), a.view(), b.view());
        batch.stream().synchronize();
        return to_host_double(out);
    }
};

void expect_rejected(GDNPool& pool, const std::string& fragment, const std::function<void()>& call,
                     gdn_status status = GDN_ERR_INVALID_ARGUMENT) {
    const auto before = pool.snapshot();
    test::expect_error(fragment, call, status);
    CHECK(pool.snapshot() == before);
}

}  // namespace

TEST_CASE("a 16-bit recurrent state is the f32 result rounded to nearest even", "[serving]") {
    const uint64_t seed = test::seed("a 16-bit recurrent state is the f32 result rounded to nearest even");
    for (DType st : {DType::bf16, DType::f16}) {
        INFO("state dtype " << dtype_name(st));
        Serving wide(seed, {40, 1, 7}), narrow(seed, {40, 1, 7}, st);
        // Both start from states representable in the 16-bit dtype.
        for (int64_t s = 0; s < 3; ++s) wide.pool.write_recurrent(0, s, narrow.pool.read_recurrent(0, s));
        ForwardBatch bw = ForwardBatch::extend(wide.pool, {0, 1, 2}, {40, 1, 7});
        ForwardBatch bn = ForwardBatch::extend(narrow.pool, {0, 1, 2}, {40, 1, 7});
        if (!declares_state(st)) {
            expect_rejected(
                narrow.pool, std::string("does not support recurrent state dtype ") + dtype_name(st),
                [&] { narrow.run(bn); }, GDN_ERR_UNSUPPORTED);
            continue;
        }
        const auto out_w = wide.run(bw), out_n = narrow.run(bn);
        CHECK(reference::relative_l2(out_n, out_w) == 0.0);  // same f32 state read, same arithmetic
        for (int64_t s = 0; s < 3; ++s) {
            const auto w = wide.pool.read_recurrent(0, s), n = narrow.pool.read_recurrent(0, s);
            std::size_t exact = 0;
            for (std::size_t i = 0; i < w.size(); ++i) exact += float(round_to(st, w[i])) == n[i];
            if (test::backend().capabilities().deterministic)
                CHECK(exact == w.size());
            else
                CHECK(reference::relative_l2(std::vector<double>(n.begin(), n.end()),
                                             std::vector<double>(w.begin(), w.end())) < 5e-3);
        }
    }
}

TEST_CASE("write slots: a fork leaves its source bit-identical, no write leaves the pool bit-identical", "[serving]") {
    Serving s(test::seed("write slots: a fork leaves its source bit-identical"), {33, 5, 1});
    if (!declares(GDN_FEATURE_WRITE_SLOTS)) {
        ForwardBatch fb = ForwardBatch::extend(s.pool, {0, 1, 2}, {33, 5, 1});
        fb.set_write_slots({3, 4, 5});
        expect_rejected(
            s.pool, "does not support write slots", [&] { s.run(fb); }, GDN_ERR_UNSUPPORTED);
        return;
    }
    // In place on slots 0..2 of one pool; forked 3..5 -> 6..8 (same initial states) on another.
    Serving t(0, {33, 5, 1});
    t.pool.write_recurrent(0, 0, s.pool.read_recurrent(0, 0));
    ForwardBatch in_place = ForwardBatch::extend(s.pool, {0, 1, 2}, {33, 5, 1});
    const auto src = s.pool.snapshot();
    ForwardBatch fork = ForwardBatch::extend(s.pool, {3, 4, 5}, {33, 5, 1});
    fork.set_write_slots({6, 7, 8});
    const auto before_fork_slots =
        std::vector{s.pool.read_recurrent(0, 3), s.pool.read_recurrent(0, 4), s.pool.read_recurrent(0, 5)};
    const auto out_fork = s.run(fork);
    const auto out_in_place = s.run(in_place);
    CHECK(out_fork == out_in_place);
    for (int64_t r = 0; r < 3; ++r) {
        CHECK(s.pool.read_recurrent(0, 3 + r) == before_fork_slots[std::size_t(r)]);  // the source kept
        CHECK(s.pool.read_recurrent(0, 6 + r) == s.pool.read_recurrent(0, r));        // the fork = in place
        CHECK(s.pool.read_conv_bytes(0, 6 + r) == s.pool.read_conv_bytes(0, r));
    }
    (void)src;
    // No write: outputs as in place, the pool unchanged to the bit.
    Serving v(test::seed("write slots: no write"), {9, 16});
    ForwardBatch verify = ForwardBatch::verify(v.pool, {0, 1}, {9, 16});
    const auto before = v.pool.snapshot();
    const auto out_verify = v.run(verify);
    CHECK(v.pool.snapshot() == before);
    ForwardBatch plain = ForwardBatch::extend(v.pool, {0, 1}, {9, 16});
    CHECK(v.run(plain) == out_verify);
}

TEST_CASE("commit advances each request by its accepted drafts, as an extend of those tokens", "[serving]") {
    const uint64_t seed = test::seed("commit advances each request by its accepted drafts");
    Serving s(seed, {4, 16, 1, 7});
    const std::vector<int64_t> drafts{4, 16, 1, 7}, accepted{2, 16, 0, 5};
    if (!declares(GDN_FEATURE_ACCEPTED | GDN_FEATURE_NO_OUTPUT)) {
        ForwardBatch commit = ForwardBatch::commit(s.pool, {0, 1, 2, 3}, drafts, accepted);
        expect_rejected(
            s.pool, "does not support", [&] { s.run(commit, false); }, GDN_ERR_UNSUPPORTED);
        return;
    }
    ForwardBatch commit = ForwardBatch::commit(s.pool, {0, 1, 2, 3}, drafts, accepted);
    CHECK_FALSE(commit.writes_output());
    s.run(commit, false);
    const auto& p = s.c.problem;
    for (std::size_t r = 0; r < 4; ++r) {
        INFO("request " << r << " accepted " << accepted[r] << " of " << drafts[r]);
        const auto [want, conv] = reference_prefix_state(p, int64_t(r), accepted[r]);
        const auto got = s.pool.read_recurrent(0, int64_t(r));
        CHECK(reference::relative_l2(std::vector<double>(got.begin(), got.end()), want) < 2e-5);
        const auto cb = s.pool.read_conv_bytes(0, int64_t(r));
        for (std::size_t i = 0; i < conv.size(); ++i)
            REQUIRE(load_as_double(cb.data(), DType::f32, i) == float(conv[i]));
    }
}

TEST_CASE("checkpoints hold the state after exactly their token counts", "[serving]") {
    const uint64_t seed = test::seed("checkpoints hold the state after exactly their token counts");
    Serving s(seed, {70, 5, 33}, DType::f32, 16);
    const std::vector<std::vector<Checkpoint>> cks{{{1, 5}, {31, 6}, {32, 7}, {64, 8}, {70, 9}}, {{5, 10}}, {{17, 11}}};
    ForwardBatch fb = ForwardBatch::extend(s.pool, {0, 1, 2}, {70, 5, 33});
    fb.set_checkpoints(cks);
    if (!declares(GDN_FEATURE_CHECKPOINTS)) {
        expect_rejected(
            s.pool, "does not support checkpoints", [&] { s.run(fb); }, GDN_ERR_UNSUPPORTED);
        return;
    }
    s.run(fb);
    for (std::size_t r = 0; r < cks.size(); ++r)
        for (const Checkpoint& ck : cks[r]) {
            INFO("request " << r << " after " << ck.tokens << " tokens in slot " << ck.slot);
            const auto [want, conv] = reference_prefix_state(s.c.problem, int64_t(r), ck.tokens);
            const auto got = s.pool.read_recurrent(0, ck.slot);
            CHECK(reference::relative_l2(std::vector<double>(got.begin(), got.end()), want) < 2e-5);
            const auto cb = s.pool.read_conv_bytes(0, ck.slot);
            bool exact = true;
            for (std::size_t i = 0; i < conv.size(); ++i)
                exact = exact && load_as_double(cb.data(), DType::f32, i) == float(conv[i]);
            CHECK(exact);
        }
    // The checkpoint at L equals the final state.
    CHECK(s.pool.read_recurrent(0, 9) == s.pool.read_recurrent(0, 0));
}

TEST_CASE("invalid serving options are refused naming the argument, the pool bit-identical", "[serving][validation]") {
    Serving s(test::seed("invalid serving options are refused"), {3, 4}, DType::f32, 6);
    GDNPool& pool = s.pool;
    ForwardBatch fb = ForwardBatch::extend(pool, {0, 1}, {3, 4});
    // S1-S5: write slots.
    expect_rejected(pool, "write_slots: one slot per request (2), got 1", [&] { fb.set_write_slots({2}); });
    expect_rejected(pool, "write_slots[1]: a slot in 0..5 or kNoStateWrite (-1), got 6", [&] {
        fb.set_write_slots({2, 6});
    });
    expect_rejected(pool, "write_slots[0]: a slot no other request of the call reads, but request 1 reads slot 1", [&] {
        fb.set_write_slots({1, 3});
    });
    expect_rejected(pool, "write_slots[1]: a slot no other request writes, but request 0 writes slot 3 too", [&] {
        fb.set_write_slots({3, 3});
    });
    ForwardBatch padded = ForwardBatch::decode(pool, {0, 6});
    expect_rejected(pool, "write_slots[1]: kNoStateWrite (-1) or the padding slot 6 for a padding request, got 2", [&] {
        padded.set_write_slots({0, 2});
    });
    // S6-S9: checkpoints.
    expect_rejected(pool, "checkpoints: one list per request (2), got 1", [&] { fb.set_checkpoints({{}}); });
    expect_rejected(
        pool, "checkpoints[1][1].tokens: a token count in 3..4 (increasing, at most the request's 4 tokens), got 2",
        [&] {
            fb.set_checkpoints({{}, {{2, 3}, {2, 4}}});
        });
    expect_rejected(pool, "checkpoints[0][0].tokens: a token count in 1..3", [&] {
        fb.set_checkpoints({{{4, 3}}, {}});
    });
    expect_rejected(pool, "checkpoints[0][0].tokens: a token count in 1..3", [&] {
        fb.set_checkpoints({{{0, 3}}, {}});
    });
    expect_rejected(
        pool, "checkpoint slot 0: a slot the call does not otherwise use, but slot 1 is a request's read slot", [&] {
            fb.set_checkpoints({{{1, 1}}, {}});
        });
    expect_rejected(
        pool, "checkpoint slot 1: a slot the call does not otherwise use, but slot 3 is another checkpoint's slot",
        [&] {
            fb.set_checkpoints({{{1, 3}, {2, 3}}, {}});
        });
    expect_rejected(pool, "checkpoint slot 0: a slot in 0..5, got 6", [&] { fb.set_checkpoints({{{1, 6}}, {}}); });
    {
        ForwardBatch w = ForwardBatch::extend(pool, {0, 1}, {3, 4});
        w.set_write_slots({2, 1});
        expect_rejected(pool, "but slot 2 is a request's write slot", [&] { w.set_checkpoints({{{1, 2}}, {}}); });
        ForwardBatch c = ForwardBatch::extend(pool, {0, 1}, {3, 4});
        c.set_checkpoints({{{1, 3}}, {}});
        expect_rejected(
            pool, "checkpoint slot 0: a slot the call does not otherwise use, but slot 3 is a request's write slot",
            [&] {
                c.set_write_slots({3, 1});
            });
        expect_rejected(pool, "slot 3 is a request's read slot", [&] { c.update_slots({3, 1}); });
    }
    expect_rejected(pool, "checkpoints[1][0]: no checkpoint for a padding request", [&] {
        padded.set_checkpoints({{}, {{1, 3}}});
    });
    // S10-S13: verify and commit.
    expect_rejected(pool, "draft_lens[1]: 1..16 draft tokens, got 17", [&] {
        ForwardBatch::verify(pool, {0, 1}, {3, 17});
    });
    expect_rejected(pool, "draft_lens[0]: 1..16 draft tokens, got 0", [&] {
        ForwardBatch::commit(pool, {0, 1}, {0, 2}, {0, 0});
    });
    expect_rejected(pool, "accepted: one count per request (2), got 1", [&] {
        ForwardBatch::commit(pool, {0, 1}, {3, 4}, {1});
    });
    expect_rejected(pool, "accepted[1]: 0..4 (its draft tokens), got 5", [&] {
        ForwardBatch::commit(pool, {0, 1}, {3, 4}, {1, 5});
    });
    ForwardBatch commit = ForwardBatch::commit(pool, {0, 1}, {3, 4}, {1, 2});
    Tensor out(test::backend(), DType::f32, {7, 128});
    expect_rejected(pool, "out: no output tensor for a commit batch (it writes no output), got [7, 128]",
                    [&] { s.layer.layer().forward(commit, s.qkv.view(), s.a.view(), s.b.view(), out.view()); });
    // S14: the pool's state dtype.
    PoolConfig bad = s.pc;
    bad.state_dtype = DType::i32;
    test::expect_error("state_dtype: f32, bf16 or f16, got i32", [&] { GDNPool p(test::backend(), bad); });
}

// The slot rule of plugin.h, written out independently of ForwardBatch: which (read, write,
// checkpoint) slot choices a call may make. Returns "" when allowed, else the argument to name.
namespace {
std::string slot_rule(const std::vector<int64_t>& reads, const std::vector<int64_t>& writes,
                      const std::vector<std::vector<Checkpoint>>& cks, int64_t pad) {
    const std::size_t B = reads.size();
    for (std::size_t r = 0; r < B; ++r) {
        const int64_t w = writes[r];
        const std::string name = "write_slots[" + std::to_string(r) + "]";
        if (reads[r] == pad) {
            if (w != kNoStateWrite && w != pad) return name;
            continue;
        }
        if (w == kNoStateWrite) continue;
        if (w < 0 || w >= pad) return name;
        for (std::size_t q = 0; q < B; ++q)
            if (q != r && (reads[q] == w || (q < r && writes[q] == w && reads[q] != pad))) return name;
    }
    std::vector<int64_t> taken;  // checkpoint slots so far, in flattened order
    for (std::size_t r = 0; r < B; ++r)
        for (const Checkpoint& c : cks[r]) {
            const std::string name = "checkpoint slot " + std::to_string(taken.size());
            if (c.slot < 0 || c.slot >= pad) return name;
            for (std::size_t q = 0; q < B; ++q)
                if ((reads[q] != pad && reads[q] == c.slot) || (reads[q] != pad && writes[q] == c.slot)) return name;
            for (int64_t t : taken)
                if (t == c.slot) return name;
            taken.push_back(c.slot);
        }
    return "";
}
}  // namespace

// Checked when the options are set, before any backend sees them: the same for every backend.
TEST_CASE("write and checkpoint slots: the host enforces exactly plugin.h's slot rule", "[serving][validation]") {
    const uint64_t seed = test::seed("write and checkpoint slots: the host enforces exactly plugin.h's slot rule");
    Serving s(seed, {3, 4, 2}, DType::f32, 12);
    GDNPool& pool = s.pool;
    const int64_t pad = pool.padding_slot();
    std::mt19937_64 rng(seed);
    auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    const std::vector<uint8_t> before = pool.snapshot();
    int allowed = 0, refused = 0;
    for (int trial = 0; trial < 400; ++trial) {
        // Three requests on distinct read slots, sometimes padding; write and checkpoint slots
        // drawn from a small range so that collisions of every kind are frequent.
        std::vector<int64_t> reads;
        while (reads.size() < 3) {
            const int64_t r = pick(0, 3) == 0 ? pad : pick(0, pad - 1);
            if (r == pad || std::find(reads.begin(), reads.end(), r) == reads.end()) reads.push_back(r);
        }
        const std::vector<int64_t> lens{3, 4, 2};
        std::vector<int64_t> writes;
        for (std::size_t r = 0; r < 3; ++r) {
            const int64_t k = pick(0, 9);
            writes.push_back(k == 0 ? kNoStateWrite : k == 1 ? pad : k < 6 ? reads[r] : pick(-2, pad));
        }
        std::vector<std::vector<Checkpoint>> cks(3);
        for (std::size_t r = 0; r < 3; ++r) {
            if (reads[r] == pad) continue;
            int64_t t = 0;
            while (t < lens[r] && pick(0, 2) == 0) cks[r].push_back({t = pick(t + 1, lens[r]), pick(-1, pad)});
        }
        const std::string expected = slot_rule(reads, writes, cks, pad);
        const bool writes_first = pick(0, 1) == 1;
        INFO("trial " << trial << ": reads " << ::Catch::Detail::stringify(reads) << ", writes "
                      << ::Catch::Detail::stringify(writes) << ", writes set " << (writes_first ? "first" : "second"));
        std::string got;
        try {
            ForwardBatch fb = ForwardBatch::extend(pool, reads, lens);
            if (writes_first) fb.set_write_slots(writes);
            fb.set_checkpoints(cks);
            if (!writes_first) fb.set_write_slots(writes);
        } catch (const Error& e) {
            got = e.what();
        }
        if (expected.empty()) {
            CHECK(got == "");
            ++allowed;
        } else {
            // Both orders must refuse; the argument named is a write slot or a checkpoint slot
            // (which of two conflicting ones is named depends on the order they were set).
            CHECK(got != "");
            CHECK((got.find("write_slots[") != std::string::npos || got.find("checkpoint slot ") != std::string::npos));
            if (writes_first) CHECK(got.find(expected + ":") != std::string::npos);
            ++refused;
        }
    }
    CHECK(pool.snapshot() == before);
    // The draws cover both outcomes in quantity (else the rule above was never exercised).
    CHECK(allowed > 40);
    CHECK(refused > 40);
}

namespace {

// Rows [t0, t0 + n) of a device tensor of f32 rows, as a view (the CPU and GPU backends alike:
// only the address moves).
TensorView row_slice(const Tensor& t, int64_t t0, int64_t n) {
    const int64_t w = t.shape()[1];
    return TensorView(static_cast<char*>(t.data()) + t0 * w * 4, DType::f32, {n, w}, test::backend());
}

// The fp64 reference of every request of s from the states its pool holds now (so that a
// 16-bit pool's rounded states are the starting point): outputs [T, HV*Dv] and, per request,
// the states after n tokens.
struct Reference {
    reference::Problem p;
    std::vector<double> out;
    Reference(const Serving& s, const std::vector<int64_t>& read_slots) : p(s.c.problem) {
        const std::size_t rec_n = 4 * 32 * 32, conv_n = std::size_t(p.conv_dim()) * 3;
        for (std::size_t r = 0; r < read_slots.size(); ++r) {
            const auto rec = s.pool.read_recurrent(0, read_slots[r]);
            const auto conv = s.pool.read_conv_bytes(0, read_slots[r]);
            for (std::size_t i = 0; i < rec_n; ++i) p.recurrent_state[r * rec_n + i] = rec[i];
            for (std::size_t i = 0; i < conv_n; ++i)
                p.conv_state[r * conv_n + i] = load_as_double(conv.data(), DType::f32, i);
        }
        reference::Problem q = p;
        out = reference::forward(q);
    }
    std::pair<std::vector<double>, std::vector<double>> state_after(int64_t r, int64_t n) const {
        return reference_prefix_state(p, r, n);
    }
};

double rel(const std::vector<float>& got, const std::vector<double>& want) {
    return reference::relative_l2(std::vector<double>(got.begin(), got.end()), want);
}

bool conv_exact(const std::vector<uint8_t>& got, const std::vector<double>& want) {
    for (std::size_t i = 0; i < want.size(); ++i)
        if (load_as_double(got.data(), DType::f32, i) != float(want[i])) return false;
    return true;
}

std::vector<double> rows_of(const std::vector<double>& out, int64_t t0, int64_t n, int64_t width) {
    return std::vector<double>(out.begin() + std::ptrdiff_t(t0 * width),
                               out.begin() + std::ptrdiff_t((t0 + n) * width));
}

}  // namespace

TEST_CASE("verify with checkpoints: each draft token's state in its slot, every other slot bit-identical",
          "[serving]") {
    const uint64_t seed =
        test::seed("verify with checkpoints: each draft token's state in its slot, every other slot bit-identical");
    const std::vector<int64_t> drafts{4, 16, 1, 7}, reads{0, 1, 2, 3};
    // Per-token states for request 0 (the other approach to speculative decoding), a few for the
    // others; slots 4.. are checkpoint slots.
    const std::vector<std::vector<Checkpoint>> cks{{{1, 4}, {2, 5}, {3, 6}, {4, 7}}, {{5, 8}, {16, 9}}, {{1, 10}}, {}};
    for (DType state : {DType::f32, DType::bf16}) {
        INFO("state dtype " << dtype_name(state));
        Serving s(seed, drafts, state, 12);
        ForwardBatch verify = ForwardBatch::verify(s.pool, reads, drafts);
        verify.set_checkpoints(cks);
        if (!declares(GDN_FEATURE_WRITE_SLOTS | GDN_FEATURE_CHECKPOINTS) || !declares_state(state)) {
            expect_rejected(
                s.pool, "does not support", [&] { s.run(verify); }, GDN_ERR_UNSUPPORTED);
            continue;
        }
        const Reference ref(s, reads);
        std::vector<std::vector<float>> rec_before;
        std::vector<std::vector<uint8_t>> conv_before;
        for (int64_t slot = 0; slot <= s.pool.padding_slot(); ++slot) {
            rec_before.push_back(s.pool.read_recurrent(0, slot));
            conv_before.push_back(s.pool.read_conv_bytes(0, slot));
        }
        const auto out = s.run(verify);
        // Outputs: every draft token's, as the reference gives them, and as a verify without
        // checkpoints gives them (not always the same bits: a checkpoint ends a chunk).
        CHECK(reference::relative_l2(out, ref.out) < 2e-5);
        Serving plain(seed, drafts, state, 12);
        ForwardBatch v2 = ForwardBatch::verify(plain.pool, reads, drafts);
        const auto out_plain = plain.run(v2);
        CHECK(reference::relative_l2(out, out_plain) < 2e-5);
        // Each checkpoint slot: the state after exactly its tokens.
        std::vector<bool> is_checkpoint(std::size_t(s.pool.padding_slot() + 1), false);
        const double tol = state == DType::f32 ? 2e-5 : 5e-3;
        for (std::size_t r = 0; r < cks.size(); ++r)
            for (const Checkpoint& ck : cks[r]) {
                INFO("request " << r << " after " << ck.tokens << " of " << drafts[r] << " drafts, slot " << ck.slot);
                is_checkpoint[std::size_t(ck.slot)] = true;
                const auto [want, conv] = ref.state_after(int64_t(r), ck.tokens);
                CHECK(rel(s.pool.read_recurrent(0, ck.slot), want) < tol);
                CHECK(conv_exact(s.pool.read_conv_bytes(0, ck.slot), conv));
            }
        // Every other slot, the read slots and the padding slot included: bit-identical.
        for (int64_t slot = 0; slot <= s.pool.padding_slot(); ++slot) {
            if (is_checkpoint[std::size_t(slot)]) continue;
            INFO("slot " << slot);
            CHECK(s.pool.read_recurrent(0, slot) == rec_before[std::size_t(slot)]);
            CHECK(s.pool.read_conv_bytes(0, slot) == conv_before[std::size_t(slot)]);
        }
        // A commit of k drafts writes the state the checkpoint after k tokens holds (the replay
        // approach and the per-token states agree).
        if (!declares(GDN_FEATURE_ACCEPTED | GDN_FEATURE_NO_OUTPUT)) continue;
        for (std::size_t m = 0; m < 4; ++m) {
            std::vector<int64_t> accepted;
            for (std::size_t r = 0; r < cks.size(); ++r) accepted.push_back(m < cks[r].size() ? cks[r][m].tokens : 0);
            for (int64_t slot = 0; slot < 4; ++slot) {  // back to the state verify read
                plain.pool.write_recurrent(0, slot, rec_before[std::size_t(slot)]);
                plain.pool.write_conv_bytes(0, slot, conv_before[std::size_t(slot)]);
            }
            ForwardBatch commit = ForwardBatch::commit(plain.pool, reads, drafts, accepted);
            plain.run(commit, false);
            for (std::size_t r = 0; r < cks.size(); ++r) {
                if (m >= cks[r].size()) continue;
                INFO("request " << r << ": commit of " << accepted[r] << " against the checkpoint in slot "
                                << cks[r][m].slot);
                const auto got = plain.pool.read_recurrent(0, int64_t(r));
                const auto want = s.pool.read_recurrent(0, cks[r][m].slot);
                CHECK(rel(got, std::vector<double>(want.begin(), want.end())) < tol);
                CHECK(plain.pool.read_conv_bytes(0, int64_t(r)) == s.pool.read_conv_bytes(0, cks[r][m].slot));
            }
        }
    }
}

TEST_CASE("mixed batches with serving options: each request as if alone, and as the reference", "[serving]") {
    const uint64_t seed =
        test::seed("mixed batches with serving options: each request as if alone, and as the reference");
    std::mt19937_64 rng(seed);
    auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    const bool invariant = declares(GDN_FEATURE_BATCH_INVARIANT);
    for (int trial = 0; trial < 6; ++trial) {
        // Decode requests (1 token) and extend requests (2..70 tokens, around the chunk size and
        // the token-by-token threshold) in one mixed call; options drawn per request.
        const int64_t B = pick(2, 5);
        std::vector<int64_t> lens, reads;
        for (int64_t r = 0; r < B; ++r) lens.push_back(pick(0, 2) == 0 ? 1 : pick(2, 70)), reads.push_back(r);
        const DType state = std::vector<DType>{DType::f32, DType::bf16, DType::f16}[std::size_t(pick(0, 2))];
        const int64_t num_slots = 3 * B + 8 * B;
        Serving s(seed + uint64_t(trial), lens, state, num_slots);
        std::vector<int64_t> writes;
        std::vector<std::vector<Checkpoint>> cks(static_cast<std::size_t>(B));
        int64_t next_ck = 2 * B;
        for (int64_t r = 0; r < B; ++r) {
            const int64_t k = pick(0, 2);
            writes.push_back(k == 0 ? r : k == 1 ? B + r : kNoStateWrite);
            int64_t t = 0;
            while (t < lens[std::size_t(r)] && pick(0, 1) == 1 && next_ck < num_slots)
                cks[std::size_t(r)].push_back({t = pick(t + 1, lens[std::size_t(r)]), next_ck++});
        }
        INFO("trial " << trial << ": lens " << ::Catch::Detail::stringify(lens) << ", writes "
                      << ::Catch::Detail::stringify(writes) << ", state " << dtype_name(state));
        ForwardBatch fb(ForwardMode::mixed, s.pool, reads, lens);
        fb.set_write_slots(writes);
        fb.set_checkpoints(cks);
        if (!declares(GDN_FEATURE_WRITE_SLOTS | GDN_FEATURE_CHECKPOINTS) || !declares_state(state) ||
            !(test::backend().capabilities().modes & (1u << unsigned(ForwardMode::mixed)))) {
            expect_rejected(
                s.pool, "does not support", [&] { s.run(fb); }, GDN_ERR_UNSUPPORTED);
            continue;
        }
        const Reference ref(s, reads);
        const auto before = s.pool.snapshot();
        const auto out = s.run(fb);

        // Each request alone (decode or extend of its own rows) in a pool with the same states.
        Serving alone(seed + uint64_t(trial), lens, state, num_slots);
        const int64_t width = 4 * 32;
        const auto& cu = s.c.problem.cu_seqlens;
        const double tol = state == DType::f32 ? 2e-5 : 5e-3;
        for (int64_t r = 0; r < B; ++r) {
            const std::size_t ri = std::size_t(r);
            const int64_t t0 = cu[ri], L = lens[ri];
            INFO("request " << r << ": " << L << " tokens, write slot " << writes[ri] << ", " << cks[ri].size()
                            << " checkpoints");
            ForwardBatch one(L == 1 ? ForwardMode::decode : ForwardMode::extend, alone.pool, {r}, {L});
            one.set_write_slots({writes[ri]});
            one.set_checkpoints({cks[ri]});
            Tensor o = alone.layer.layer().forward(one, row_slice(alone.qkv, t0, L), row_slice(alone.a, t0, L),
                                                   row_slice(alone.b, t0, L));
            one.stream().synchronize();
            const auto got_alone = to_host_double(o), got_batch = rows_of(out, t0, L, width);
            CHECK(reference::relative_l2(got_batch, rows_of(ref.out, t0, L, width)) < 2e-5);
            if (invariant)
                CHECK(got_batch == got_alone);
            else
                CHECK(reference::relative_l2(got_batch, got_alone) < 2e-5);
            // The state it wrote (or, for no write, its read slot untouched) and its checkpoints.
            const auto [want, conv] = ref.state_after(r, L);
            if (writes[ri] == kNoStateWrite) {
                CHECK(s.pool.read_recurrent(0, r) == alone.pool.read_recurrent(0, r));
            } else {
                CHECK(rel(s.pool.read_recurrent(0, writes[ri]), want) < tol);
                CHECK(conv_exact(s.pool.read_conv_bytes(0, writes[ri]), conv));
            }
            std::vector<int64_t> written{writes[ri]};
            for (const Checkpoint& ck : cks[ri]) {
                INFO("checkpoint after " << ck.tokens << " tokens in slot " << ck.slot);
                const auto [want_ck, conv_ck] = ref.state_after(r, ck.tokens);
                CHECK(rel(s.pool.read_recurrent(0, ck.slot), want_ck) < tol);
                CHECK(conv_exact(s.pool.read_conv_bytes(0, ck.slot), conv_ck));
                written.push_back(ck.slot);
            }
            for (int64_t slot : written) {
                if (slot == kNoStateWrite) continue;
                if (invariant) CHECK(s.pool.read_recurrent(0, slot) == alone.pool.read_recurrent(0, slot));
                CHECK(s.pool.read_conv_bytes(0, slot) == alone.pool.read_conv_bytes(0, slot));
            }
        }
        // Nothing else changed: the whole pool equals the one-by-one pool.
        if (invariant) CHECK(s.pool.snapshot() == alone.pool.snapshot());
        bool writes_some = false;
        for (int64_t r = 0; r < B; ++r)
            writes_some = writes_some || writes[std::size_t(r)] != kNoStateWrite || !cks[std::size_t(r)].empty();
        CHECK((s.pool.snapshot() != before) == writes_some);
    }
}

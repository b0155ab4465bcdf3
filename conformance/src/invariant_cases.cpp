// Properties any correct backend has, whatever its algorithm, checked through the layer and the
// pool as an engine uses them: prefill = prefill then decode, a ragged batch = its requests one
// by one, slots not named untouched, padding rows zero with the padding slot untouched, a copied
// slot continuing like the original, rejected calls leaving the pool bit-identical, and (ABI 1.1)
// work on a wrapped native stream equal to work on the backend's own.
#include <cmath>
#include <functional>
#include <sstream>

#include "cases.hpp"
#include "gdn/error.hpp"
#include "layer_runner.hpp"

namespace gdn::conformance::detail {

namespace {

bool declares(const gdn_capabilities& caps, ForwardMode m) { return caps.modes & (1u << unsigned(m)); }

// A small f32 (or the first declared dtype) case in `mode`, inside the declaration.
std::optional<Case> invariant_case(const Context& ctx, ForwardMode mode, std::vector<int64_t> lens, uint64_t seed,
                                   CaseOutcome& out) {
    RandomCaseSpec pref;
    pref.num_k_heads = 2;
    pref.num_v_heads = 4;
    pref.head_k_dim = 32;
    pref.head_v_dim = 24;
    pref.mode = mode;
    std::string why;
    std::optional<RandomCaseSpec> spec = supported_spec(ctx.caps(), pref, &why);
    if (!spec) {
        out.status = Status::skipped;
        out.message = "nothing to run: the backend " + why;
        return std::nullopt;
    }
    spec->lengths = std::move(lens);
    Case c = random_case(*spec, seed);
    out.description = describe(c);
    out.tolerance = ctx.tolerance(c.activation_dtype).tolerance;
    return c;
}

void needs_modes(const Context& ctx, std::initializer_list<ForwardMode> modes, CaseOutcome& out, bool& ok) {
    ok = true;
    for (ForwardMode m : modes)
        if (!declares(ctx.caps(), m)) {
            out.status = Status::skipped;
            out.message = std::string("needs mode ") + mode_name(m) + ", which the backend does not declare";
            ok = false;
            return;
        }
}

// Appends "what rel L2 x > tol; " when two results differ by more than the tolerance, with the
// first element outside it when `shape` gives the case's dimensions (an output of one request or
// of the case's batch, or one request's recurrent state).
void expect_close(std::ostringstream& why, const std::string& what, const std::vector<double>& got,
                  const std::vector<double>& want, double tol, double& worst, const reference::Problem* shape = nullptr,
                  ResultKind kind = ResultKind::out) {
    const double d = reference::relative_l2(got, want);
    worst = std::max(worst, d);
    if (d <= tol) return;
    why << what << " rel L2 " << d << " > " << tol;
    if (shape) {
        reference::Problem s;
        s.num_k_heads = shape->num_k_heads;
        s.num_v_heads = shape->num_v_heads;
        s.head_k_dim = shape->head_k_dim;
        s.head_v_dim = shape->head_v_dim;
        s.conv_kernel = shape->conv_kernel;
        const int64_t W = int64_t(s.num_v_heads) * s.head_v_dim;
        s.cu_seqlens = int64_t(got.size()) == shape->num_tokens() * W
                           ? shape->cu_seqlens
                           : std::vector<int64_t>{0, int64_t(got.size()) / W};
        why << ", first outside tolerance: " << first_outside(s, kind, got, want, tol);
    }
    why << "; ";
}

void finish(CaseOutcome& out, const std::ostringstream& why, double worst) {
    Metrics m;
    m.out_rel_l2 = worst;
    out.metrics = m;
    out.message = why.str();
    out.status = out.message.empty() ? Status::pass : Status::fail;
}

void prefill_then_decode(const Context& ctx, CaseOutcome& out) {
    bool ok;
    needs_modes(ctx, {ForwardMode::extend, ForwardMode::decode}, out, ok);
    if (!ok) return;
    const int64_t N = 150;
    const auto c = invariant_case(ctx, ForwardMode::extend, {N}, ctx.options.seed ^ 0x1001, out);
    if (!c) return;
    const double tol = out.tolerance->out;
    std::ostringstream why;
    double worst = 0;
    for (int64_t k : {0, 1, 64, 100}) {
        LayerRunner r(ctx.backend, *c, 4);
        const auto whole = r.run(ForwardMode::extend, {1}, {N}, 0);
        std::vector<double> split = r.run(ForwardMode::extend, {3}, {k}, 0);
        for (int64_t t = k; t < N; ++t) {
            const auto row = r.run(ForwardMode::decode, {3}, {1}, t);
            split.insert(split.end(), row.begin(), row.end());
        }
        const std::string at = "prefill " + std::to_string(k) + " + decode " + std::to_string(N - k) + ": ";
        expect_close(why, at + "out", split, whole, tol, worst, &c->problem);
        expect_close(why, at + "state", r.recurrent(3), r.recurrent(1), out.tolerance->state, worst, &c->problem,
                     ResultKind::recurrent_state);
        if (r.pool().read_conv_bytes(0, 3) != r.pool().read_conv_bytes(0, 1)) why << at << "conv state differs; ";
    }
    out.description = "prefill of 150 = prefill of k (0, 1, 64, 100) then decode; " + out.description;
    finish(out, why, worst);
}

void batch_vs_one_by_one(const Context& ctx, CaseOutcome& out) {
    bool ok;
    needs_modes(ctx, {ForwardMode::extend}, out, ok);
    if (!ok) return;
    const std::vector<int64_t> lens{5, 0, 64, 130, 1, 2};
    const auto c = invariant_case(ctx, ForwardMode::extend, lens, ctx.options.seed ^ 0x1002, out);
    if (!c) return;
    LayerRunner r(ctx.backend, *c, 16);
    const std::vector<int64_t> batch_slots{0, 2, 4, 6, 8, 10}, alone_slots{1, 3, 5, 7, 9, 11};
    const auto batch = r.run(ForwardMode::extend, batch_slots, lens, 0);
    std::vector<double> alone;
    int64_t t0 = 0;
    for (std::size_t i = 0; i < lens.size(); ++i) {
        const auto o = r.run(ForwardMode::extend, {alone_slots[i]}, {lens[i]}, t0);
        alone.insert(alone.end(), o.begin(), o.end());
        t0 += lens[i];
    }
    std::ostringstream why;
    double worst = 0;
    expect_close(why, "out", batch, alone, out.tolerance->out, worst, &c->problem);
    for (std::size_t i = 0; i < lens.size(); ++i) {
        const std::string req = "request " + std::to_string(i) + " (length " + std::to_string(lens[i]) + ") ";
        expect_close(why, req + "state", r.recurrent(batch_slots[i]), r.recurrent(alone_slots[i]), out.tolerance->state,
                     worst, &c->problem, ResultKind::recurrent_state);
        if (r.pool().read_conv_bytes(0, batch_slots[i]) != r.pool().read_conv_bytes(0, alone_slots[i]))
            why << req << "conv state differs; ";
    }
    out.description = "a ragged batch (lengths 5,0,64,130,1,2) = its requests one by one; " + out.description;
    finish(out, why, worst);
}

void untouched_slots(const Context& ctx, CaseOutcome& out) {
    const ForwardMode mode = declares(ctx.caps(), ForwardMode::mixed) ? ForwardMode::mixed : ForwardMode::extend;
    const auto c = invariant_case(ctx, mode, {1, 20, 0, 1, 3}, ctx.options.seed ^ 0x1003, out);
    if (!c) return;
    // run_case fills every other slot, the padding slot and another layer with a pattern and
    // compares them byte by byte afterwards.
    run_numeric(ctx, *c, out);
    out.description = "slots not named, the padding slot and other layers stay byte-identical; " + out.description;
}

void padding_slot(const Context& ctx, CaseOutcome& out) {
    const ForwardMode mode = declares(ctx.caps(), ForwardMode::decode) ? ForwardMode::decode : ForwardMode::extend;
    const auto c = invariant_case(ctx, mode, {1, 1, 1, 1}, ctx.options.seed ^ 0x1004, out);
    if (!c) return;
    LayerRunner r(ctx.backend, *c, 3);
    const int64_t pad = r.pool().padding_slot();
    const auto rec_before = r.pool().read_recurrent(0, pad);
    const auto conv_before = r.pool().read_conv_bytes(0, pad);
    const auto o = r.run(mode, {0, pad, 2, pad}, {1, 1, 1, 1}, 0);
    const int64_t W = r.width();
    std::ostringstream why;
    double live = 0;
    for (int64_t i = 0; i < W; ++i) {
        if (o[std::size_t(W + i)] != 0.0 || o[std::size_t(3 * W + i)] != 0.0) {
            why << "a padding row is not all zeros; ";
            break;
        }
    }
    for (int64_t i = 0; i < W; ++i) live += std::abs(o[std::size_t(i)]) + std::abs(o[std::size_t(2 * W + i)]);
    if (!(live > 0.0)) why << "the live rows are all zero (degenerate); ";
    if (r.pool().read_recurrent(0, pad) != rec_before) why << "the padding slot's recurrent state was written; ";
    if (r.pool().read_conv_bytes(0, pad) != conv_before) why << "the padding slot's conv state was written; ";
    out.description = "padding rows (slot = padding slot) give zeros and never touch that slot; " + out.description;
    out.message = why.str();
    out.status = out.message.empty() ? Status::pass : Status::fail;
}

void prefix_snapshot(const Context& ctx, CaseOutcome& out) {
    bool ok;
    needs_modes(ctx, {ForwardMode::extend}, out, ok);
    if (!ok) return;
    const auto c = invariant_case(ctx, ForwardMode::extend, {40, 40}, ctx.options.seed ^ 0x1005, out);
    if (!c) return;
    LayerRunner r(ctx.backend, *c, 4);
    r.run(ForwardMode::extend, {0}, {40}, 0);
    r.pool().copy_slot(0, 2);
    const auto a = r.run(ForwardMode::extend, {0}, {40}, 40);
    const auto b = r.run(ForwardMode::extend, {2}, {40}, 40);
    std::ostringstream why;
    double worst = 0;
    expect_close(why, "out after the copy", b, a, out.tolerance->out, worst, &c->problem);
    expect_close(why, "state after the copy", r.recurrent(2), r.recurrent(0), out.tolerance->state, worst, &c->problem,
                 ResultKind::recurrent_state);
    out.description = "a copied slot (prefix-cache snapshot) continues like the original; " + out.description;
    finish(out, why, worst);
}

void rejected_calls(const Context& ctx, CaseOutcome& out) {
    const auto c = invariant_case(ctx, ctx.caps().modes & 1u ? ForwardMode::extend : ForwardMode::mixed, {3, 4},
                                  ctx.options.seed ^ 0x1006, out);
    if (!c) return;
    const auto& p = c->problem;
    const std::vector<int64_t> lens =
        c->mode == ForwardMode::decode ? std::vector<int64_t>{1, 1} : std::vector<int64_t>{3, 4};
    LayerRunner r(ctx.backend, *c, 6);
    r.run(c->mode, {1, 4}, lens, 0);  // non-zero state, so a stray write would show
    const Backend& be = ctx.backend;
    const DType act = c->activation_dtype;
    const int64_t T = p.num_tokens(), C = p.conv_dim(), HV = p.num_v_heads;
    Tensor q = to_device(be, act, p.mixed_qkv, {T, C});
    Tensor a = to_device(be, act, p.a, {T, HV}), b = to_device(be, act, p.b, {T, HV});
    Tensor q_short = to_device(be, act, std::vector<double>(std::size_t((T - 1) * C), 0.5), {T - 1, C});
    const DType other = act == DType::f32 ? DType::bf16 : DType::f32;
    Tensor a_other = to_device(be, other, p.a, {T, HV});

    struct Attempt {
        const char* what;
        std::function<void()> call;
    };
    const std::vector<Attempt> attempts{
        {"a slot twice in one batch",
         [&] {
             ForwardBatch(c->mode, r.pool(), {2, 2}, lens);
         }},
        {"a slot out of range",
         [&] {
             ForwardBatch(c->mode, r.pool(), {0, 99}, lens);
         }},
        {"mixed_qkv with a row missing",
         [&] {
             ForwardBatch fb(c->mode, r.pool(), {0, 5}, lens);
             r.layer().forward(fb, q_short.view(), a.view(), b.view());
         }},
        {"a in the wrong dtype",
         [&] {
             ForwardBatch fb(c->mode, r.pool(), {0, 5}, lens);
             r.layer().forward(fb, q.view(), a_other.view(), b.view());
         }},
    };
    std::ostringstream why;
    for (const Attempt& at : attempts) {
        const std::vector<uint8_t> before = r.pool().snapshot();
        try {
            at.call();
            why << at.what << ": accepted; ";
        } catch (const Error&) {}
        if (r.pool().snapshot() != before) why << at.what << ": refused, but the pool changed; ";
    }
    out.description =
        "refused calls (duplicate slot, slot out of range, short input, wrong dtype) leave the pool "
        "bit-identical; " +
        out.description;
    out.message = why.str();
    out.status = out.message.empty() ? Status::pass : Status::fail;
}

// ABI 1.1 native streams, where the plugin offers them: the native handle of a stream the plugin
// created, wrapped as a caller's stream, must come back from stream_native unchanged (a wrap that
// makes a stream of its own would not order gdn's work with the caller's), and a prefill and a
// decode step on the wrapped stream must give what they give on the backend's own stream.
void native_stream(const Context& ctx, CaseOutcome& out) {
    const gdn_plugin& table = ctx.backend.table();
    if (!table.stream_wrap || !table.stream_native) {
        out.status = Status::skipped;
        out.message = "the backend does not declare native streams (its plugin has no stream_wrap / stream_native)";
        return;
    }
    bool ok;
    needs_modes(ctx, {ForwardMode::extend, ForwardMode::decode}, out, ok);
    if (!ok) return;
    const int64_t N = 70;
    const auto c = invariant_case(ctx, ForwardMode::extend, {N + 1}, ctx.options.seed ^ 0x1007, out);
    if (!c) return;
    std::ostringstream why;
    Stream own(ctx.backend);  // plays the caller's stream: its native handle is a real one
    void* native = own.native_handle();
    if (!native) {
        out.status = Status::fail;
        out.message = "stream_native gave NULL for a stream the plugin created";
        return;
    }
    Stream wrapped(ctx.backend, NativeStream{native});
    if (wrapped.native_handle() != native) why << "stream_native of a wrapped stream is not the caller's stream; ";
    LayerRunner r(ctx.backend, *c, 4);
    const auto here = r.run(ForwardMode::extend, {1}, {N}, 0);
    const auto there = r.run(ForwardMode::extend, {2}, {N}, 0, &wrapped);
    const auto here_step = r.run(ForwardMode::decode, {1}, {1}, N);
    const auto there_step = r.run(ForwardMode::decode, {2}, {1}, N, &wrapped);
    double worst = 0;
    // The same kernels on the same inputs: equal to the declared determinism, else to tolerance.
    const double tol = ctx.caps().deterministic ? 0.0 : out.tolerance->out;
    expect_close(why, "prefill on the wrapped stream: out", there, here, tol, worst);
    expect_close(why, "decode on the wrapped stream: out", there_step, here_step, tol, worst);
    expect_close(why, "state", r.recurrent(2), r.recurrent(1), ctx.caps().deterministic ? 0.0 : out.tolerance->state,
                 worst);
    if (r.pool().read_conv_bytes(0, 2) != r.pool().read_conv_bytes(0, 1)) why << "conv state differs; ";
    out.description =
        "a prefill of 70 and a decode step on a wrapped native stream = on the backend's stream; " + out.description;
    finish(out, why, worst);
}

CaseDef make(const char* id, const char* description, void (*fn)(const Context&, CaseOutcome&)) {
    CaseDef d;
    d.id = id;
    d.category = "invariant";
    d.description = description;
    d.run = fn;
    return d;
}

}  // namespace

std::vector<CaseDef> invariant_cases() {
    return {
        make("invariant-prefill-then-decode", "prefill = prefill then decode", prefill_then_decode),
        make("invariant-batch-vs-one-by-one", "a ragged batch = its requests one by one", batch_vs_one_by_one),
        make("invariant-untouched-slots", "slots not named stay byte-identical", untouched_slots),
        make("invariant-padding-slot", "padding rows are zeros; the padding slot is never written", padding_slot),
        make("invariant-prefix-snapshot", "a copied slot continues like the original", prefix_snapshot),
        make("invariant-rejected-calls", "refused calls leave the pool bit-identical", rejected_calls),
        make("invariant-native-stream", "work on a wrapped native stream = work on the backend's stream",
             native_stream),
    };
}

}  // namespace gdn::conformance::detail

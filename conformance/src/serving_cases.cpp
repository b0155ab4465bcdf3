// ABI 1.2 serving-state features, capability-aware: a 16-bit recurrent state, checkpoints inside
// an extend, verify then commit, separate write slots (a fork, no write at all), a call without
// output, batch invariance where declared; and for each feature a plugin does not declare, a
// direct call that asks for it anyway and must be refused with nothing written.
#include <cstring>
#include <sstream>

#include "cases.hpp"
#include "direct_call.hpp"
#include "gdn/error.hpp"

namespace gdn::conformance::detail {

namespace {

bool has(const gdn_capabilities& caps, uint32_t features) { return (caps.features & features) == features; }

// A random case inside the declaration (f32 activations where declared), or nothing (skipped).
std::optional<Case> serving_case(const Context& ctx, ForwardMode mode, std::vector<int64_t> lens, uint64_t seed,
                                 CaseOutcome& out, int head_v_dim = 32) {
    RandomCaseSpec pref;
    pref.num_k_heads = 2;
    pref.num_v_heads = 4;
    pref.head_k_dim = 32;
    pref.head_v_dim = head_v_dim;
    pref.mode = mode;
    std::string why;
    std::optional<RandomCaseSpec> spec = supported_spec(ctx.caps(), pref, &why);
    if (!spec || !(ctx.caps().modes & (1u << unsigned(mode)))) {
        out.status = Status::skipped;
        out.message = spec ? std::string("needs mode ") + mode_name(mode) : "nothing to run: the backend " + why;
        return std::nullopt;
    }
    spec->lengths = std::move(lens);
    return random_case(*spec, seed);
}

CaseDef def(std::string id, std::string category, std::string description,
            std::function<void(const Context&, CaseOutcome&)> run) {
    CaseDef d;
    d.id = std::move(id);
    d.category = std::move(category);
    d.description = std::move(description);
    d.run = std::move(run);
    return d;
}

void unsupported(CaseOutcome& out, const std::string& what) {
    out.status = Status::unsupported;
    out.message = "the backend does not declare " + what;
}

// Checkpoints of request r: every `every` tokens, plus 1 and L.
void add_checkpoints(Case& c, int64_t every) {
    const auto& cu = c.problem.cu_seqlens;
    c.checkpoint_cu = {0};
    for (std::size_t r = 0; r + 1 < cu.size(); ++r) {
        const int64_t L = cu[r + 1] - cu[r];
        for (int64_t pos = 1; pos <= L; pos = pos == 1 && every > 1 ? every : pos + every)
            c.checkpoint_pos.push_back(pos);
        if (L > 0 && c.checkpoint_pos.back() != L) c.checkpoint_pos.push_back(L);
        c.checkpoint_cu.push_back(int64_t(c.checkpoint_pos.size()));
    }
}

// Bit-identical pool snapshots, as a message.
void expect_same(std::ostringstream& why, const std::vector<uint8_t>& got, const std::vector<uint8_t>& want,
                 const std::string& what) {
    if (got != want) why << what << "; ";
}

// Separate write slots in one call: request 0 forks slot 0 into slot 1 (slot 0 untouched), request 1
// verifies on slot 2 (no write: the pool is unchanged there), request 2 updates slot 3 in place.
void write_slots_case(const Context& ctx, CaseOutcome& out) {
    if (!has(ctx.caps(), GDN_FEATURE_WRITE_SLOTS)) return unsupported(out, "write slots (GDN_FEATURE_WRITE_SLOTS)");
    auto c = serving_case(ctx, ForwardMode::extend, {33, 5, 1}, ctx.options.seed ^ 0x2001, out);
    if (!c) return;
    out.description = "fork (read 0, write 1), no write (read 2), in place (3) in one call; " + describe(*c);
    const auto& p = c->problem;
    const ToleranceTable::Entry tol = ctx.tolerance(c->activation_dtype);
    out.tolerance = tol.tolerance;
    const int64_t C = p.conv_dim(), HV = p.num_v_heads, T = p.num_tokens();
    const std::size_t rec_n = std::size_t(HV * p.head_v_dim * p.head_k_dim),
                      conv_n = std::size_t(C * (p.conv_kernel - 1));
    GDNPool pool(ctx.backend, pool_config(*c, 6));
    const std::vector<int64_t> read{0, 2, 3}, write{1, kNoStateWrite, 3};
    for (std::size_t r = 0; r < 3; ++r) {
        std::vector<float> rec(p.recurrent_state.begin() + std::ptrdiff_t(r * rec_n),
                               p.recurrent_state.begin() + std::ptrdiff_t((r + 1) * rec_n));
        std::vector<uint8_t> conv(conv_n * dtype_size(c->activation_dtype));
        for (std::size_t i = 0; i < conv_n; ++i)
            store_from_double(conv.data(), c->activation_dtype, i, p.conv_state[r * conv_n + i]);
        pool.write_recurrent(0, read[r], rec);
        pool.write_conv_bytes(0, read[r], conv);
    }
    const auto slot0 = pool.read_recurrent(0, 0);
    const auto conv0 = pool.read_conv_bytes(0, 0);
    const auto slot2 = pool.read_recurrent(0, 2);
    const auto conv2 = pool.read_conv_bytes(0, 2);
    DeviceLayer layer(ctx.backend, p, c->activation_dtype, 0);
    Tensor q = to_device(ctx.backend, c->activation_dtype, p.mixed_qkv, {T, C});
    Tensor a = to_device(ctx.backend, c->activation_dtype, p.a, {T, HV});
    Tensor b = to_device(ctx.backend, c->activation_dtype, p.b, {T, HV});
    ForwardBatch batch = ForwardBatch::from_cu_seqlens(ForwardMode::extend, pool, read, p.cu_seqlens);
    batch.set_write_slots(write);
    const std::vector<double> got_out = to_host_double(layer.layer().forward(batch, q.view(), a.view(), b.view()));
    batch.stream().synchronize();

    reference::Problem ref = p;
    const std::vector<double> want_out = reference::forward(ref);
    std::ostringstream why;
    Metrics m;
    m.out_rel_l2 = reference::relative_l2(got_out, want_out);
    if (!(m.out_rel_l2 <= tol.tolerance.out))
        why << "out rel L2 " << m.out_rel_l2 << " > " << tol.tolerance.out << "; ";
    if (pool.read_recurrent(0, 0) != slot0 || pool.read_conv_bytes(0, 0) != conv0)
        why << "the fork's read slot 0 changed (it must stay bit-identical); ";
    if (pool.read_recurrent(0, 2) != slot2 || pool.read_conv_bytes(0, 2) != conv2)
        why << "request 1 wrote its state although its write slot is none; ";
    for (auto [r, slot] : {std::pair<std::size_t, int64_t>{0, 1}, {2, 3}}) {
        const std::vector<double> want(ref.recurrent_state.begin() + std::ptrdiff_t(r * rec_n),
                                       ref.recurrent_state.begin() + std::ptrdiff_t((r + 1) * rec_n));
        const auto got_f = pool.read_recurrent(0, slot);
        const double d = reference::relative_l2(std::vector<double>(got_f.begin(), got_f.end()), want);
        m.state_rel_l2 = std::max(m.state_rel_l2, d);
        if (!(d <= tol.tolerance.state)) why << "state in write slot " << slot << " rel L2 " << d << "; ";
        const auto conv = pool.read_conv_bytes(0, slot);
        for (std::size_t i = 0; i < conv_n; ++i)
            if (load_as_double(conv.data(), c->activation_dtype, i) !=
                round_to(c->activation_dtype, ref.conv_state[r * conv_n + i])) {
                why << "conv state in write slot " << slot << " not exact; ";
                break;
            }
    }
    out.metrics = m;
    out.message = why.str();
    out.status = out.message.empty() ? Status::pass : Status::fail;
}

// A call without output: the state advances exactly as in the same call with output.
void no_output_case(const Context& ctx, CaseOutcome& out) {
    if (!has(ctx.caps(), GDN_FEATURE_NO_OUTPUT))
        return unsupported(out, "calls without output (GDN_FEATURE_NO_OUTPUT)");
    auto c = serving_case(ctx, ForwardMode::extend, {40, 1, 9}, ctx.options.seed ^ 0x2002, out);
    if (!c) return;
    out.description = "a call without output advances the state like one with output; " + describe(*c);
    const auto& p = c->problem;
    const int64_t C = p.conv_dim(), HV = p.num_v_heads, T = p.num_tokens();
    GDNPool with(ctx.backend, pool_config(*c, 4)), without(ctx.backend, pool_config(*c, 4));
    DeviceLayer layer(ctx.backend, p, c->activation_dtype, 0);
    Tensor q = to_device(ctx.backend, c->activation_dtype, p.mixed_qkv, {T, C});
    Tensor a = to_device(ctx.backend, c->activation_dtype, p.a, {T, HV});
    Tensor b = to_device(ctx.backend, c->activation_dtype, p.b, {T, HV});
    ForwardBatch b1 = ForwardBatch::from_cu_seqlens(ForwardMode::extend, with, {0, 1, 2}, p.cu_seqlens);
    ForwardBatch b2 = ForwardBatch::from_cu_seqlens(ForwardMode::extend, without, {0, 1, 2}, p.cu_seqlens);
    layer.layer().forward(b1, q.view(), a.view(), b.view());
    layer.layer().forward(b2, q.view(), a.view(), b.view(), TensorView());
    b1.stream().synchronize();
    std::ostringstream why;
    Metrics m;
    for (int64_t s = 0; s < 3; ++s) {
        const auto x = with.read_recurrent(0, s), y = without.read_recurrent(0, s);
        m.state_rel_l2 = std::max(m.state_rel_l2, reference::relative_l2(std::vector<double>(y.begin(), y.end()),
                                                                         std::vector<double>(x.begin(), x.end())));
        if (ctx.caps().deterministic ? x != y : !(m.state_rel_l2 <= ctx.tolerance(c->activation_dtype).tolerance.state))
            why << "slot " << s << ": the state differs from the call with output; ";
        if (with.read_conv_bytes(0, s) != without.read_conv_bytes(0, s))
            why << "slot " << s << ": conv state differs; ";
    }
    out.metrics = m;
    out.message = why.str();
    out.status = out.message.empty() ? Status::pass : Status::fail;
}

// Batch invariance (declared only): each request alone equals itself inside batches of others,
// bit for bit (output rows, recurrent and conv state).
void batch_invariance_case(const Context& ctx, CaseOutcome& out) {
    if (!has(ctx.caps(), GDN_FEATURE_BATCH_INVARIANT))
        return unsupported(out, "batch invariance (GDN_FEATURE_BATCH_INVARIANT)");
    const std::vector<int64_t> lens{37, 1, 130, 5};
    // Dv = 128: a backend that splits a request's work when the batch is small shows it here.
    auto c = serving_case(ctx, ForwardMode::extend, lens, ctx.options.seed ^ 0x2003, out, 128);
    if (!c) return;
    out.description = "each request alone = the same request in batches of others, bitwise; " + describe(*c);
    const auto& p = c->problem;
    const int64_t C = p.conv_dim(), HV = p.num_v_heads, W = HV * p.head_v_dim;
    const std::size_t rec_n = std::size_t(HV * p.head_v_dim * p.head_k_dim),
                      conv_n = std::size_t(C * (p.conv_kernel - 1));
    DeviceLayer layer(ctx.backend, p, c->activation_dtype, 0);
    const DType act = c->activation_dtype;
    // Runs requests `which` (in that order) as one batch from their initial states; returns each
    // one's output rows and states.
    struct One {
        std::vector<double> out;
        std::vector<float> rec;
        std::vector<uint8_t> conv;
    };
    auto run = [&](const std::vector<std::size_t>& which) {
        GDNPool pool(ctx.backend, pool_config(*c, int64_t(which.size()) + 1));
        std::vector<double> qkv, av, bv;
        std::vector<int64_t> slots, blens;
        for (std::size_t k = 0; k < which.size(); ++k) {
            const std::size_t r = which[k];
            const int64_t s0 = p.cu_seqlens[r], s1 = p.cu_seqlens[r + 1];
            qkv.insert(qkv.end(), p.mixed_qkv.begin() + std::ptrdiff_t(s0 * C),
                       p.mixed_qkv.begin() + std::ptrdiff_t(s1 * C));
            av.insert(av.end(), p.a.begin() + std::ptrdiff_t(s0 * HV), p.a.begin() + std::ptrdiff_t(s1 * HV));
            bv.insert(bv.end(), p.b.begin() + std::ptrdiff_t(s0 * HV), p.b.begin() + std::ptrdiff_t(s1 * HV));
            std::vector<float> rec(p.recurrent_state.begin() + std::ptrdiff_t(r * rec_n),
                                   p.recurrent_state.begin() + std::ptrdiff_t((r + 1) * rec_n));
            std::vector<uint8_t> conv(conv_n * dtype_size(act));
            for (std::size_t i = 0; i < conv_n; ++i)
                store_from_double(conv.data(), act, i, p.conv_state[r * conv_n + i]);
            pool.write_recurrent(0, int64_t(k), rec);
            pool.write_conv_bytes(0, int64_t(k), conv);
            slots.push_back(int64_t(k));
            blens.push_back(s1 - s0);
        }
        const int64_t T = int64_t(av.size()) / HV;
        Tensor q = to_device(ctx.backend, act, qkv, {T, C});
        Tensor a = to_device(ctx.backend, act, av, {T, HV});
        Tensor b = to_device(ctx.backend, act, bv, {T, HV});
        ForwardBatch batch = ForwardBatch::extend(pool, slots, blens);
        const std::vector<double> o = to_host_double(layer.layer().forward(batch, q.view(), a.view(), b.view()));
        batch.stream().synchronize();
        std::vector<One> res;
        int64_t t = 0;
        for (std::size_t k = 0; k < which.size(); ++k) {
            res.push_back(
                {std::vector<double>(o.begin() + std::ptrdiff_t(t * W), o.begin() + std::ptrdiff_t((t + blens[k]) * W)),
                 pool.read_recurrent(0, int64_t(k)), pool.read_conv_bytes(0, int64_t(k))});
            t += blens[k];
        }
        return res;
    };
    std::ostringstream why;
    const std::vector<std::vector<std::size_t>> batches{{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0}, {1, 3}};
    for (std::size_t r = 0; r < lens.size(); ++r) {
        const One alone = run({r})[0];
        for (const auto& batch : batches)
            for (std::size_t k = 0; k < batch.size(); ++k) {
                if (batch[k] != r) continue;
                const One in = run(batch)[k];
                if (in.out != alone.out || in.rec != alone.rec || in.conv != alone.conv) {
                    why << "request " << r << " (length " << lens[r] << ") differs in a batch of " << batch.size()
                        << " from itself alone ("
                        << (in.out != alone.out   ? "output"
                            : in.rec != alone.rec ? "state"
                                                  : "conv state")
                        << "); ";
                }
            }
    }
    out.message = why.str();
    out.status = out.message.empty() ? Status::pass : Status::fail;
}

// A feature the plugin does not declare, asked for in a direct call anyway: refused with
// GDN_ERR_UNSUPPORTED, nothing written. Plugins of ABI 1.0/1.1 cannot see the 1.2 fields; the host
// refuses for them.
void refuse_case(const Context& ctx, CaseOutcome& out, const char* what, bool declared,
                 const std::function<void(gdn_forward_args&)>& edit) {
    if (ctx.backend.table().abi_minor < 2) {
        out.status = Status::skipped;
        out.message = "a plugin of ABI 1." + std::to_string(ctx.backend.table().abi_minor) +
                      " does not see ABI 1.2 fields; the host refuses them for it";
        return;
    }
    if (declared) {
        out.status = Status::skipped;
        out.message = std::string("declared: ") + what + " is checked by its serving case";
        return;
    }
    auto c = serving_case(ctx, ForwardMode::extend, {6, 3}, ctx.options.seed ^ 0x2004, out);
    if (!c) return;
    out.description = std::string("a direct call with ") + what + " (not declared) is refused, nothing written";
    const DirectResult r = direct_call(ctx.backend, *c, {}, edit);
    std::ostringstream why;
    if (r.status != GDN_ERR_UNSUPPORTED)
        why << "expected GDN_ERR_UNSUPPORTED for " << what << " it does not declare, got " << gdn::status_name(r.status)
            << (r.message.empty() ? "" : ": " + r.message) << "; ";
    for (const std::string& v : r.violations) why << v << "; ";
    if (!r.out_unchanged) why << "wrote the output although it refused; ";
    if (!r.live_states_unchanged) why << "wrote a state although it refused; ";
    out.message = why.str();
    out.status = out.message.empty() ? Status::pass : Status::fail;
    if (out.status == Status::pass) out.message = "refused: " + r.message;
}

}  // namespace

std::vector<CaseDef> serving_cases(const gdn_capabilities& caps) {
    std::vector<CaseDef> cases;
    for (DType st : {DType::bf16, DType::f16}) {
        const std::string name = dtype_name(st);
        const ForwardMode mode = st == DType::bf16 ? ForwardMode::extend : ForwardMode::decode;
        cases.push_back(
            def("serving-state-" + name, "serving",
                "recurrent state stored in " + name + ": computed in f32, rounded to nearest even",
                [st, mode](const Context& ctx, CaseOutcome& out) {
                    auto c = serving_case(ctx, mode, {7, 0, 40, 1}, ctx.options.seed ^ (0x2010 + uint64_t(st)), out);
                    if (!c) return;
                    c->state_dtype = st;
                    for (double& x : c->problem.recurrent_state) x = round_to(st, x);
                    run_numeric(ctx, *c, out);
                }));
    }
    for (DType st : {DType::f32, DType::bf16}) {
        const std::string name = dtype_name(st);
        cases.push_back(def(
            "serving-checkpoints-" + name + "-state", "serving",
            "checkpoints after 1, every 16 and all tokens of each request", [st](const Context& ctx, CaseOutcome& out) {
                auto c = serving_case(ctx, ForwardMode::extend, {70, 5, 0, 33}, ctx.options.seed ^ 0x2020, out);
                if (!c) return;
                c->state_dtype = st;
                for (double& x : c->problem.recurrent_state) x = round_to(st, x);
                add_checkpoints(*c, 16);
                run_numeric(ctx, *c, out);
            }));
    }
    cases.push_back(
        def("serving-verify-commit", "serving",
            "verify (outputs for every draft, pool untouched) then commit of accepted drafts (0..16)",
            [](const Context& ctx, CaseOutcome& out) {
                auto c = serving_case(ctx, ForwardMode::extend, {4, 16, 1, 7}, ctx.options.seed ^ 0x2030, out);
                if (!c) return;
                c->accepted = {2, 16, 0, 7};
                run_numeric(ctx, *c, out);
            }));
    cases.push_back(def("serving-write-slots", "serving", "separate read and write slots", write_slots_case));
    cases.push_back(def("serving-no-output", "serving", "a call without output", no_output_case));
    cases.push_back(def("serving-batch-invariance", "serving", "bitwise batch invariance", batch_invariance_case));

    // Direct refusals of what the plugin does not declare.
    static const int64_t none[2] = {GDN_SLOT_NONE, GDN_SLOT_NONE}, zero[2] = {0, 0}, ck_cu[3] = {0, 1, 1},
                         ck_pos[1] = {1};
    struct Refusal {
        const char* id;
        const char* what;
        bool declared;
        std::function<void(gdn_forward_args&)> edit;
    };
    const bool bf16_state = caps.state_dtypes & (1u << GDN_DTYPE_BF16),
               f16_state = caps.state_dtypes & (1u << GDN_DTYPE_F16);
    const std::vector<Refusal> refusals{
        {"capability-refuse-state-bf16", "a bf16 recurrent state", bf16_state,
         [](gdn_forward_args& a) { a.state_dtype = a.recurrent_state.dtype = GDN_DTYPE_BF16; }},
        {"capability-refuse-state-f16", "an f16 recurrent state", f16_state,
         [](gdn_forward_args& a) { a.state_dtype = a.recurrent_state.dtype = GDN_DTYPE_F16; }},
        {"capability-refuse-write-slots", "write slots", has(caps, GDN_FEATURE_WRITE_SLOTS),
         [](gdn_forward_args& a) {
             a.write_slots = a.slots;
             a.write_slots.data = const_cast<int64_t*>(none);
             a.host_write_slots = none;
         }},
        {"capability-refuse-no-output", "no output", has(caps, GDN_FEATURE_NO_OUTPUT),
         [](gdn_forward_args& a) { a.out.data = nullptr; }},
        {"capability-refuse-accepted", "accepted counts", has(caps, GDN_FEATURE_ACCEPTED | GDN_FEATURE_NO_OUTPUT),
         [](gdn_forward_args& a) {
             a.accepted = a.slots;
             a.accepted.data = const_cast<int64_t*>(zero);
             a.host_accepted = zero;
         }},
        {"capability-refuse-checkpoints", "checkpoints", has(caps, GDN_FEATURE_CHECKPOINTS),
         [](gdn_forward_args& a) {
             a.num_checkpoints = 1;
             a.checkpoint_cu = a.cu_seqlens;
             a.checkpoint_cu.data = const_cast<int64_t*>(ck_cu);
             a.host_checkpoint_cu = ck_cu;
             a.checkpoint_pos = a.slots;
             a.checkpoint_pos.shape[0] = 1;
             a.checkpoint_pos.data = const_cast<int64_t*>(ck_pos);
             a.host_checkpoint_pos = ck_pos;
             a.checkpoint_slots = a.checkpoint_pos;
             a.checkpoint_slots.data = const_cast<int64_t*>(zero);
             a.host_checkpoint_slots = zero;
         }},
    };
    for (const Refusal& r : refusals)
        cases.push_back(
            def(r.id, "capability", std::string("refuses ") + r.what + " when not declared",
                [r](const Context& ctx, CaseOutcome& out) { refuse_case(ctx, out, r.what, r.declared, r.edit); }));
    return cases;
}

}  // namespace gdn::conformance::detail

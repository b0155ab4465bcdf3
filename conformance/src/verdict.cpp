// From a run (or a refusal) to an outcome, the same way for every numeric case.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "cases.hpp"
#include "direct_call.hpp"
#include "gdn/error.hpp"

namespace gdn::conformance::detail {

bool in_range(const gdn_size_range& r, int v) {
    return r.multiple > 0 && v >= r.min && v <= r.max && (v - r.min) % r.multiple == 0;
}

namespace {
std::string range_text(const gdn_size_range& r) {
    std::string s = std::to_string(r.min) + ".." + std::to_string(r.max);
    if (r.multiple > 1) s += " step " + std::to_string(r.multiple);
    return s;
}
bool has_bit(uint32_t mask, int bit) { return bit >= 0 && bit < 32 && (mask & (1u << unsigned(bit))); }
}  // namespace

std::optional<std::string> outside_capabilities(const gdn_capabilities& caps, const Case& c) {
    const auto& p = c.problem;
    const int ratio = p.num_k_heads > 0 ? p.num_v_heads / p.num_k_heads : 0;
    if (!has_bit(int(caps.activation_dtypes), int(c.activation_dtype)))
        return std::string("activation dtype ") + dtype_name(c.activation_dtype) + " is not declared";
    if (!has_bit(caps.modes, int(c.mode))) return std::string("mode ") + mode_name(c.mode) + " is not declared";
    if (!in_range(caps.head_k_dim, p.head_k_dim))
        return "head_k_dim " + std::to_string(p.head_k_dim) + " is outside " + range_text(caps.head_k_dim);
    if (!in_range(caps.head_v_dim, p.head_v_dim))
        return "head_v_dim " + std::to_string(p.head_v_dim) + " is outside " + range_text(caps.head_v_dim);
    if (!has_bit(caps.conv_kernels, p.conv_kernel))
        return "conv kernel " + std::to_string(p.conv_kernel) + " is not declared";
    if (!has_bit(caps.gva_ratios, ratio)) return "GVA ratio " + std::to_string(ratio) + " is not declared";
    // ABI 1.2 serving features (f32 state is implied).
    if (c.state_dtype != DType::f32 && !has_bit(int(caps.state_dtypes), int(c.state_dtype)))
        return std::string("recurrent state dtype ") + dtype_name(c.state_dtype) + " is not declared";
    if (!c.checkpoint_pos.empty() && !(caps.features & GDN_FEATURE_CHECKPOINTS))
        return std::string("checkpoints are not declared");
    if (!c.accepted.empty() &&
        (caps.features & (GDN_FEATURE_WRITE_SLOTS | GDN_FEATURE_ACCEPTED | GDN_FEATURE_NO_OUTPUT)) !=
            (GDN_FEATURE_WRITE_SLOTS | GDN_FEATURE_ACCEPTED | GDN_FEATURE_NO_OUTPUT))
        return std::string("verify + commit (write slots, accepted counts, no output) are not all declared");
    return std::nullopt;
}

void run_numeric(const Context& ctx, const Case& c, CaseOutcome& out) {
    const ToleranceTable::Entry tol = ctx.tolerance(c.activation_dtype);
    out.description = describe(c);
    out.tolerance = tol.tolerance;
    out.tolerance_reason = tol.reason;
    const std::optional<std::string> outside = outside_capabilities(ctx.caps(), c);
    try {
        const CaseResult r = run_case(ctx.backend, c, tol.tolerance);
        Metrics m;
        m.out_rel_l2 = r.out_rel_l2;
        m.state_rel_l2 = r.state_rel_l2;
        m.out_max_abs = r.out_max_abs;
        m.out_max_rel = r.out_max_rel;
        m.conv_exact = r.conv_exact;
        out.metrics = m;
        out.status = r.passed ? Status::pass : Status::fail;
        out.message = r.message;
        // The host checks capabilities before calling the plugin, so this cannot happen unless
        // the host and this suite disagree about them; say so rather than hide it.
        if (outside) {
            out.message += "ran although ";
            out.message += *outside;
        }
    } catch (const Error& e) {
        if (e.status() == GDN_ERR_UNSUPPORTED && outside) {
            out.status = Status::unsupported;
            out.message = *outside;
        } else if (e.status() == GDN_ERR_UNSUPPORTED) {
            out.status = Status::fail;
            out.message = std::string("declared supported, but refused: ") + e.what();
        } else {
            out.status = Status::fail;
            out.message = std::string("error (") + gdn::status_name(e.status()) + "): " + e.what();
        }
    }
}

void judge_direct(const Context& ctx, const Case& c, const std::vector<bool>& padding, const DirectResult& r,
                  CaseOutcome& out) {
    const reference::Problem& p = c.problem;
    const ToleranceTable::Entry tol = ctx.tolerance(c.activation_dtype);
    out.tolerance = tol.tolerance;
    out.tolerance_reason = tol.reason;
    if (r.status != GDN_OK) {
        out.status = Status::fail;
        out.message = std::string("forward_gdn failed (") + gdn::status_name(r.status) + "): " + r.message;
        return;
    }
    reference::Problem q = p;
    const std::vector<double> want_all = reference::forward(q);
    const int64_t W = int64_t(p.num_v_heads) * p.head_v_dim;
    const int64_t rec_n = W * p.head_k_dim, conv_n = p.conv_dim() * (p.conv_kernel - 1);

    std::vector<double> got_out, want_out, want_rec, want_conv;
    std::vector<int64_t> nonzero_padding_rows, live;
    // The whole output with padding rows as expected, to say where a live row is off.
    std::vector<double> got_live_rows = r.out;
    for (int64_t req = 0; req < p.num_requests(); ++req) {
        const bool pad = req < int64_t(padding.size()) && padding[std::size_t(req)];
        for (int64_t t = p.cu_seqlens[std::size_t(req)]; t < p.cu_seqlens[std::size_t(req + 1)]; ++t) {
            const auto row = std::ptrdiff_t(t * W);
            if (pad) {
                if (std::any_of(r.out.begin() + row, r.out.begin() + row + W, [](double x) { return x != 0.0; }))
                    nonzero_padding_rows.push_back(t);
                std::copy_n(want_all.begin() + row, W, got_live_rows.begin() + row);
                continue;
            }
            got_out.insert(got_out.end(), r.out.begin() + row, r.out.begin() + row + W);
            want_out.insert(want_out.end(), want_all.begin() + row, want_all.begin() + row + W);
        }
        if (pad) continue;
        live.push_back(req);
        want_rec.insert(want_rec.end(), q.recurrent_state.begin() + std::ptrdiff_t(req * rec_n),
                        q.recurrent_state.begin() + std::ptrdiff_t((req + 1) * rec_n));
        for (int64_t i = 0; i < conv_n; ++i)
            want_conv.push_back(round_to(c.activation_dtype, q.conv_state[std::size_t(req * conv_n + i)]));
    }

    Metrics m;
    m.out_rel_l2 = reference::relative_l2(got_out, want_out);
    m.state_rel_l2 = reference::relative_l2(r.recurrent, want_rec);
    m.out_max_abs = reference::max_abs_diff(got_out, want_out);
    double want_max = 0;
    for (double x : want_out) want_max = std::max(want_max, std::abs(x));
    m.out_max_rel = want_max > 0 ? m.out_max_abs / want_max : m.out_max_abs;
    m.conv_exact = r.conv == want_conv;
    out.metrics = m;

    auto finite = [](const std::vector<double>& v) {
        return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
    };
    std::ostringstream why;
    for (const std::string& v : r.violations) why << v << "; ";
    if (!finite(r.out) || !finite(r.recurrent) || !finite(r.conv))
        why << "NaN/Inf in the results (unwritten output or overflow); ";
    if (!nonzero_padding_rows.empty())
        why << nonzero_padding_rows.size() << " padding row(s) not written as zeros (first: row "
            << nonzero_padding_rows.front() << "); ";
    if (want_max > 0 && std::all_of(got_out.begin(), got_out.end(), [](double x) { return x == 0.0; }))
        why << "output is all zero (degenerate); ";
    if (!(m.out_rel_l2 <= tol.tolerance.out))
        why << "out rel L2 " << m.out_rel_l2 << " > " << tol.tolerance.out << "; ";
    if (!(m.state_rel_l2 <= tol.tolerance.state))
        why << "state rel L2 " << m.state_rel_l2 << " > " << tol.tolerance.state << "; ";
    if (tol.tolerance.conv_exact && !m.conv_exact) why << "conv state not exact; ";
    if (!(m.out_rel_l2 <= tol.tolerance.out) || !finite(got_out))
        why << "first outside tolerance: "
            << first_outside(p, ResultKind::out, got_live_rows, want_all, tol.tolerance.out) << "; ";
    if (!(m.state_rel_l2 <= tol.tolerance.state) || !finite(r.recurrent))
        why << "first outside tolerance: "
            << first_outside(p, ResultKind::recurrent_state, r.recurrent, want_rec, tol.tolerance.state, live) << "; ";
    if ((tol.tolerance.conv_exact && !m.conv_exact) || !finite(r.conv))
        why << "first outside tolerance: "
            << first_outside(p, ResultKind::conv_state, r.conv, want_conv,
                             tol.tolerance.conv_exact ? 0.0 : tol.tolerance.out, live)
            << "; ";
    out.message = why.str();
    out.status = out.message.empty() ? Status::pass : Status::fail;
}

}  // namespace gdn::conformance::detail

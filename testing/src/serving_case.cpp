// Serving-state cases: loading their golden fields and running them through a pool and a layer
// (state dtype, checkpoints, verify then commit), held against the file or the fp64 reference.
#include "serving_case.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include "gdn/detail/text.hpp"

#include "gdn/error.hpp"
#include "gdn/pool.hpp"
#include "scattered_pool.hpp"

namespace gdn {

namespace detail {

std::vector<int64_t> golden_integers(const std::string& origin, const SafetensorsTensor& t) {
    if (t.dtype != DType::i64 && t.dtype != DType::i32)
        throw Error(GDN_ERR_INVALID_ARGUMENT,
                    origin + ": tensor '" + t.name + "' must be I64 or I32, got " + dtype_name(t.dtype));
    std::vector<int64_t> v(std::size_t(t.numel()));
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (t.dtype == DType::i64) {
            std::memcpy(&v[i], t.bytes.data() + 8 * i, 8);
        } else {
            int32_t x;
            std::memcpy(&x, t.bytes.data() + 4 * i, 4);
            v[i] = x;
        }
    }
    return v;
}

void load_serving_fields(const SafetensorsFile& f, const std::filesystem::path& file, Case& c) {
    const std::string origin = file.string();
    auto bad = [&](const std::string& what) { return Error(GDN_ERR_INVALID_ARGUMENT, origin + ": " + what); };
    const reference::Problem& p = c.problem;
    const std::string& state = f.meta("state_dtype");
    if (state != "f32" && state != "bf16" && state != "f16")
        throw bad("metadata 'state_dtype' must be f32, bf16 or f16, got '" + state + "'");
    c.state_dtype = dtype_from_name(state);
    const int64_t B = p.num_requests();
    auto length = [&](int64_t r) { return p.cu_seqlens[std::size_t(r + 1)] - p.cu_seqlens[std::size_t(r)]; };
    // Counts and positions are read as integers, exactly; every shape is compared whole with the
    // one the case's dimensions give, so no size is derived from the file's numbers.
    auto shaped = [&](const char* name, const std::vector<int64_t>& shape, const char* dims) {
        const SafetensorsTensor& t = f.at(name);
        if (t.shape != shape)
            throw bad(std::string("tensor '") + name + "' must have shape " + dims + " = " + shape_to_string(shape) +
                      ", got " + shape_to_string(t.shape));
        return &t;
    };
    if (f.meta("mode") == "verify") {
        c.accepted = golden_integers(origin, *shaped("accepted", {B}, "[B]"));
        for (int64_t r = 0; r < B; ++r)
            if (c.accepted[std::size_t(r)] < 0 || c.accepted[std::size_t(r)] > length(r))
                throw bad("accepted[" + std::to_string(r) + "] must be in 0.." + std::to_string(length(r)) +
                          " (the request's length), got " + std::to_string(c.accepted[std::size_t(r)]));
    }
    if (f.has("checkpoint_pos")) {
        const SafetensorsTensor& pos = f.at("checkpoint_pos");
        if (pos.shape.size() != 1)
            throw bad("tensor 'checkpoint_pos' must have shape [N], got " + shape_to_string(pos.shape));
        const int64_t N = pos.shape[0];
        c.checkpoint_cu = golden_integers(origin, *shaped("checkpoint_cu", {B + 1}, "[B+1]"));
        c.checkpoint_pos = golden_integers(origin, pos);
        if (c.checkpoint_cu.front() != 0 || c.checkpoint_cu.back() != N)
            throw bad("checkpoint_cu must run from 0 to the number of checkpoints (" + std::to_string(N) + "), got " +
                      std::to_string(c.checkpoint_cu.front()) + " .. " + std::to_string(c.checkpoint_cu.back()));
        for (int64_t r = 0; r < B; ++r)
            if (c.checkpoint_cu[std::size_t(r + 1)] < c.checkpoint_cu[std::size_t(r)])
                throw bad("checkpoint_cu must be non-decreasing, but entry " + std::to_string(r + 1) + " (" +
                          std::to_string(c.checkpoint_cu[std::size_t(r + 1)]) + ") < entry " + std::to_string(r) +
                          " (" + std::to_string(c.checkpoint_cu[std::size_t(r)]) + ")");
        for (int64_t r = 0; r < B; ++r) {
            int64_t last = 0;
            for (int64_t i = c.checkpoint_cu[std::size_t(r)]; i < c.checkpoint_cu[std::size_t(r + 1)]; ++i) {
                const int64_t at = c.checkpoint_pos[std::size_t(i)];
                if (at <= last || at > length(r))
                    throw bad("checkpoint_pos[" + std::to_string(i) + "] (request " + std::to_string(r) +
                              ") must be above the request's previous checkpoint (" + std::to_string(last) +
                              ") and at most its length (" + std::to_string(length(r)) + "), got " +
                              std::to_string(at));
                last = at;
            }
        }
        const std::vector<int64_t> rec{N, p.num_v_heads, p.head_v_dim, p.head_k_dim},
            conv{N, p.conv_dim(), p.conv_kernel - 1};
        Case::ExpectedCheckpoints e{shaped("checkpoint_recurrent", rec, "[N, HV, Dv, Dk]")->to_double(),
                                    shaped("checkpoint_conv", conv, "[N, conv_dim, Kc-1]")->to_double()};
        c.expected_checkpoints = std::move(e);
    }
}

}  // namespace detail

std::pair<std::vector<double>, std::vector<double>> reference_prefix_state(const reference::Problem& p, int64_t r,
                                                                           int64_t n) {
    const int64_t C = p.conv_dim(), HV = p.num_v_heads, s0 = p.cu_seqlens[std::size_t(r)];
    const int64_t rec_n = HV * p.head_v_dim * p.head_k_dim, conv_n = C * (p.conv_kernel - 1);
    reference::Problem q;
    q.num_k_heads = p.num_k_heads, q.num_v_heads = p.num_v_heads, q.head_k_dim = p.head_k_dim;
    q.head_v_dim = p.head_v_dim, q.conv_kernel = p.conv_kernel;
    q.conv_weight = p.conv_weight, q.A_log = p.A_log, q.dt_bias = p.dt_bias;
    q.cu_seqlens = {0, n};
    auto rows = [&](const std::vector<double>& v, int64_t width) {
        return std::vector<double>(v.begin() + std::ptrdiff_t(s0 * width),
                                   v.begin() + std::ptrdiff_t((s0 + n) * width));
    };
    q.mixed_qkv = rows(p.mixed_qkv, C);
    q.a = rows(p.a, HV);
    q.b = rows(p.b, HV);
    q.conv_state.assign(p.conv_state.begin() + std::ptrdiff_t(r * conv_n),
                        p.conv_state.begin() + std::ptrdiff_t((r + 1) * conv_n));
    q.recurrent_state.assign(p.recurrent_state.begin() + std::ptrdiff_t(r * rec_n),
                             p.recurrent_state.begin() + std::ptrdiff_t((r + 1) * rec_n));
    reference::forward(q);
    return {std::move(q.recurrent_state), std::move(q.conv_state)};
}

CaseResult run_serving_case(const Backend& backend, const Case& c, const Tolerance& tol_in, const RunOptions& opt) {
    const reference::Problem& p = c.problem;
    const DType act = c.activation_dtype, st = c.state_dtype;
    const int64_t T = p.num_tokens(), B = p.num_requests(), C = p.conv_dim(), Kc = p.conv_kernel;
    const int64_t HV = p.num_v_heads, Dv = p.head_v_dim;
    const std::size_t conv_n = std::size_t(C * (Kc - 1));
    const int64_t N = int64_t(c.checkpoint_pos.size());
    const bool commit = !c.accepted.empty();
    Tolerance tol = tol_in;
    if (st != DType::f32) tol.state = std::max(tol.state, 5e-3);

    // What should come out: the file's values, else the reference (a commit's states are those
    // after the accepted prefix; a checkpoint's, after its prefix).
    Case::Expected want;
    if (c.expected) {
        want = *c.expected;
    } else {
        reference::Problem q = p;
        want.out = reference::forward(q);
        want.conv_state = std::move(q.conv_state);
        want.recurrent_state = std::move(q.recurrent_state);
        if (commit) {
            want.conv_state.clear();
            want.recurrent_state.clear();
            for (int64_t r = 0; r < B; ++r) {
                auto [rec, conv] = reference_prefix_state(p, r, c.accepted[std::size_t(r)]);
                want.recurrent_state.insert(want.recurrent_state.end(), rec.begin(), rec.end());
                want.conv_state.insert(want.conv_state.end(), conv.begin(), conv.end());
            }
        }
    }
    Case::ExpectedCheckpoints want_ck;
    if (N > 0) {
        if (c.expected_checkpoints) {
            want_ck = *c.expected_checkpoints;
        } else {
            for (int64_t r = 0; r < B; ++r)
                for (int64_t i = c.checkpoint_cu[std::size_t(r)]; i < c.checkpoint_cu[std::size_t(r + 1)]; ++i) {
                    auto [rec, conv] = reference_prefix_state(p, r, c.checkpoint_pos[std::size_t(i)]);
                    want_ck.recurrent.insert(want_ck.recurrent.end(), rec.begin(), rec.end());
                    want_ck.conv.insert(want_ck.conv.end(), conv.begin(), conv.end());
                }
        }
    }

    // Two layers, layer 1 used; requests from the top down in every other slot, checkpoints from
    // slot 0 up; everything else filled with a known pattern so that a stray write shows.
    PoolConfig pc = pool_config(c, 2 * B + N + 3, 2);
    pc.state_dtype = st;
    GDNPool pool(backend, pc);
    std::vector<int64_t> slots(static_cast<std::size_t>(B)), ck_slots(static_cast<std::size_t>(N));
    for (int64_t r = 0; r < B; ++r) slots[std::size_t(r)] = pc.num_slots - 1 - 2 * r;
    for (int64_t i = 0; i < N; ++i) ck_slots[std::size_t(i)] = i;
    detail::fill_scattered_pool(pool, p, act, slots);
    const std::vector<uint8_t> before = pool.snapshot();

    DeviceLayer layer(backend, p, act, 1);
    Tensor qkv = to_device(backend, act, p.mixed_qkv, {T, C});
    Tensor a = to_device(backend, act, p.a, {T, HV});
    Tensor b = to_device(backend, act, p.b, {T, HV});
    Tensor out(backend, act, {T, HV * Dv});
    CaseResult res;
    {
        std::vector<int64_t> lens(static_cast<std::size_t>(B));
        for (int64_t r = 0; r < B; ++r)
            lens[std::size_t(r)] = p.cu_seqlens[std::size_t(r + 1)] - p.cu_seqlens[std::size_t(r)];
        ForwardBatch batch = commit ? ForwardBatch::verify(pool, slots, lens)
                                    : ForwardBatch::from_cu_seqlens(c.mode, pool, slots, p.cu_seqlens);
        if (N > 0) {
            std::vector<std::vector<Checkpoint>> per(static_cast<std::size_t>(B));
            for (int64_t r = 0; r < B; ++r)
                for (int64_t i = c.checkpoint_cu[std::size_t(r)]; i < c.checkpoint_cu[std::size_t(r + 1)]; ++i)
                    per[std::size_t(r)].push_back({c.checkpoint_pos[std::size_t(i)], ck_slots[std::size_t(i)]});
            batch.set_checkpoints(per);
        }
        if (opt.stream) batch.set_stream(opt.stream);
        batch.stream().fill(out.data(), 0xFF, out.bytes());  // NaN: an unwritten element fails
        layer.layer().forward(batch, qkv.view(), a.view(), b.view(), out.view());
        batch.stream().synchronize();
        if (commit) {
            res.verify_untouched = pool.snapshot() == before;
            ForwardBatch done = ForwardBatch::commit(pool, slots, lens, c.accepted);
            if (opt.stream) done.set_stream(opt.stream);
            layer.layer().forward(done, qkv.view(), a.view(), b.view());
            done.stream().synchronize();
        }
    }

    const std::vector<double> got_out = to_host_double(out);
    std::vector<double> got_rec, got_conv, got_ck_rec, got_ck_conv;
    auto read = [&](int64_t slot, std::vector<double>& rec_out, std::vector<double>& conv_out) {
        const auto rec = pool.read_recurrent(1, slot);
        rec_out.insert(rec_out.end(), rec.begin(), rec.end());
        const auto conv = pool.read_conv_bytes(1, slot);
        for (std::size_t i = 0; i < conv_n; ++i) conv_out.push_back(load_as_double(conv.data(), act, i));
    };
    for (int64_t s : slots) read(s, got_rec, got_conv);
    for (int64_t s : ck_slots) read(s, got_ck_rec, got_ck_conv);

    auto finite = [](const std::vector<double>& v) {
        return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
    };
    auto rounded = [](DType t, std::vector<double> v) {
        for (double& x : v) x = round_to(t, x);
        return v;
    };
    res.finite = finite(got_out) && finite(got_rec) && finite(got_conv) && finite(got_ck_rec) && finite(got_ck_conv);
    res.out_rel_l2 = reference::relative_l2(got_out, want.out);
    res.out_max_abs = reference::max_abs_diff(got_out, want.out);
    double want_max = 0;
    for (double x : want.out) want_max = std::max(want_max, std::abs(x));
    res.out_max_rel = want_max > 0 ? res.out_max_abs / want_max : res.out_max_abs;
    res.degenerate = want_max > 0 && std::all_of(got_out.begin(), got_out.end(), [](double x) { return x == 0.0; });
    res.state_rel_l2 = reference::relative_l2(got_rec, want.recurrent_state);
    res.conv_exact = got_conv == rounded(act, want.conv_state);
    if (N > 0) {
        res.checkpoint_rel_l2 = reference::relative_l2(got_ck_rec, want_ck.recurrent);
        res.checkpoint_conv_exact = got_ck_conv == rounded(act, want_ck.conv);
    }
    if (st != DType::f32) {
        std::size_t same = 0, n = 0;
        const std::vector<double> want_rounded = rounded(st, want.recurrent_state);
        for (std::size_t i = 0; i < got_rec.size() && i < want_rounded.size(); ++i, ++n)
            same += got_rec[i] == want_rounded[i];
        res.state_rounding_match = n ? double(same) / double(n) : 1.0;
    }

    // Everything outside the used slots of layer 1 must be byte-identical.
    std::vector<int64_t> named = slots;
    named.insert(named.end(), ck_slots.begin(), ck_slots.end());
    res.others_untouched = detail::untouched_outside(pool, before, pool.snapshot(), named);

    detail::Text why;
    if (!res.finite) why << "NaN/Inf in the results (unwritten output or overflow); ";
    if (res.degenerate) why << "output is all zero (degenerate); ";
    if (!(res.out_rel_l2 <= tol.out)) why << "out rel L2 " << res.out_rel_l2 << " > " << tol.out << "; ";
    if (!res.verify_untouched) why << "verify changed the pool (it must leave every state bit-identical); ";
    if (!(res.state_rel_l2 <= tol.state))
        why << "state rel L2 " << res.state_rel_l2 << " > " << tol.state << (commit ? " after commit" : "") << "; ";
    if (tol.conv_exact && !res.conv_exact) why << "conv state not exact" << (commit ? " after commit" : "") << "; ";
    if (!(res.checkpoint_rel_l2 <= tol.state))
        why << "checkpoint state rel L2 " << res.checkpoint_rel_l2 << " > " << tol.state << "; ";
    if (!res.checkpoint_conv_exact) why << "checkpoint conv state not exact; ";
    // f32 compute differs from the fp64 reference far below a 16-bit ulp, so nearly every stored
    // element equals the reference rounded to nearest even; truncation matches about half.
    if (res.state_rounding_match < 0.9)
        why << "state not rounded to nearest even: " << 100 * res.state_rounding_match << "% of stored "
            << dtype_name(st) << " elements equal the expected state so rounded (need >= 90%); ";
    if (!res.others_untouched) why << "wrote outside its slots (other slots, padding slot or another layer); ";
    res.message = why.str();
    res.passed = res.message.empty();
    return res;
}

}  // namespace gdn

#include "gdn/harness.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include "gdn/detail/text.hpp"

#include "gdn/error.hpp"
#include "gdn/pool.hpp"
#include "gdn/safetensors.hpp"
#include "scattered_pool.hpp"
#include "serving_case.hpp"

namespace gdn {

namespace {

std::vector<double> rounded(DType t, std::vector<double> v) {
    for (double& x : v) x = round_to(t, x);
    return v;
}

bool all_finite(const std::vector<double>& v) {
    for (double x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

}  // namespace

// ---- cases ------------------------------------------------------------------------------------

Case load_golden(const std::filesystem::path& file) { return load_golden(SafetensorsFile::read(file), file.string()); }

Case load_golden(const SafetensorsFile& f, const std::string& origin) {
    auto bad = [&](const std::string& what) -> Error { return Error(GDN_ERR_INVALID_ARGUMENT, origin + ": " + what); };
    Case c;
    c.name = std::filesystem::path(origin).filename().string();
    reference::Problem& p = c.problem;
    // The geometry, as the layer takes it (RadixLinearAttention checks the same ranges).
    auto dim = [&](const char* key, int lo, int hi) {
        const int v = f.meta_int(key);
        if (v < lo || v > hi)
            throw bad(std::string("metadata '") + key + "' must be " +
                      (hi == std::numeric_limits<int>::max() ? ">= " + std::to_string(lo)
                                                             : "in " + std::to_string(lo) + ".." + std::to_string(hi)) +
                      ", got " + std::to_string(v));
        return v;
    };
    const int big = std::numeric_limits<int>::max();
    p.num_k_heads = dim("num_k_heads", 1, big);
    p.num_v_heads = dim("num_v_heads", 1, big);
    p.head_k_dim = dim("head_k_dim", 1, big);
    p.head_v_dim = dim("head_v_dim", 1, big);
    p.conv_kernel = dim("conv_kernel", 2, 31);
    if (p.num_v_heads % p.num_k_heads != 0)
        throw bad("metadata 'num_v_heads' must be a multiple of num_k_heads (" + std::to_string(p.num_k_heads) +
                  "), got " + std::to_string(p.num_v_heads));
    const std::string& act = f.meta("activation_dtype");
    if (act != "f32" && act != "bf16" && act != "f16")
        throw bad("metadata 'activation_dtype' must be f32, bf16 or f16, got '" + act + "'");
    c.activation_dtype = dtype_from_name(act);
    const std::string mode = f.meta("mode");
    if (mode == "extend")
        c.mode = ForwardMode::extend;
    else if (mode == "decode")
        c.mode = ForwardMode::decode;
    else if (mode == "mixed")
        c.mode = ForwardMode::mixed;
    else if (mode == "verify" && f.metadata().count("state_dtype"))
        c.mode = ForwardMode::extend;  // serving file
    else
        throw bad("metadata 'mode' must be extend, decode or mixed, got '" + mode + "'");

    // The request lengths, checked before any size is derived from them.
    const SafetensorsTensor& cu = f.at("cu_seqlens");
    if (cu.shape.size() != 1 || cu.shape[0] < 1)
        throw bad("tensor 'cu_seqlens' must have shape [B+1] with B >= 0, got " + shape_to_string(cu.shape));
    p.cu_seqlens = detail::golden_integers(origin, cu);
    if (p.cu_seqlens.front() != 0) throw bad("cu_seqlens must start at 0, got " + std::to_string(p.cu_seqlens.front()));
    for (std::size_t r = 1; r < p.cu_seqlens.size(); ++r)
        if (p.cu_seqlens[r] < p.cu_seqlens[r - 1])
            throw bad("cu_seqlens must be non-decreasing, but entry " + std::to_string(r) + " (" +
                      std::to_string(p.cu_seqlens[r]) + ") < entry " + std::to_string(r - 1) + " (" +
                      std::to_string(p.cu_seqlens[r - 1]) + ")");

    // Every size below is a product of values from the file: computed with overflow checks, then
    // compared with the shape of the tensor actually read, whose bytes the file holds. A size
    // that does not fit cannot match any tensor of the file: it is refused, never wrapped.
    auto mul = [&](const char* what, int64_t x, int64_t y) {
        int64_t r;
        if (__builtin_mul_overflow(x, y, &r)) throw bad(std::string(what) + " overflows int64");
        return r;
    };
    int64_t conv_dim;
    if (__builtin_add_overflow(mul("2*num_k_heads*head_k_dim", 2 * int64_t(p.num_k_heads), p.head_k_dim),
                               mul("num_v_heads*head_v_dim", p.num_v_heads, p.head_v_dim), &conv_dim))
        throw bad("conv_dim = 2*num_k_heads*head_k_dim + num_v_heads*head_v_dim overflows int64");
    const int64_t T = p.num_tokens(), B = p.num_requests(), HV = p.num_v_heads, Kc = p.conv_kernel;
    const int64_t width = mul("num_v_heads*head_v_dim", HV, p.head_v_dim);
    const std::vector<int64_t> tokens_by_qkv{T, conv_dim}, tokens_by_heads{T, HV}, tokens_by_out{T, width},
        conv_state{B, conv_dim, Kc - 1}, recurrent_state{B, HV, p.head_v_dim, p.head_k_dim};
    auto read = [&](const char* name, const std::vector<int64_t>& shape) {
        const SafetensorsTensor& t = f.at(name);
        if (t.shape != shape)
            throw bad(std::string("tensor '") + name + "' has shape " + shape_to_string(t.shape) + ", expected " +
                      shape_to_string(shape));
        return t.to_double();
    };
    p.mixed_qkv = read("mixed_qkv", tokens_by_qkv);
    p.a = read("a", tokens_by_heads);
    p.b = read("b", tokens_by_heads);
    p.conv_weight = read("conv_weight", {conv_dim, Kc});
    p.A_log = read("A_log", {HV});
    p.dt_bias = read("dt_bias", {HV});
    p.conv_state = read("conv_state_in", conv_state);
    p.recurrent_state = read("recurrent_state_in", recurrent_state);
    c.expected = Case::Expected{read("out", tokens_by_out), read("conv_state_out", conv_state),
                                read("recurrent_state_out", recurrent_state)};
    if (f.metadata().count("state_dtype")) detail::load_serving_fields(f, origin, c);
    return c;
}

Case random_case(const RandomCaseSpec& s, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    Case c;
    c.activation_dtype = s.activation_dtype;
    c.mode = s.mode;
    reference::Problem& p = c.problem;
    p.num_k_heads = s.num_k_heads;
    p.num_v_heads = s.num_v_heads;
    p.head_k_dim = s.head_k_dim;
    p.head_v_dim = s.head_v_dim;
    p.conv_kernel = s.conv_kernel;
    p.cu_seqlens = {0};
    for (int64_t len : s.lengths)
        p.cu_seqlens.push_back(p.cu_seqlens.back() + (s.mode == ForwardMode::decode ? 1 : len));
    const int64_t T = p.num_tokens(), B = p.num_requests(), C = p.conv_dim();
    const int HV = s.num_v_heads;
    auto fill = [&](std::vector<double>& v, std::size_t n, double scale, double shift = 0.0) {
        v.resize(n);
        for (double& x : v) x = round_to(s.activation_dtype, shift + scale * normal(rng));
    };
    fill(p.mixed_qkv, std::size_t(T * C), 1.0);
    fill(p.a, std::size_t(T * HV), 1.0, s.strong_decay ? 3.0 : 0.0);
    fill(p.b, std::size_t(T * HV), 1.0);
    fill(p.conv_weight, std::size_t(C * s.conv_kernel), 0.4);
    fill(p.conv_state, std::size_t(B * C * (s.conv_kernel - 1)), 1.0);
    p.A_log.resize(std::size_t(HV));
    p.dt_bias.resize(std::size_t(HV));
    for (int h = 0; h < HV; ++h) {
        // Typical decays exp(g) in (0.5, 1); strong decay gives g around -10 per token.
        p.A_log[std::size_t(h)] =
            float(std::log(s.strong_decay ? 2.0 + 2.0 * uniform(rng) : 0.05 + 0.5 * uniform(rng)));
        p.dt_bias[std::size_t(h)] = float(0.1 * normal(rng));
    }
    using Extreme = RandomCaseSpec::ExtremeDecay;
    if (s.extreme_decay != Extreme::none)
        for (int h = 0; h < HV; h += 2) {
            if (s.extreme_decay == Extreme::huge_softplus)
                p.dt_bias[std::size_t(h)] = 1e30;
            else
                p.A_log[std::size_t(h)] = 89.0;
            if (s.extreme_decay == Extreme::rate_times_tiny)
                for (int64_t t = 0; t < T; ++t) p.a[std::size_t(t * HV + h)] = -200.0;  // exact in bf16 and f16
        }
    p.recurrent_state.resize(std::size_t(B * HV * s.head_v_dim * s.head_k_dim));
    for (double& x : p.recurrent_state) x = float(s.state_scale * normal(rng));
    detail::Text name;
    name << "random seed=" << seed;
    c.name = name.str();
    return c;
}

std::string describe(const Case& c) {
    const auto& p = c.problem;
    detail::Text o;
    o << "H=" << p.num_k_heads << " HV=" << p.num_v_heads << " Dk=" << p.head_k_dim << " Dv=" << p.head_v_dim
      << " Kc=" << p.conv_kernel << " " << dtype_name(c.activation_dtype) << " " << mode_name(c.mode) << " lens=[";
    for (int64_t r = 0; r < p.num_requests(); ++r)
        o << (r ? "," : "") << p.cu_seqlens[std::size_t(r + 1)] - p.cu_seqlens[std::size_t(r)];
    o << "]";
    return o.str();
}

Tolerance default_tolerance(DType t) {
    Tolerance tol;
    if (t != DType::f32) tol.out = tol.state = 5e-3;
    return tol;
}

// ---- building blocks ---------------------------------------------------------------------------

PoolConfig pool_config(const Case& c, int64_t num_slots, int num_layers) {
    PoolConfig pc;
    pc.num_layers = num_layers;
    pc.num_slots = num_slots;
    pc.num_k_heads = c.problem.num_k_heads;
    pc.num_v_heads = c.problem.num_v_heads;
    pc.head_k_dim = c.problem.head_k_dim;
    pc.head_v_dim = c.problem.head_v_dim;
    pc.conv_kernel = c.problem.conv_kernel;
    pc.activation_dtype = c.activation_dtype;
    pc.engine_managed_slots = true;  // the tests place states in slots of their choosing
    return pc;
}

Tensor to_device(const Backend& backend, DType t, const std::vector<double>& host, std::vector<int64_t> shape) {
    Tensor d(backend, t, std::move(shape));
    if (std::size_t(d.numel()) != host.size())
        invalid_argument("host data", std::to_string(d.numel()) + " values, got " + std::to_string(host.size()));
    std::vector<uint8_t> bytes(d.bytes());
    for (std::size_t i = 0; i < host.size(); ++i) store_from_double(bytes.data(), t, i, host[i]);
    d.upload(bytes.data());
    return d;
}

std::vector<double> to_host_double(const Tensor& t) {
    std::vector<uint8_t> bytes(t.bytes());
    t.download(bytes.data());
    std::vector<double> v(static_cast<std::size_t>(t.numel()));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = load_as_double(bytes.data(), t.dtype(), i);
    return v;
}

DeviceLayer::DeviceLayer(const Backend& backend, const reference::Problem& p, DType act, int gdn_layer_idx)
    : conv_weight_(to_device(backend, act, p.conv_weight, {p.conv_dim(), p.conv_kernel})),
      A_log_(to_device(backend, DType::f32, p.A_log, {p.num_v_heads})),
      dt_bias_(to_device(backend, DType::f32, p.dt_bias, {p.num_v_heads})) {
    layer_ = std::make_unique<RadixLinearAttention>(0, gdn_layer_idx, p.num_k_heads, p.num_v_heads, p.head_k_dim,
                                                    p.head_v_dim, conv_weight_.view(), A_log_.view(), dt_bias_.view());
}

// ---- where results differ ----------------------------------------------------------------------

namespace {

// "q head 1 column 3" for a channel of mixed_qkv / the conv state.
std::string channel_name(const reference::Problem& p, int64_t ch) {
    const int64_t qk = int64_t(p.num_k_heads) * p.head_k_dim;
    detail::Text o;
    o << "channel " << ch << " (";
    if (ch < 2 * qk) {
        const int64_t i = ch % qk;
        o << (ch < qk ? "q" : "k") << " head " << i / p.head_k_dim << " column " << i % p.head_k_dim;
    } else {
        const int64_t i = ch - 2 * qk;
        o << "v head " << i / p.head_v_dim << " column " << i % p.head_v_dim;
    }
    o << ")";
    return o.str();
}

std::string element_name(const reference::Problem& p, ResultKind kind, std::size_t index,
                         const std::vector<int64_t>& requests) {
    detail::Text o;
    const int64_t i = int64_t(index);
    auto request_of_block = [&](int64_t block) {
        return requests.empty() || block >= int64_t(requests.size()) ? block : requests[std::size_t(block)];
    };
    switch (kind) {
        case ResultKind::out: {
            const int64_t W = int64_t(p.num_v_heads) * p.head_v_dim, row = i / W, col = i % W;
            int64_t r = 0;
            while (r + 1 < p.num_requests() && p.cu_seqlens[std::size_t(r + 1)] <= row) ++r;
            o << "out request " << r << " token " << row - p.cu_seqlens[std::size_t(r)] << " (row " << row << ") head "
              << col / p.head_v_dim << " column " << col % p.head_v_dim;
            break;
        }
        case ResultKind::recurrent_state: {
            const int64_t per = int64_t(p.num_v_heads) * p.head_v_dim * p.head_k_dim, j = i % per;
            o << "recurrent state request " << request_of_block(i / per) << " head "
              << j / (int64_t(p.head_v_dim) * p.head_k_dim) << " row " << (j / p.head_k_dim) % p.head_v_dim
              << " column " << j % p.head_k_dim;
            break;
        }
        case ResultKind::conv_state: {
            const int64_t taps = p.conv_kernel - 1, per = p.conv_dim() * taps, j = i % per;
            o << "conv state request " << request_of_block(i / per) << " " << channel_name(p, j / taps) << " tap "
              << j % taps;
            break;
        }
    }
    return o.str();
}

}  // namespace

std::string first_outside(const reference::Problem& p, ResultKind kind, const std::vector<double>& got,
                          const std::vector<double>& want, double tol, const std::vector<int64_t>& requests) {
    const std::size_t n = std::min(got.size(), want.size());
    double want_max = 0;
    for (double x : want) want_max = std::max(want_max, std::abs(x));
    const double limit = tol * want_max;
    std::size_t largest = n;
    double largest_diff = 0;
    auto describe_at = [&](const char* lead, std::size_t i) {
        detail::Text o;
        o << lead << element_name(p, kind, i, requests) << ": got " << got[i] << ", want " << want[i];
        return o.str();
    };
    for (std::size_t i = 0; i < n; ++i) {
        const double d = std::abs(got[i] - want[i]);
        if (!std::isfinite(got[i]) || d > limit || (tol == 0 && got[i] != want[i])) return describe_at("", i);
        if (d > largest_diff) {
            largest_diff = d;
            largest = i;
        }
    }
    if (got.size() != want.size())
        return "sizes differ: got " + std::to_string(got.size()) + " values, want " + std::to_string(want.size());
    return largest < n ? describe_at("largest difference: ", largest) : std::string();
}

// ---- running a case ------------------------------------------------------------------------------

CaseResult run_case(const Backend& backend, const Case& c, const Tolerance& tol, const RunOptions& opt) {
    if (c.uses_serving_features()) return run_serving_case(backend, c, tol, opt);
    const reference::Problem& p = c.problem;
    const DType act = c.activation_dtype;
    const int64_t T = p.num_tokens(), B = p.num_requests(), C = p.conv_dim(), Kc = p.conv_kernel;
    const int64_t HV = p.num_v_heads, Dv = p.head_v_dim;
    const std::size_t conv_n = std::size_t(C * (Kc - 1));

    Case::Expected want;
    if (c.expected) {
        want = *c.expected;
    } else {
        reference::Problem q = p;
        want.out = reference::forward(q);
        want.conv_state = std::move(q.conv_state);
        want.recurrent_state = std::move(q.recurrent_state);
    }

    // Two layers, layer 1 used; requests in scattered slots from the top down, the rest of the
    // pool filled with a known pattern so that a stray write shows.
    const PoolConfig pc = pool_config(c, 2 * B + 3, 2);
    GDNPool pool(backend, pc);
    std::vector<int64_t> slots(static_cast<std::size_t>(B));
    for (int64_t r = 0; r < B; ++r) slots[std::size_t(r)] = pc.num_slots - 1 - 2 * r;

    detail::fill_scattered_pool(pool, p, act, slots);
    const std::vector<uint8_t> before = pool.snapshot();

    DeviceLayer layer(backend, p, act, 1);
    Tensor qkv = to_device(backend, act, p.mixed_qkv, {T, C});
    Tensor a = to_device(backend, act, p.a, {T, HV});
    Tensor b = to_device(backend, act, p.b, {T, HV});
    Tensor out(backend, act, {T, HV * Dv});
    ForwardBatch batch = ForwardBatch::from_cu_seqlens(c.mode, pool, slots, p.cu_seqlens);
    if (opt.stream) batch.set_stream(opt.stream);
    // Poison: 0xFF bytes are NaN in f32, bf16 and f16, so an unwritten element fails.
    batch.stream().fill(out.data(), 0xFF, out.bytes());
    layer.layer().forward(batch, qkv.view(), a.view(), b.view(), out.view());
    batch.stream().synchronize();

    CaseResult res;
    const std::vector<double> got_out = to_host_double(out);
    std::vector<double> got_rec, got_conv;
    for (int64_t r = 0; r < B; ++r) {
        const auto rec = pool.read_recurrent(1, slots[std::size_t(r)]);
        got_rec.insert(got_rec.end(), rec.begin(), rec.end());
        const auto conv = pool.read_conv_bytes(1, slots[std::size_t(r)]);
        for (std::size_t i = 0; i < conv_n; ++i) got_conv.push_back(load_as_double(conv.data(), act, i));
    }
    res.finite = all_finite(got_out) && all_finite(got_rec) && all_finite(got_conv);
    res.out_rel_l2 = reference::relative_l2(got_out, want.out);
    res.out_max_abs = reference::max_abs_diff(got_out, want.out);
    double want_max = 0;
    for (double x : want.out) want_max = std::max(want_max, std::abs(x));
    res.out_max_rel = want_max > 0 ? res.out_max_abs / want_max : res.out_max_abs;
    res.degenerate = want_max > 0 && std::all_of(got_out.begin(), got_out.end(), [](double x) { return x == 0.0; });
    res.state_rel_l2 = reference::relative_l2(got_rec, want.recurrent_state);
    res.conv_exact = got_conv == rounded(act, want.conv_state);

    // Everything outside the used slots of layer 1 must be byte-identical.
    res.others_untouched = detail::untouched_outside(pool, before, pool.snapshot(), slots);

    detail::Text why;
    const bool out_bad = !(res.out_rel_l2 <= tol.out) || !all_finite(got_out);
    const bool state_bad = !(res.state_rel_l2 <= tol.state) || !all_finite(got_rec);
    const bool conv_bad = (tol.conv_exact && !res.conv_exact) || !all_finite(got_conv);
    if (!res.finite) why << "NaN/Inf in the results (unwritten output or overflow); ";
    if (res.degenerate) why << "output is all zero (degenerate); ";
    if (!(res.out_rel_l2 <= tol.out)) why << "out rel L2 " << res.out_rel_l2 << " > " << tol.out << "; ";
    if (!(res.state_rel_l2 <= tol.state)) why << "state rel L2 " << res.state_rel_l2 << " > " << tol.state << "; ";
    if (tol.conv_exact && !res.conv_exact) why << "conv state not exact; ";
    if (out_bad)
        why << "first outside tolerance: " << first_outside(p, ResultKind::out, got_out, want.out, tol.out) << "; ";
    if (state_bad)
        why << "first outside tolerance: "
            << first_outside(p, ResultKind::recurrent_state, got_rec, want.recurrent_state, tol.state) << "; ";
    if (conv_bad)
        why << "first outside tolerance: "
            << first_outside(p, ResultKind::conv_state, got_conv, rounded(act, want.conv_state),
                             tol.conv_exact ? 0.0 : tol.out)
            << "; ";
    if (!res.others_untouched) why << "wrote outside its slots (other slots, padding slot or another layer); ";
    res.message = why.str();
    res.passed = res.message.empty();
    return res;
}

}  // namespace gdn

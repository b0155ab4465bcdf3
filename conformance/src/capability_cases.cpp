// Capability honesty. A backend's declaration (gdn_capabilities) is a promise in both
// directions: every dtype, mode, conv width, GVA ratio and the ends of the head-dim ranges it
// declares must run and match the reference (through the layer, as an engine calls it); a call
// just outside the declaration, made straight to the plugin (the host would refuse it first),
// must be refused with nothing written, or else computed correctly.
#include <tuple>
#include <utility>

#include "cases.hpp"
#include "direct_call.hpp"
#include "gdn/error.hpp"

namespace gdn::conformance::detail {

namespace {

constexpr int kLargestProbedDim = 65536;  // ranges declared beyond this are probed here

const char* const kDtypeNames[] = {"f32", "bf16", "f16"};        // by activation dtype code
const char* const kModeNames[] = {"extend", "decode", "mixed"};  // by mode code
static_assert(sizeof(kDtypeNames) / sizeof(kDtypeNames[0]) == kActivationDTypeCount);
static_assert(sizeof(kModeNames) / sizeof(kModeNames[0]) == kForwardModeCount);

RandomCaseSpec preferred_base() {
    RandomCaseSpec s;
    s.num_k_heads = 2;
    s.num_v_heads = 4;
    s.head_k_dim = s.head_v_dim = 32;
    s.conv_kernel = 4;
    s.activation_dtype = DType::f32;
    s.mode = ForwardMode::extend;
    return s;
}

// Requests of a probe: a little of everything the mode allows.
void set_lengths(RandomCaseSpec& s) {
    switch (s.mode) {
        case ForwardMode::extend: s.lengths = {5, 0, 40}; break;
        case ForwardMode::decode: s.lengths = {1, 1, 1}; break;
        case ForwardMode::mixed: s.lengths = {1, 30, 0, 1}; break;
    }
}

uint64_t probe_seed(const std::string& id) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a: a seed per id, stable across runs
    for (char ch : id) h = (h ^ uint8_t(ch)) * 1099511628211ull;
    return h;
}

// A case through the layer that must run and match.
CaseDef supported_probe(const std::string& id, const std::string& what, RandomCaseSpec spec) {
    CaseDef d;
    d.id = id;
    d.category = "capability";
    d.description = "declared " + what + ": must run and match";
    d.run = [spec, id, what](const Context& ctx, CaseOutcome& out) {
        const Case c = random_case(spec, probe_seed(id));
        run_numeric(ctx, c, out);
        out.description = "declared " + what + ": " + out.description;
        if (out.status == Status::unsupported) {  // it declared this: refusing it is dishonest
            out.status = Status::fail;
            out.message = "declared, yet outside its capabilities by this suite's reading: " + out.message;
        }
    };
    return d;
}

// A call just outside the declaration, straight to the plugin. A refusal must write nothing and,
// where `field` is given, name it: the argument out of range, as every refusal of gdn does.
CaseDef refusal_probe(const std::string& id, const std::string& what, RandomCaseSpec spec, std::string field = {}) {
    CaseDef d;
    d.id = id;
    d.category = "capability";
    d.description = what + " (not declared): refused with nothing written, or computed correctly";
    d.run = [spec, id, what, field](const Context& ctx, CaseOutcome& out) {
        const Case c = random_case(spec, probe_seed(id));
        out.description = "undeclared " + what + ": " + describe(c);
        const DirectResult r = direct_call(ctx.backend, c, {});
        if (r.status == GDN_OK) {
            judge_direct(ctx, c, {}, r, out);
            out.message = out.status == Status::pass ? "accepted although not declared, and computed correctly"
                                                     : "accepted although not declared, and: " + out.message;
            return;
        }
        std::string wrote;
        for (const auto& v : r.violations) wrote += v + "; ";
        if (!r.out_unchanged) wrote += "out written; ";
        if (!r.live_states_unchanged) wrote += "the request's state written; ";
        const bool named = field.empty() || r.message.find(field) != std::string::npos;
        out.status = wrote.empty() && named ? Status::pass : Status::fail;
        out.message = std::string("refused (") + gdn::status_name(r.status) + "): " + r.message +
                      (named ? "" : " — but the message does not name " + field) +
                      (wrote.empty() ? "" : " — but wrote: " + wrote);
    };
    return d;
}

// The declaration itself: well-formed and not empty.
CaseDef declaration_check() {
    CaseDef d;
    d.id = "capability-declared";
    d.category = "capability";
    d.description = "the declared capabilities are well-formed and not empty";
    d.run = [](const Context& ctx, CaseOutcome& out) {
        const gdn_capabilities& c = ctx.caps();
        std::string why;
        if (c.activation_dtypes & ~0x7u) why += "declares activation dtypes other than f32, bf16, f16; ";
        if (c.modes & ~0x7u) why += "declares modes other than extend, decode, mixed; ";
        if (c.conv_kernels & 0x3u) why += "declares conv width 0 or 1 (a conv state needs width >= 2); ";
        if (c.gva_ratios & 0x1u) why += "declares GVA ratio 0; ";
        for (const auto& [name, r] : {std::pair{"head_k_dim", c.head_k_dim}, std::pair{"head_v_dim", c.head_v_dim}})
            if (r.min < 1 || r.max < r.min || r.multiple < 1)
                why += std::string(name) + " range " + std::to_string(r.min) + ".." + std::to_string(r.max) + " step " +
                       std::to_string(r.multiple) + " is malformed; ";
        if (c.deterministic != 0 && c.deterministic != 1) why += "deterministic is neither 0 nor 1; ";
        std::string empty;
        if (!supported_spec(c, preferred_base(), &empty)) why += empty + ": nothing can run; ";
        out.status = why.empty() ? Status::pass : Status::fail;
        out.message = why;
    };
    return d;
}

}  // namespace

std::vector<CaseDef> capability_cases(const gdn_capabilities& caps) {
    std::vector<CaseDef> cases{declaration_check()};
    const std::optional<RandomCaseSpec> base_or = supported_spec(caps, preferred_base(), nullptr);
    if (!base_or) return cases;  // the declaration check says why
    RandomCaseSpec base = *base_or;
    set_lengths(base);

    auto with = [&](auto change) {
        RandomCaseSpec s = base;
        change(s);
        set_lengths(s);
        return s;
    };

    // Inside the declaration.
    for (int t = GDN_DTYPE_F32; t <= GDN_DTYPE_F16; ++t)
        if (caps.activation_dtypes & (1u << t))
            cases.push_back(supported_probe(std::string("capability-dtype-") + kDtypeNames[t],
                                            std::string("dtype ") + kDtypeNames[t],
                                            with([&](RandomCaseSpec& s) { s.activation_dtype = DType(t); })));
    for (int m = GDN_MODE_EXTEND; m <= GDN_MODE_MIXED; ++m)
        if (caps.modes & (1u << m))
            cases.push_back(supported_probe(std::string("capability-mode-") + kModeNames[m],
                                            std::string("mode ") + kModeNames[m],
                                            with([&](RandomCaseSpec& s) { s.mode = ForwardMode(m); })));
    for (int k = 2; k < 32; ++k)
        if (caps.conv_kernels & (1u << k))
            cases.push_back(supported_probe("capability-conv-" + std::to_string(k), "conv width " + std::to_string(k),
                                            with([&](RandomCaseSpec& s) { s.conv_kernel = k; })));
    for (int r = 1; r < 32; ++r)
        if (caps.gva_ratios & (1u << r))
            cases.push_back(supported_probe("capability-gva-" + std::to_string(r), "GVA ratio " + std::to_string(r),
                                            with([&](RandomCaseSpec& s) {
                                                s.num_k_heads = 1;
                                                s.num_v_heads = r;
                                                s.head_k_dim = nearest_supported(caps.head_k_dim, 16);
                                                s.head_v_dim = nearest_supported(caps.head_v_dim, 16);
                                            })));
    // The ends of the head-dim ranges, with the other dim small so that a wide range stays cheap.
    struct End {
        const char* id;
        bool key;  // head_k_dim or head_v_dim
        bool max;
    };
    for (const End e : {End{"dk-min", true, false}, End{"dk-max", true, true}, End{"dv-min", false, false},
                        End{"dv-max", false, true}}) {
        const gdn_size_range& r = e.key ? caps.head_k_dim : caps.head_v_dim;
        const int value = e.max ? nearest_supported(r, kLargestProbedDim) : r.min;
        if (e.max && value == r.min) continue;  // a single size: the min probe covers it
        std::string what = std::string(e.key ? "head_k_dim " : "head_v_dim ") + std::to_string(value);
        if (e.max && value < r.max) what += " (declared up to " + std::to_string(r.max) + ")";
        cases.push_back(supported_probe("capability-" + std::string(e.id), what, with([&](RandomCaseSpec& s) {
                                            s.num_k_heads = 1;
                                            s.num_v_heads = 1;
                                            (e.key ? s.head_k_dim : s.head_v_dim) = value;
                                            (e.key ? s.head_v_dim : s.head_k_dim) =
                                                nearest_supported(e.key ? caps.head_v_dim : caps.head_k_dim, 8);
                                        })));
    }

    // Just outside the declaration.
    for (const auto& [name, r, key] :
         {std::tuple{"dk", caps.head_k_dim, true}, std::tuple{"dv", caps.head_v_dim, false}}) {
        const int64_t beyond = int64_t(r.max) + r.multiple;
        if (beyond > kLargestProbedDim) continue;
        cases.push_back(refusal_probe(std::string("capability-refuse-") + name,
                                      std::string(key ? "head_k_dim " : "head_v_dim ") + std::to_string(beyond),
                                      with([&](RandomCaseSpec& s) {
                                          s.num_k_heads = 1;
                                          s.num_v_heads = 1;
                                          (key ? s.head_k_dim : s.head_v_dim) = int(beyond);
                                      }),
                                      key ? "head_k_dim" : "head_v_dim"));
    }
    // Inside a head-dim range but off its steps (a GPU declares multiples of 16: 24 is outside).
    for (const auto& [name, r, key] :
         {std::tuple{"dk", caps.head_k_dim, true}, std::tuple{"dv", caps.head_v_dim, false}}) {
        if (r.multiple <= 1 || int64_t(r.min) + r.multiple / 2 > r.max) continue;
        const int off = r.min + r.multiple / 2;
        cases.push_back(refusal_probe(std::string("capability-refuse-") + name + "-step",
                                      std::string(key ? "head_k_dim " : "head_v_dim ") + std::to_string(off) +
                                          " (declared: multiples of " + std::to_string(r.multiple) + ")",
                                      with([&](RandomCaseSpec& s) {
                                          s.num_k_heads = 1;
                                          s.num_v_heads = 1;
                                          (key ? s.head_k_dim : s.head_v_dim) = off;
                                      }),
                                      key ? "head_k_dim" : "head_v_dim"));
    }
    for (int t = GDN_DTYPE_F32; t <= GDN_DTYPE_F16; ++t)
        if (!(caps.activation_dtypes & (1u << t)))
            cases.push_back(refusal_probe(std::string("capability-refuse-dtype-") + kDtypeNames[t],
                                          std::string("dtype ") + kDtypeNames[t],
                                          with([&](RandomCaseSpec& s) { s.activation_dtype = DType(t); })));
    for (int m = GDN_MODE_EXTEND; m <= GDN_MODE_MIXED; ++m)
        if (!(caps.modes & (1u << m)))
            cases.push_back(refusal_probe(std::string("capability-refuse-mode-") + kModeNames[m],
                                          std::string("mode ") + kModeNames[m],
                                          with([&](RandomCaseSpec& s) { s.mode = ForwardMode(m); })));
    for (int k = 2; k <= 8; ++k)
        if (!(caps.conv_kernels & (1u << k))) {
            cases.push_back(refusal_probe("capability-refuse-conv-" + std::to_string(k),
                                          "conv width " + std::to_string(k),
                                          with([&](RandomCaseSpec& s) { s.conv_kernel = k; })));
            break;
        }
    for (int r = 1; r <= 32; ++r)
        if (r == 32 || !(caps.gva_ratios & (1u << r))) {
            cases.push_back(refusal_probe("capability-refuse-gva-" + std::to_string(r),
                                          "GVA ratio " + std::to_string(r), with([&](RandomCaseSpec& s) {
                                              s.num_k_heads = 1;
                                              s.num_v_heads = r;
                                              s.head_k_dim = nearest_supported(caps.head_k_dim, 16);
                                              s.head_v_dim = nearest_supported(caps.head_v_dim, 16);
                                          })));
            break;
        }
    return cases;
}

}  // namespace gdn::conformance::detail

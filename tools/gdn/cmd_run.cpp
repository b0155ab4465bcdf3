// gdn run: the main job. A serving-shaped workload through the layer and the pool on one backend:
// B requests prefilled together, then D decode steps; per phase the throughput and the error of
// one sampled request against the fp64 reference.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.hpp"
#include "commands.hpp"
#include "gdn/conformance.hpp"
#include "gdn/error.hpp"
#include "gdn/harness.hpp"
#include "gdn/pool.hpp"
#include "gdn/registry.hpp"
#include "presets.hpp"
#include "progress.hpp"

namespace gdn::cli {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Fast seeded uniform noise in [-scale, scale], rounded to the activation dtype.
class Noise {
public:
    explicit Noise(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 1) {}
    double next(double scale) {
        s_ ^= s_ << 13;
        s_ ^= s_ >> 7;
        s_ ^= s_ << 17;
        return scale * (double(s_ >> 11) * 0x1.0p-53 * 2.0 - 1.0);
    }

private:
    uint64_t s_;
};

struct Phase {
    std::vector<double> qkv, a, b;  // [T, ...] activation values
};

Phase make_inputs(Noise& noise, DType act, int64_t T, int64_t C, int64_t HV) {
    Phase p;
    p.qkv.resize(std::size_t(T * C));
    p.a.resize(std::size_t(T * HV));
    p.b.resize(std::size_t(T * HV));
    for (double& x : p.qkv) x = round_to(act, noise.next(1.7));
    for (double& x : p.a) x = round_to(act, noise.next(1.7));
    for (double& x : p.b) x = round_to(act, noise.next(1.7));
    return p;
}

// Rows [t0, t1) of a row-major [T, width] matrix.
std::vector<double> rows(const std::vector<double>& m, int64_t width, int64_t t0, int64_t t1) {
    return std::vector<double>(m.begin() + std::ptrdiff_t(t0 * width), m.begin() + std::ptrdiff_t(t1 * width));
}

void append(std::vector<double>& dst, const std::vector<double>& src) { dst.insert(dst.end(), src.begin(), src.end()); }

// Only the dtypes activations can have (dtype_from_name knows the index dtypes too).
DType activation_dtype(const std::string& name) {
    const std::string expected = "an activation dtype: f32, bf16 or f16, got '" + name + "'";
    DType d = DType::f32;
    try {
        d = dtype_from_name(name);
    } catch (const Error&) {
        throw std::invalid_argument("--dtype: " + expected);
    }
    if (d != DType::f32 && d != DType::bf16 && d != DType::f16) throw std::invalid_argument("--dtype: " + expected);
    return d;
}

std::string sci(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1e", v);
    return b;
}

// JSON numbers cannot be NaN or Inf: those become null (and the verdict says FAIL).
nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

int cmd_run(int argc, char** argv) {
    Args args(
        "run",
        "Runs one GDN layer of a model preset with random weights on a serving-shaped workload: --requests\n"
        "requests prefilled together (--prefill tokens each), then --decode steps of one token per request,\n"
        "all through RadixLinearAttention and a GDNPool on the chosen backend. Prints per phase the time,\n"
        "tokens/s, and the error of request 0 against the fp64 reference, then a verdict: PASS when every\n"
        "phase's output and the final state are within the activation dtype's tolerance (the table gdn\n"
        "conformance uses), else FAIL and exit code 1. --heads, --dims and --conv describe a custom layer and\n"
        "imply --preset custom; with a named preset they are an error.",
        {{"backend", "NAME", "cpu, cuda, cuda:1, rocm, a plugin name, or auto (default: GDN_BACKEND, else auto)", ""},
         {"preset", "NAME", "qwen3-next-80b-a3b, qwen3.5-0.8b, qwen3.5-9b, qwen3.5-27b, or custom",
          "qwen3-next-80b-a3b"},
         {"heads", "H,HV", "key and value heads (implies --preset custom)", "16,32"},
         {"dims", "DK,DV", "key and value head dims (implies --preset custom)", "128,128"},
         {"conv", "KC", "conv kernel width (implies --preset custom)", "4"},
         {"dtype", "T", "activation dtype: bf16, f16 or f32", "bf16"},
         {"requests", "B", "number of requests", "8"},
         {"prefill", "N", "prefill tokens per request", "512"},
         {"decode", "D", "decode steps after the prefill", "32"},
         {"threads", "N", "worker threads for CPU backends (0 = all)", "0"},
         {"seed", "S", "seed of the random weights and inputs", "1"},
         {"no-check", "", "skip the fp64 reference (faster for big runs; no verdict)", ""},
         {"json", "FILE", "also write the result as JSON (backend, plugin, shape, timings, errors, verdict)", ""}});
    if (!args.parse(argc, argv)) return 0;
    if (!args.positional().empty()) throw std::invalid_argument("unexpected argument '" + args.positional()[0] + "'");

    const bool custom_shape = args.given("heads") || args.given("dims") || args.given("conv");
    std::string preset = args.str("preset");
    if (custom_shape && !args.given("preset")) preset = "custom";
    if (custom_shape && preset != "custom")
        throw std::invalid_argument("--heads, --dims and --conv describe a custom layer, but --preset " + preset +
                                    " fixes the shape: use --preset custom or leave --preset out");
    Preset shape{"custom", 0, 0, 0, 0, 0, 0};
    if (preset == "custom") {
        const auto heads = args.integers("heads"), dims = args.integers("dims");
        if (heads.size() != 2 || dims.size() != 2)
            throw std::invalid_argument("--heads and --dims take two integers each");
        shape = {"custom", int(heads[0]), int(heads[1]), int(dims[0]), int(dims[1]), int(args.integer("conv")), 1};
    } else {
        shape = find_preset(preset);
    }
    const DType act = activation_dtype(args.str("dtype"));
    const int64_t B = args.integer("requests"), L = args.integer("prefill"), D = args.integer("decode");
    if (B < 1 || L < 0 || D < 0)
        throw std::invalid_argument("--requests >= 1, --prefill >= 0 and --decode >= 0 expected");
    const uint64_t seed = uint64_t(args.integer("seed"));
    const bool check = !args.flag("no-check");
    // Opened before anything runs: a path that cannot be written is a usage error up front.
    const std::string json_file = args.str("json");
    std::ofstream json_out;
    if (!json_file.empty()) {
        json_out.open(json_file);
        if (!json_out) throw std::invalid_argument("--json: cannot write " + json_file);
    }

    const std::string backend_arg = args.str("backend");
    const Backend backend =
        backend_arg.empty() ? Registry::global().open_default() : Registry::global().open(backend_arg);
    const char* plugin_version = backend.table().version ? backend.table().version : "?";
    // Passed through to the backend, which says what range it takes (never wrapped into another int).
    Stream stream(backend, int(std::clamp<long long>(args.integer("threads"), INT_MIN, INT_MAX)));

    reference::Problem ref;  // weights now; request 0's inputs as the phases run
    ref.num_k_heads = shape.num_k_heads;
    ref.num_v_heads = shape.num_v_heads;
    ref.head_k_dim = shape.head_k_dim;
    ref.head_v_dim = shape.head_v_dim;
    ref.conv_kernel = shape.conv_kernel;
    const int64_t C = ref.conv_dim(), HV = shape.num_v_heads, W = HV * shape.head_v_dim;
    Noise noise(seed);
    ref.conv_weight.resize(std::size_t(C * shape.conv_kernel));
    for (double& x : ref.conv_weight) x = round_to(act, noise.next(0.7));
    for (int h = 0; h < HV; ++h) {
        ref.A_log.push_back(float(std::log(0.05 + 0.5 * (noise.next(0.5) + 0.5))));
        ref.dt_bias.push_back(float(noise.next(0.2)));
    }

    std::printf("gdn run: %s layer (H=%d HV=%d Dk=%d Dv=%d Kc=%d, %s activations, f32 state)\n", shape.name.c_str(),
                shape.num_k_heads, shape.num_v_heads, shape.head_k_dim, shape.head_v_dim, shape.conv_kernel,
                dtype_name(act));
    std::printf("backend: %s — %s\nplugin:  %s %s (ABI %u.%u), %s\n", backend.name().c_str(), backend.properties().name,
                backend.plugin().name().c_str(), plugin_version, backend.table().abi_major, backend.table().abi_minor,
                backend.plugin().path().c_str());
    std::printf("workload: %lld requests x %lld prefill tokens, then %lld decode steps\n\n", (long long)B, (long long)L,
                (long long)D);

    PoolConfig pc;
    pc.num_layers = 1;
    pc.num_slots = B;
    pc.num_k_heads = shape.num_k_heads;
    pc.num_v_heads = shape.num_v_heads;
    pc.head_k_dim = shape.head_k_dim;
    pc.head_v_dim = shape.head_v_dim;
    pc.conv_kernel = shape.conv_kernel;
    pc.activation_dtype = act;
    nlohmann::json result = {
        {"backend", backend.name()},
        {"device", backend.properties().name},
        {"plugin",
         {{"name", backend.plugin().name()},
          {"version", plugin_version},
          {"file", backend.plugin().path()},
          {"abi", std::to_string(backend.table().abi_major) + "." + std::to_string(backend.table().abi_minor)}}},
        {"layer",
         {{"preset", shape.name},
          {"num_k_heads", shape.num_k_heads},
          {"num_v_heads", shape.num_v_heads},
          {"head_k_dim", shape.head_k_dim},
          {"head_v_dim", shape.head_v_dim},
          {"conv_kernel", shape.conv_kernel},
          {"activation_dtype", dtype_name(act)}}},
        {"workload", {{"requests", B}, {"prefill", L}, {"decode", D}, {"seed", seed}}}};
    GDNPool pool(backend, pc);
    std::vector<int64_t> slots;
    for (int64_t r = 0; r < B; ++r) slots.push_back(pool.alloc_slot());
    DeviceLayer layer(backend, ref, act, 0);

    // Warm-up on a throwaway pool so thread pools, module loading and caches are not timed.
    {
        PoolConfig wc = pc;
        wc.num_slots = 1;
        GDNPool warm_pool(backend, wc);
        const int64_t wt = 64;
        Phase w = make_inputs(noise, act, wt, C, HV);
        ForwardBatch wb = ForwardBatch::extend(warm_pool, {warm_pool.alloc_slot()}, {wt});
        wb.set_stream(&stream);
        Tensor q = to_device(backend, act, w.qkv, {wt, C}), a = to_device(backend, act, w.a, {wt, HV}),
               b = to_device(backend, act, w.b, {wt, HV});
        layer.layer().forward(wb, q.view(), a.view(), b.view());
        stream.synchronize();
    }

    std::vector<double> got0, want_in_qkv, want_in_a, want_in_b;  // request 0
    std::vector<std::pair<std::string, std::size_t>> phase_rows;  // phase name, rows of request 0

    // ---- prefill ----
    if (L > 0) {
        const int64_t T = B * L;
        Phase in = make_inputs(noise, act, T, C, HV);
        Tensor q = to_device(backend, act, in.qkv, {T, C}), a = to_device(backend, act, in.a, {T, HV}),
               b = to_device(backend, act, in.b, {T, HV});
        ForwardBatch batch = ForwardBatch::extend(pool, slots, std::vector<int64_t>(std::size_t(B), L));
        batch.set_stream(&stream);
        const auto t0 = clock_type::now();
        Tensor out = layer.layer().forward(batch, q.view(), a.view(), b.view());
        stream.synchronize();
        const double s = seconds_since(t0);
        std::printf("prefill: %lld tokens in %.3f ms  ->  %.0f tokens/s\n", (long long)T, s * 1e3, double(T) / s);
        result["prefill"] = {{"tokens", T}, {"seconds", s}, {"tokens_per_second", double(T) / s}};
        if (check) {
            append(got0, rows(to_host_double(out), W, 0, L));
            append(want_in_qkv, rows(in.qkv, C, 0, L));
            append(want_in_a, rows(in.a, HV, 0, L));
            append(want_in_b, rows(in.b, HV, 0, L));
            phase_rows.push_back({"prefill", std::size_t(L)});
        }
    }

    // ---- decode ----
    if (D > 0) {
        ForwardBatch batch = ForwardBatch::decode(pool, slots);
        batch.set_stream(&stream);
        Tensor out(backend, act, {B, W});
        double total = 0.0;
        Progress progress("decode", D);
        for (int64_t step = 0; step < D; ++step) {
            Phase in = make_inputs(noise, act, B, C, HV);
            Tensor q = to_device(backend, act, in.qkv, {B, C}), a = to_device(backend, act, in.a, {B, HV}),
                   b = to_device(backend, act, in.b, {B, HV});
            const auto t0 = clock_type::now();
            layer.layer().forward(batch, q.view(), a.view(), b.view(), out.view());
            stream.synchronize();
            total += seconds_since(t0);
            if (check) {
                append(got0, rows(to_host_double(out), W, 0, 1));
                append(want_in_qkv, rows(in.qkv, C, 0, 1));
                append(want_in_a, rows(in.a, HV, 0, 1));
                append(want_in_b, rows(in.b, HV, 0, 1));
            }
            progress.update(step + 1);
        }
        if (check) phase_rows.push_back({"decode", std::size_t(D)});
        std::printf("decode:  %lld steps x %lld requests in %.3f ms  ->  %.3f ms/step, %.0f tokens/s\n", (long long)D,
                    (long long)B, total * 1e3, total * 1e3 / double(D), double(B * D) / total);
        result["decode"] = {{"steps", D}, {"seconds", total}, {"tokens_per_second", double(B * D) / total}};
    }

    // ---- error of request 0 against the fp64 reference, prefill and decode continued ----
    // The verdict: every phase's output and the final state within the tolerance gdn conformance
    // holds this backend to at this dtype (NaN and Inf fail: no comparison with them holds).
    const conformance::ToleranceTable::Entry tol = conformance::ToleranceTable().lookup(backend.plugin().name(), act);
    std::vector<std::string> failures;
    if (check && !phase_rows.empty()) {
        const int64_t n = int64_t(got0.size()) / W;
        ref.mixed_qkv = want_in_qkv;
        ref.a = want_in_a;
        ref.b = want_in_b;
        ref.cu_seqlens = {0, n};
        ref.conv_state.assign(std::size_t(C * (shape.conv_kernel - 1)), 0.0);
        ref.recurrent_state.assign(std::size_t(HV * shape.head_v_dim * shape.head_k_dim), 0.0);
        const auto t0 = clock_type::now();
        const std::vector<double> want = reference::forward(ref);
        std::printf("\nerror of request 0 against the fp64 reference (%.1f s), after rounding to %s:\n",
                    seconds_since(t0), dtype_name(act));
        std::size_t row = 0;
        nlohmann::json errors = nlohmann::json::object();
        for (const auto& [name, count] : phase_rows) {
            const auto g = rows(got0, W, int64_t(row), int64_t(row + count));
            const auto w = rows(want, W, int64_t(row), int64_t(row + count));
            const double rel = reference::relative_l2(g, w), max_abs = reference::max_abs_diff(g, w);
            std::printf("  %-8s rel L2 %.3e   max abs %.3e   (%zu tokens)\n", name.c_str(), rel, max_abs, count);
            if (!(rel <= tol.tolerance.out))
                failures.push_back(name + " rel L2 " + sci(rel) + " > " + sci(tol.tolerance.out));
            errors[name] = {{"rel_l2", number_or_null(rel)}, {"max_abs", number_or_null(max_abs)}, {"tokens", count}};
            row += count;
        }
        const auto final_state = pool.read_recurrent(0, slots[0]);
        std::vector<double> fs(final_state.begin(), final_state.end());
        const double state_rel = reference::relative_l2(fs, ref.recurrent_state);
        std::printf("  %-8s rel L2 %.3e\n", "state", state_rel);
        if (!(state_rel <= tol.tolerance.state))
            failures.push_back("state rel L2 " + sci(state_rel) + " > " + sci(tol.tolerance.state));
        errors["state"] = {{"rel_l2", number_or_null(state_rel)}};
        result["error"] = errors;
    }
    const bool checked = check && !phase_rows.empty();
    result["tolerance"] = {{"out", tol.tolerance.out}, {"state", tol.tolerance.state}};
    if (!tol.reason.empty()) result["tolerance"]["reason"] = tol.reason;
    result["verdict"] = !checked ? "unchecked" : failures.empty() ? "pass" : "fail";
    result["failures"] = failures;

    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::printf("\npool: %.1f MiB (%lld slots + padding); peak resident memory: %.1f MiB\n",
                double(pool.bytes()) / (1024.0 * 1024), (long long)B, double(ru.ru_maxrss) / 1024.0);
    result["pool_bytes"] = pool.bytes();
    if (!checked) {
        std::printf("verdict: none (%s)\n", check ? "no tokens were run" : "--no-check");
    } else if (failures.empty()) {
        std::printf("verdict: PASS (rel L2 of out <= %s and of state <= %s at %s, plugin %s %s)\n",
                    sci(tol.tolerance.out).c_str(), sci(tol.tolerance.state).c_str(), dtype_name(act),
                    backend.plugin().name().c_str(), plugin_version);
    } else {
        std::string why;
        for (const auto& f : failures) why += (why.empty() ? "" : ", ") + f;
        std::printf("verdict: FAIL: %s (%s tolerance%s%s; plugin %s %s, %s)\n", why.c_str(), dtype_name(act),
                    tol.reason.empty() ? "" : ", override: ", tol.reason.c_str(), backend.plugin().name().c_str(),
                    plugin_version, backend.plugin().path().c_str());
    }
    if (!json_file.empty()) {
        json_out << result.dump(2) << "\n";
        json_out.close();
        if (!json_out) throw std::invalid_argument("--json: writing " + json_file + " failed");
        std::printf("json: %s\n", json_file.c_str());
    }
    return checked && !failures.empty() ? 1 : 0;
}

}  // namespace gdn::cli

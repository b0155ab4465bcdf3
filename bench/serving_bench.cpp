// What the serving-state features cost on a backend, and that plain calls did not get slower:
//   - plain prefill (1 x 4096) and decode (32 requests), on this plugin and, with --before FILE,
//     on another build of it, interleaved round by round so that both see the same machine load;
//   - the same prefill with a checkpoint every 64 tokens (prefix caching at page boundaries);
//   - verify of 4 draft tokens for each of 32 requests, then commit of 0..4 of them, against one
//     decode step of the same 32 requests.
// Medians of --reps calls per round, --rounds rounds. Reports; never fails.
//
//   bench_serving [--backend cpu] [--before libgdn_cpu.so] [--rounds 5] [--reps 5]
//                 [--h 16 --hv 32 --dk 128 --dv 128] [--dtype bf16] [--prefill 4096] [--requests 32]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_args.hpp"
#include "gdn/harness.hpp"
#include "gdn/pool.hpp"
#include "gdn/registry.hpp"

using namespace gdn;

namespace {

struct Options {
    std::string backend = "cpu", before;
    int rounds = 5, reps = 5;
    int H = 16, HV = 32, Dk = 128, Dv = 128, Kc = 4;
    DType dtype = DType::bf16;
    int64_t prefill = 4096, requests = 32, drafts = 4;
};

Options parse(int argc, char** argv) {
    Options o;
    std::string dtype = dtype_name(o.dtype);
    bench::Args("bench_serving",
                "[--backend NAME] [--before libgdn_cpu.so] [--rounds N] [--reps N] [--h N] [--hv N] [--dk N] [--dv N] "
                "[--dtype f32|bf16|f16] [--prefill N] [--requests N]")
        .option("--backend", o.backend)
        .option("--before", o.before)
        .option("--rounds", o.rounds)
        .option("--reps", o.reps)
        .option("--h", o.H)
        .option("--hv", o.HV)
        .option("--dk", o.Dk)
        .option("--dv", o.Dv)
        .option("--dtype", dtype)
        .option("--prefill", o.prefill)
        .option("--requests", o.requests)
        .parse(argc, argv);
    o.dtype = dtype_from_name(dtype);
    return o;
}

double median_ms(int reps, const std::function<void()>& call) {
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        call();
        t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

// One backend's pool, layer and inputs for every measured call.
struct Bench {
    const Options& o;
    Backend be;
    reference::Problem p;
    std::unique_ptr<DeviceLayer> layer;
    std::unique_ptr<GDNPool> pool;
    Tensor qkv, a, b, out;
    int64_t C;

    Bench(const Options& opt, Backend backend) : o(opt), be(std::move(backend)) {
        C = 2LL * o.H * o.Dk + int64_t(o.HV) * o.Dv;
        std::mt19937_64 rng(1);
        std::normal_distribution<double> normal(0.0, 1.0);
        p.num_k_heads = o.H, p.num_v_heads = o.HV, p.head_k_dim = o.Dk, p.head_v_dim = o.Dv, p.conv_kernel = o.Kc;
        for (int64_t i = 0; i < C * o.Kc; ++i) p.conv_weight.push_back(round_to(o.dtype, 0.4 * normal(rng)));
        for (int h = 0; h < o.HV; ++h) p.A_log.push_back(-1.0), p.dt_bias.push_back(0.1);
        layer = std::make_unique<DeviceLayer>(be, p, o.dtype, 0);
        PoolConfig pc;
        pc.num_slots = 2 * o.requests + o.prefill / 64 + 2;
        pc.num_k_heads = o.H, pc.num_v_heads = o.HV, pc.head_k_dim = o.Dk, pc.head_v_dim = o.Dv, pc.conv_kernel = o.Kc;
        pc.activation_dtype = o.dtype;
        pc.engine_managed_slots = true;  // the bench numbers its slots itself
        pool = std::make_unique<GDNPool>(be, pc);
        const int64_t T = std::max(o.prefill, o.requests * o.drafts);
        std::vector<double> x(std::size_t(T * C)), g(std::size_t(T * o.HV));
        for (double& v : x) v = normal(rng);
        for (double& v : g) v = normal(rng);
        qkv = to_device(be, o.dtype, x, {T, C});
        a = to_device(be, o.dtype, g, {T, o.HV});
        b = to_device(be, o.dtype, g, {T, o.HV});
        out = Tensor(be, o.dtype, {T, int64_t(o.HV) * o.Dv});
    }
    TensorView rows(const Tensor& t, int64_t n) const { return TensorView(t.data(), t.dtype(), {n, t.shape()[1]}, be); }
    void run(ForwardBatch& fb, int64_t T, bool output = true) {
        layer->layer().forward(fb, rows(qkv, T), rows(a, T), rows(b, T), output ? rows(out, T) : TensorView());
        fb.stream().synchronize();
    }
    double prefill(bool checkpoints) {
        ForwardBatch fb = ForwardBatch::extend(*pool, {0}, {o.prefill});
        if (checkpoints) {
            std::vector<Checkpoint> cks;
            for (int64_t t = 64; t <= o.prefill; t += 64) cks.push_back({t, 1 + t / 64});
            fb.set_checkpoints({cks});
        }
        return median_ms(o.reps, [&] { run(fb, o.prefill); });
    }
    std::vector<int64_t> decode_slots() const {
        std::vector<int64_t> s;
        for (int64_t r = 0; r < o.requests; ++r) s.push_back(o.prefill / 64 + 2 + r);
        return s;
    }
    double decode() {
        ForwardBatch fb = ForwardBatch::decode(*pool, decode_slots());
        return median_ms(o.reps, [&] { run(fb, o.requests); });
    }
    double verify_commit() {
        const std::vector<int64_t> drafts(std::size_t(o.requests), o.drafts);
        std::vector<int64_t> accepted;
        for (int64_t r = 0; r < o.requests; ++r) accepted.push_back(r % (o.drafts + 1));
        ForwardBatch verify = ForwardBatch::verify(*pool, decode_slots(), drafts);
        ForwardBatch commit = ForwardBatch::commit(*pool, decode_slots(), drafts, accepted);
        const int64_t T = o.requests * o.drafts;
        return median_ms(o.reps, [&] {
            run(verify, T);
            run(commit, T, false);
        });
    }
};

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    try {
        Registry reg_after(std::vector<std::filesystem::path>{}), reg_before(std::vector<std::filesystem::path>{});
        Bench after(o, Registry::global().open(o.backend));
        std::unique_ptr<Bench> before;
        if (!o.before.empty()) {
            const LoadReport r = reg_before.load_file(o.before);
            if (!r.usable) throw Error(GDN_ERR_INVALID_ARGUMENT, "--before " + o.before + ": " + format_report(r));
            before = std::make_unique<Bench>(o, reg_before.open(r.name));
        }
        std::printf(
            "backend %s (%s), H=%d HV=%d Dk=%d Dv=%d Kc=%d %s; prefill 1 x %lld; decode %lld requests; "
            "%lld drafts each; median of %d calls, %d rounds\n",
            after.be.name().c_str(), after.be.properties().name, o.H, o.HV, o.Dk, o.Dv, o.Kc, dtype_name(o.dtype),
            (long long)o.prefill, (long long)o.requests, (long long)o.drafts, o.reps, o.rounds);
        // The serving columns of --before only where that build declares the features.
        const uint32_t serving =
            GDN_FEATURE_CHECKPOINTS | GDN_FEATURE_WRITE_SLOTS | GDN_FEATURE_ACCEPTED | GDN_FEATURE_NO_OUTPUT;
        const bool before_serving = before && (before->be.capabilities().features & serving) == serving;
        std::printf("%5s %12s %12s %12s %12s %14s %14s %14s %14s\n", "round", "prefill ms", "before ms", "decode ms",
                    "before ms", "+ckpt/64 ms", "before ms", "verify+commit", "before ms");
        for (int round = 1; round <= o.rounds; ++round) {
            const double pb = before ? before->prefill(false) : 0, pa = after.prefill(false);
            const double db = before ? before->decode() : 0, da = after.decode();
            const double cb = before_serving ? before->prefill(true) : 0, pc = after.prefill(true);
            const double vb = before_serving ? before->verify_commit() : 0, vc = after.verify_commit();
            std::printf(
                "%5d %12.2f %12.2f %12.3f %12.3f %14.2f %14.2f %14.3f %14.3f   ckpt +%.1f%%, verify+commit = %.2f "
                "decode steps",
                round, pa, pb, da, db, pc, cb, vc, vb, 100.0 * (pc - pa) / pa, vc / da);
            if (before_serving)
                std::printf("; before: ckpt +%.1f%%, verify+commit = %.2f", 100.0 * (cb - pb) / pb, vb / db);
            std::printf("\n");
            std::fflush(stdout);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_serving: %s\n", e.what());
        return 2;
    }
}

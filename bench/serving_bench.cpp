// What the serving-state features cost on a backend, and that plain calls did not get slower:
//   - plain prefill (1 x 4096) and decode (32 requests), on this plugin and, with --before FILE,
//     on another build of it, interleaved round by round so that both see the same machine load;
//   - the same prefill with a checkpoint every 64 tokens (prefix caching at page boundaries);
//   - verify of 4 draft tokens for each of 32 requests, then commit of 0..4 of them, against one
//     decode step of the same 32 requests.
// Medians of --reps calls per round, --rounds rounds, and of every call ("all"); the calls of
// every column and both builds alternate within a round. Reports; never fails.
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

double ms(const std::function<void()>& call) {
    const auto t0 = std::chrono::steady_clock::now();
    call();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> t) {
    std::sort(t.begin(), t.end());
    return t.empty() ? 0.0 : t[t.size() / 2];
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
    // One call each, timed: every measured batch is made once.
    double prefill(bool checkpoints) {
        if (!plain_prefill) {
            plain_prefill = std::make_unique<ForwardBatch>(ForwardBatch::extend(*pool, {0}, {o.prefill}));
            checkpointed = std::make_unique<ForwardBatch>(ForwardBatch::extend(*pool, {0}, {o.prefill}));
            std::vector<Checkpoint> cks;
            for (int64_t t = 64; t <= o.prefill; t += 64) cks.push_back({t, 1 + t / 64});
            checkpointed->set_checkpoints({cks});
        }
        ForwardBatch& fb = checkpoints ? *checkpointed : *plain_prefill;
        return ms([&] { run(fb, o.prefill); });
    }
    std::vector<int64_t> decode_slots() const {
        std::vector<int64_t> s;
        for (int64_t r = 0; r < o.requests; ++r) s.push_back(o.prefill / 64 + 2 + r);
        return s;
    }
    double decode() {
        if (!decode_batch) decode_batch = std::make_unique<ForwardBatch>(ForwardBatch::decode(*pool, decode_slots()));
        return ms([&] { run(*decode_batch, o.requests); });
    }
    double verify_commit() {
        if (!verify) {
            const std::vector<int64_t> drafts(std::size_t(o.requests), o.drafts);
            std::vector<int64_t> accepted;
            for (int64_t r = 0; r < o.requests; ++r) accepted.push_back(r % (o.drafts + 1));
            verify = std::make_unique<ForwardBatch>(ForwardBatch::verify(*pool, decode_slots(), drafts));
            commit = std::make_unique<ForwardBatch>(ForwardBatch::commit(*pool, decode_slots(), drafts, accepted));
        }
        const int64_t T = o.requests * o.drafts;
        return ms([&] {
            run(*verify, T);
            run(*commit, T, false);
        });
    }
    std::unique_ptr<ForwardBatch> plain_prefill, checkpointed, decode_batch, verify, commit;
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
        // Columns: plain prefill, decode, prefill with checkpoints, verify + commit; [0] this
        // build, [1] --before. Within a round every call of one column alternates with the
        // others, builds in turn (which goes first alternates too), so that a change of the
        // machine's load during a round reaches every column alike.
        std::vector<double> all[4][2];
        const auto row = [&](const char* label, std::vector<double>(&t)[4][2]) {
            double m[4][2];
            for (int c = 0; c < 4; ++c)
                for (int b = 0; b < 2; ++b) m[c][b] = median(t[c][b]);
            std::printf(
                "%5s %12.2f %12.2f %12.3f %12.3f %14.2f %14.2f %14.3f %14.3f   ckpt +%.1f%%, verify+commit = %.2f "
                "decode steps",
                label, m[0][0], m[0][1], m[1][0], m[1][1], m[2][0], m[2][1], m[3][0], m[3][1],
                100.0 * (m[2][0] - m[0][0]) / m[0][0], m[3][0] / m[1][0]);
            if (before_serving)
                std::printf("; before: ckpt +%.1f%%, verify+commit = %.2f", 100.0 * (m[2][1] - m[0][1]) / m[0][1],
                            m[3][1] / m[1][1]);
            std::printf("\n");
            std::fflush(stdout);
        };
        for (int round = 1; round <= o.rounds; ++round) {
            std::vector<double> t[4][2];
            for (int rep = 0; rep < o.reps; ++rep)
                for (int c = 0; c < 4; ++c)
                    for (int k = 0; k < 2; ++k) {
                        const int b = (rep + k) % 2;
                        if (b == 1 && (!before || (c >= 2 && !before_serving))) continue;
                        Bench& x = b == 0 ? after : *before;
                        t[c][b].push_back(c == 0   ? x.prefill(false)
                                          : c == 1 ? x.decode()
                                          : c == 2 ? x.prefill(true)
                                                   : x.verify_commit());
                    }
            for (int c = 0; c < 4; ++c)
                for (int b = 0; b < 2; ++b) all[c][b].insert(all[c][b].end(), t[c][b].begin(), t[c][b].end());
            row(std::to_string(round).c_str(), t);
        }
        row("all", all);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_serving: %s\n", e.what());
        return 2;
    }
}

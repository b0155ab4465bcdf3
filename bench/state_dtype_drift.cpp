// The numerical cost of a 16-bit recurrent state: one request decoded for many steps in three
// pools that differ only in the state dtype (f32, bf16, f16), with the same f32 inputs each step.
// Every report compares the bf16 and f16 runs with the f32 run: the output's relative L2 over the
// steps since the last report and the state's relative L2 at that step (docs/numerics-state-dtype.md).
//
//   bench_state_dtype_drift [--backend cpu] [--steps 100000] [--decay typical|slow] [--seed 1]
//                           [--hv 2] [--dk 128] [--dv 128]
//
// typical: per-token decays exp(g) mostly in 0.5..0.95 (random_case's gates); slow: exp(g) near
// 0.999, a state that remembers about a thousand tokens, where rounding has longest to add up.
#include <cmath>
#include <cstdio>
#include <cstdlib>
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
    std::string backend = "cpu", decay = "typical";
    long steps = 100000;
    uint64_t seed = 1;
    int H = 1, HV = 2, Dk = 128, Dv = 128, Kc = 4;
};

Options parse(int argc, char** argv) {
    Options o;
    bench::Args("bench_state_dtype_drift",
                "[--backend NAME] [--steps N] [--decay typical|slow] [--seed S] [--hv N] [--dk N] [--dv N]")
        .option("--backend", o.backend)
        .option("--steps", o.steps)
        .option("--decay", o.decay)
        .option("--seed", o.seed)
        .option("--hv", o.HV)
        .option("--dk", o.Dk)
        .option("--dv", o.Dv)
        .parse(argc, argv);
    return o;
}

struct Window {
    double diff2 = 0, ref2 = 0;
    void add(double got, double want) {
        diff2 += (got - want) * (got - want);
        ref2 += want * want;
    }
    double rel() const { return ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2); }
};

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    try {
        const Backend be = Registry::global().open(o.backend);
        const int64_t C = 2LL * o.H * o.Dk + int64_t(o.HV) * o.Dv, W = int64_t(o.HV) * o.Dv;
        std::mt19937_64 rng(o.seed);
        std::normal_distribution<double> normal(0.0, 1.0);
        std::uniform_real_distribution<double> uniform(0.0, 1.0);
        reference::Problem p;
        p.num_k_heads = o.H, p.num_v_heads = o.HV, p.head_k_dim = o.Dk, p.head_v_dim = o.Dv, p.conv_kernel = o.Kc;
        p.conv_weight.resize(std::size_t(C * o.Kc));
        for (double& x : p.conv_weight) x = float(0.4 * normal(rng));
        const bool slow = o.decay == "slow";
        for (int h = 0; h < o.HV; ++h) {
            // slow: -exp(A_log) softplus(a + dt_bias) near -0.001 for a around 0.
            p.A_log.push_back(float(slow ? std::log(0.0015) : std::log(0.05 + 0.5 * uniform(rng))));
            p.dt_bias.push_back(float(0.1 * normal(rng)));
        }
        DeviceLayer layer(be, p, DType::f32, 0);
        const DType dtypes[3] = {DType::f32, DType::bf16, DType::f16};
        std::vector<std::unique_ptr<GDNPool>> pools;
        std::vector<ForwardBatch> batches;
        for (DType st : dtypes) {
            PoolConfig pc;
            pc.num_slots = 1, pc.num_k_heads = o.H, pc.num_v_heads = o.HV, pc.head_k_dim = o.Dk, pc.head_v_dim = o.Dv;
            pc.conv_kernel = o.Kc, pc.activation_dtype = DType::f32, pc.state_dtype = st;
            pools.push_back(std::make_unique<GDNPool>(be, pc));
            batches.push_back(ForwardBatch::decode(*pools.back(), {0}));
        }
        Tensor q(be, DType::f32, {1, C}), a(be, DType::f32, {1, o.HV}), b(be, DType::f32, {1, o.HV});
        std::vector<Tensor> outs;
        for (int i = 0; i < 3; ++i) outs.emplace_back(be, DType::f32, std::vector<int64_t>{1, W});
        std::vector<float> qh(static_cast<std::size_t>(C)), ah(static_cast<std::size_t>(o.HV)),
            bh(static_cast<std::size_t>(o.HV));
        std::vector<float> oh[3];
        for (auto& v : oh) v.resize(std::size_t(W));

        std::printf("backend %s, H=%d HV=%d Dk=%d Dv=%d Kc=%d, one request, %ld decode steps, %s decay, seed %llu\n",
                    be.name().c_str(), o.H, o.HV, o.Dk, o.Dv, o.Kc, o.steps, o.decay.c_str(),
                    (unsigned long long)o.seed);
        std::printf("%9s %16s %16s %16s %16s %12s\n", "step", "bf16 out rel", "bf16 state rel", "f16 out rel",
                    "f16 state rel", "|S| (f32)");
        Window win[2];
        long next_report = 1;
        for (long step = 1; step <= o.steps; ++step) {
            for (float& x : qh) x = float(normal(rng));
            for (float& x : ah) x = float(normal(rng));
            for (float& x : bh) x = float(normal(rng));
            q.upload(qh.data());
            a.upload(ah.data());
            b.upload(bh.data());
            for (int i = 0; i < 3; ++i) {
                layer.layer().forward(batches[std::size_t(i)], q.view(), a.view(), b.view(),
                                      outs[std::size_t(i)].view());
                batches[std::size_t(i)].stream().synchronize();
                outs[std::size_t(i)].download(oh[i].data());
            }
            for (int i = 1; i < 3; ++i)
                for (int64_t j = 0; j < W; ++j) win[i - 1].add(oh[i][std::size_t(j)], oh[0][std::size_t(j)]);
            if (step == next_report || step == o.steps) {
                const std::vector<float> s32 = pools[0]->read_recurrent(0, 0);
                const std::vector<double> ref(s32.begin(), s32.end());
                double rel[2], norm = 0;
                for (double x : ref) norm += x * x;
                for (int i = 1; i < 3; ++i) {
                    const std::vector<float> s = pools[std::size_t(i)]->read_recurrent(0, 0);
                    rel[i - 1] = reference::relative_l2(std::vector<double>(s.begin(), s.end()), ref);
                }
                std::printf("%9ld %16.3e %16.3e %16.3e %16.3e %12.4f\n", step, win[0].rel(), rel[0], win[1].rel(),
                            rel[1], std::sqrt(norm));
                std::fflush(stdout);
                win[0] = win[1] = Window{};
                // Reports at 1, 10, 30, 100, 300, 1000, ...
                next_report = step < 10 ? 10 : (std::to_string(step)[0] == '1' ? step * 3 : step / 3 * 10);
            }
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_state_dtype_drift: %s\n", e.what());
        return 2;
    }
}

// Long-run numerics: many decode steps of one request on one backend, with the fp64 reference
// carried alongside (a streaming recurrence: the reference runs the same token on its own fp64
// state), reporting every `--every` steps how far the backend's state and outputs have drifted
// and whether everything stayed finite.
//
//   bench_long_run [--backend cpu] [--steps 100000] [--every 10000] [--dtype f32|bf16|both]
//                  [--seed 1] [--hv 2] [--dk 32] [--dv 32]
//
// A check run by hand, not by ctest (it takes tens of seconds): the exit code is 1 when a value
// went non-finite or the final errors exceed the golden tolerances (f32 2e-5, bf16 5e-3 rel L2).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench_args.hpp"
#include "gdn/harness.hpp"
#include "gdn/pool.hpp"
#include "gdn/reference.hpp"
#include "gdn/registry.hpp"

using namespace gdn;

namespace {

struct Options {
    std::string backend = "cpu";
    long steps = 100000, every = 10000;
    std::vector<DType> dtypes{DType::f32, DType::bf16};
    uint64_t seed = 1;
    int H = 1, HV = 2, Dk = 32, Dv = 32, Kc = 4;
};

Options parse(int argc, char** argv) {
    Options o;
    std::string dtype = "both";
    bench::Args(
        "bench_long_run",
        "[--backend NAME] [--steps N] [--every N] [--dtype f32|bf16|f16|both] [--seed S] [--hv N] [--dk N] [--dv N]")
        .option("--backend", o.backend)
        .option("--steps", o.steps)
        .option("--every", o.every)
        .option("--dtype", dtype)
        .option("--seed", o.seed)
        .option("--hv", o.HV)
        .option("--dk", o.Dk)
        .option("--dv", o.Dv)
        .parse(argc, argv);
    o.dtypes =
        dtype == "both" ? std::vector<DType>{DType::f32, DType::bf16} : std::vector<DType>{dtype_from_name(dtype)};
    if (o.every <= 0) o.every = o.steps;
    return o;
}

// Sums of squares over a window, for a relative L2.
struct Window {
    double diff2 = 0, ref2 = 0;
    void add(double got, double want) {
        diff2 += (got - want) * (got - want);
        ref2 += want * want;
    }
    double rel() const { return ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2); }
};

// Returns true when the run stayed finite and within tolerance.
bool run(const Backend& be, const Options& o, DType dt) {
    const int64_t C = 2LL * o.H * o.Dk + int64_t(o.HV) * o.Dv, W = int64_t(o.HV) * o.Dv;
    std::mt19937_64 rng(o.seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);

    // The layer's parameters, rounded as the backend will hold them.
    reference::Problem p;
    p.num_k_heads = o.H;
    p.num_v_heads = o.HV;
    p.head_k_dim = o.Dk;
    p.head_v_dim = o.Dv;
    p.conv_kernel = o.Kc;
    p.cu_seqlens = {0, 1};
    p.conv_weight.resize(std::size_t(C * o.Kc));
    for (double& x : p.conv_weight) x = round_to(dt, 0.4 * normal(rng));
    for (int h = 0; h < o.HV; ++h) {
        p.A_log.push_back(float(std::log(0.05 + 0.5 * uniform(rng))));
        p.dt_bias.push_back(float(0.1 * normal(rng)));
    }
    p.conv_state.assign(std::size_t(C * (o.Kc - 1)), 0.0);
    p.recurrent_state.assign(std::size_t(o.HV * o.Dv * o.Dk), 0.0);

    DeviceLayer layer(be, p, dt, 0);
    PoolConfig pc;
    pc.num_slots = 1;
    pc.num_k_heads = o.H;
    pc.num_v_heads = o.HV;
    pc.head_k_dim = o.Dk;
    pc.head_v_dim = o.Dv;
    pc.conv_kernel = o.Kc;
    pc.activation_dtype = dt;
    GDNPool pool(be, pc);
    const int64_t slot = pool.alloc_slot();
    ForwardBatch batch = ForwardBatch::decode(pool, {slot});
    Tensor q(be, dt, {1, C}), a(be, dt, {1, o.HV}), b(be, dt, {1, o.HV}), out(be, dt, {1, W});
    std::vector<uint8_t> qb(q.bytes()), ab(a.bytes()), bb(b.bytes()), ob(out.bytes());

    const Tolerance tol = default_tolerance(dt);
    std::printf("\n%s: backend %s, H=%d HV=%d Dk=%d Dv=%d Kc=%d, one request, %ld decode steps, seed %llu\n",
                dtype_name(dt), be.name().c_str(), o.H, o.HV, o.Dk, o.Dv, o.Kc, o.steps, (unsigned long long)o.seed);
    std::printf("%10s %14s %14s %14s %12s %8s\n", "step", "out rel L2", "state rel L2", "state max abs", "|state|",
                "finite");
    Window win;
    bool finite = true, ok = true;
    double last_out = 0, last_state = 0;
    for (long step = 1; step <= o.steps; ++step) {
        p.mixed_qkv.resize(std::size_t(C));
        p.a.resize(std::size_t(o.HV));
        p.b.resize(std::size_t(o.HV));
        for (int64_t i = 0; i < C; ++i)
            store_from_double(qb.data(), dt, std::size_t(i), p.mixed_qkv[std::size_t(i)] = round_to(dt, normal(rng)));
        for (int h = 0; h < o.HV; ++h) {
            store_from_double(ab.data(), dt, std::size_t(h), p.a[std::size_t(h)] = round_to(dt, normal(rng)));
            store_from_double(bb.data(), dt, std::size_t(h), p.b[std::size_t(h)] = round_to(dt, normal(rng)));
        }
        q.upload(qb.data());
        a.upload(ab.data());
        b.upload(bb.data());
        layer.layer().forward(batch, q.view(), a.view(), b.view(), out.view());
        batch.stream().synchronize();
        out.download(ob.data());
        const std::vector<double> want = reference::forward(p);  // advances p's fp64 states
        for (int64_t i = 0; i < W; ++i) {
            const double got = load_as_double(ob.data(), dt, std::size_t(i));
            if (!std::isfinite(got)) finite = false;
            win.add(got, want[std::size_t(i)]);
        }
        if (step % o.every == 0 || step == o.steps || !finite) {
            const std::vector<float> st = pool.read_recurrent(0, slot);
            std::vector<double> got(st.begin(), st.end());
            double norm = 0;
            for (double x : got) {
                if (!std::isfinite(x)) finite = false;
                norm += x * x;
            }
            last_state = reference::relative_l2(got, p.recurrent_state);
            last_out = win.rel();
            std::printf("%10ld %14.3e %14.3e %14.3e %12.4f %8s\n", step, last_out, last_state,
                        reference::max_abs_diff(got, p.recurrent_state), std::sqrt(norm), finite ? "yes" : "NO");
            std::fflush(stdout);
            win = Window{};
            if (!finite) break;
        }
    }
    ok = finite && last_out <= tol.out && last_state <= tol.state;
    std::printf("%s: %s (tolerance: rel L2 %.0e for out and state)\n", dtype_name(dt),
                ok ? "finite and within tolerance" : "FAILED", tol.out);
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    try {
        const Backend be = Registry::global().open(o.backend);
        bool ok = true;
        for (DType dt : o.dtypes) ok = run(be, o, dt) && ok;
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_long_run: %s\n", e.what());
        return 2;
    }
}

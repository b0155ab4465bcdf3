// bench_decode_step: one decode step of one GDN layer called from C++ in a loop, on the default
// stream of a backend, with the batch built once (as an engine does for every layer of a step).
// It is the baseline of bench/python_decode_overhead.py, which times the same step from Python.
//
//   bench_decode_step [--backend cpu] [--requests 1] [--heads 2,4] [--dim 16] [--dtype f32]
//                     [--iters 2000] [--rounds 5]
//
// Prints the median over rounds of the mean time per call, in microseconds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gdn/harness.hpp"
#include "gdn/pool.hpp"
#include "gdn/registry.hpp"

using namespace gdn;

int main(int argc, char** argv) {
    std::string backend_name = "cpu", dtype_arg = "f32";
    int requests = 1, H = 2, HV = 4, D = 16, iters = 2000, rounds = 5;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--backend")
            backend_name = next();
        else if (a == "--requests")
            requests = std::atoi(next().c_str());
        else if (a == "--heads") {
            const std::string v = next();
            H = std::atoi(v.c_str());
            HV = std::atoi(v.substr(v.find(',') + 1).c_str());
        } else if (a == "--dim")
            D = std::atoi(next().c_str());
        else if (a == "--dtype")
            dtype_arg = next();
        else if (a == "--iters")
            iters = std::max(1, std::atoi(next().c_str()));
        else if (a == "--rounds")
            rounds = std::max(1, std::atoi(next().c_str()));
        else {
            std::printf(
                "usage: bench_decode_step [--backend NAME] [--requests B] [--heads H,HV] [--dim D] "
                "[--dtype f32|bf16|f16] [--iters N] [--rounds R]\n");
            return a == "--help" ? 0 : 2;
        }
    }
    const Backend be = Registry::global().open(backend_name);
    const DType dt = dtype_from_name(dtype_arg);
    const int64_t C = 2LL * H * D + int64_t(HV) * D, B = requests;

    reference::Problem weights;
    weights.num_k_heads = H;
    weights.num_v_heads = HV;
    weights.head_k_dim = weights.head_v_dim = D;
    weights.conv_kernel = 4;
    weights.conv_weight.assign(std::size_t(C * 4), 0.25);
    weights.A_log.assign(std::size_t(HV), -1.0);
    weights.dt_bias.assign(std::size_t(HV), 0.1);
    DeviceLayer layer(be, weights, dt, 0);

    GDNPool pool(be, PoolConfig{1, B, H, HV, D, D, 4, dt});
    std::vector<int64_t> slots(static_cast<std::size_t>(B));
    for (auto& s : slots) s = pool.alloc_slot();
    Tensor x = to_device(be, dt, std::vector<double>(std::size_t(B * C), 0.5), {B, C});
    Tensor a = to_device(be, dt, std::vector<double>(std::size_t(B * HV), 0.1), {B, HV});
    Tensor b = to_device(be, dt, std::vector<double>(std::size_t(B * HV), 0.2), {B, HV});
    Tensor out(be, dt, {B, int64_t(HV) * D});
    ForwardBatch batch = ForwardBatch::decode(pool, slots);

    std::vector<double> per_call;
    for (int r = 0; r < rounds + 1; ++r) {  // round 0 warms up
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < iters; ++i) layer.layer().forward(batch, x.view(), a.view(), b.view(), out.view());
        batch.stream().synchronize();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r > 0) per_call.push_back(s / iters * 1e6);
    }
    std::sort(per_call.begin(), per_call.end());
    std::printf("bench_decode_step: backend %s, B=%d H=%d HV=%d Dk=Dv=%d Kc=4 %s, %d calls x %d rounds\n",
                be.name().c_str(), requests, H, HV, D, dtype_name(dt), iters, rounds);
    std::printf("median_us_per_call %.3f\n", per_call[per_call.size() / 2]);
    return 0;
}

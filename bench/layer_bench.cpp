// bench_layer: the whole GDN layer (conv + gates + delta rule + state in/out of the pool) through
// the public API on one backend, at the Qwen3-Next shape (H=16, HV=32, Dk=Dv=128), bf16
// activations, f32 state.
//
//   bench_layer [--backend cpu] [--threads 1,2] [--reps 5] [--compare-recurrent]
//
// Prefill: 1 x 4096 and 8 x 512 tokens; decode: one step for 1, 8, 32 requests. Configurations are
// interleaved round by round and the median is reported, because timings on a shared machine
// drift by 1.3-1.5x between runs. --compare-recurrent also times the CPU backend's token-by-token
// prefill (GDN_CPU_PREFILL=recurrent) against its own choice (chunked) in the same process.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gdn/harness.hpp"
#include "gdn/pool.hpp"
#include "gdn/registry.hpp"

using namespace gdn;

namespace {

constexpr int H = 16, HV = 32, D = 128, KC = 4;
constexpr int64_t CONV = 2 * H * D + HV * D;

std::vector<double> noise(std::size_t n, uint64_t seed, double scale) {
    std::vector<double> v(n);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
    for (double& x : v) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x = round_to(DType::bf16, scale * (double(s >> 11) * 0x1.0p-52 - 1.0));
    }
    return v;
}

struct Workload {
    std::string name;
    bool decode;
    int64_t requests, tokens_each;
};

// One configuration: a stream with its thread count and prefill path, and a pool per workload.
struct Config {
    std::string label;
    std::unique_ptr<Stream> stream;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    std::string backend_name = "cpu", threads_arg = "1,2";
    int reps = 5;
    bool compare_recurrent = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--backend")
            backend_name = next();
        else if (a == "--threads")
            threads_arg = next();
        else if (a == "--reps")
            reps = std::max(1, std::atoi(next().c_str()));
        else if (a == "--compare-recurrent")
            compare_recurrent = true;
        else {
            std::printf("usage: bench_layer [--backend NAME] [--threads 1,2] [--reps N] [--compare-recurrent]\n");
            return a == "--help" ? 0 : 2;
        }
    }
    const Backend be = Registry::global().open(backend_name);
    const bool cpu = be.host_accessible();
    std::printf(
        "bench_layer: backend %s (%s), Qwen3-Next GDN layer H=%d HV=%d Dk=Dv=%d Kc=%d, bf16 activations, f32 state\n",
        be.name().c_str(), be.properties().name, H, HV, D, KC);

    // Configurations: thread counts (CPU), and the recurrent prefill path for comparison.
    std::vector<Config> configs;
    std::vector<int> thread_counts;
    for (const char* p = threads_arg.c_str(); *p;) {
        thread_counts.push_back(std::atoi(p));
        p = std::strchr(p, ',');
        if (!p) break;
        ++p;
    }
    if (!cpu) thread_counts = {0};
    for (int t : thread_counts) {
        // The backend's own choice: chunked prefill for long requests, token by token for
        // decode and requests of a few tokens.
        unsetenv("GDN_CPU_PREFILL");
        configs.push_back({cpu ? "auto, " + std::to_string(t) + " thr" : "default", std::make_unique<Stream>(be, t)});
        if (cpu && compare_recurrent) {
            setenv("GDN_CPU_PREFILL", "recurrent", 1);
            configs.push_back({"recurrent, " + std::to_string(t) + " thr", std::make_unique<Stream>(be, t)});
        }
    }
    unsetenv("GDN_CPU_PREFILL");

    const std::vector<Workload> workloads = {
        {"prefill 1 x 4096", false, 1, 4096}, {"prefill 8 x 512", false, 8, 512}, {"decode 1 req", true, 1, 1},
        {"decode 8 req", true, 8, 1},         {"decode 32 req", true, 32, 1},
    };

    reference::Problem weights;
    weights.num_k_heads = H;
    weights.num_v_heads = HV;
    weights.head_k_dim = weights.head_v_dim = D;
    weights.conv_kernel = KC;
    weights.conv_weight = noise(std::size_t(CONV * KC), 1, 0.5);
    for (int h = 0; h < HV; ++h) {
        weights.A_log.push_back(-1.0 + 0.05 * h);
        weights.dt_bias.push_back(0.01 * h);
    }
    DeviceLayer layer(be, weights, DType::bf16, 0);

    // results[workload][config] = seconds per call
    std::map<std::string, std::map<std::string, std::vector<double>>> results;
    for (int rep = 0; rep < reps; ++rep) {
        for (const Workload& w : workloads) {
            const int64_t T = w.requests * w.tokens_each;
            PoolConfig pc{1, w.requests, H, HV, D, D, KC, DType::bf16};
            GDNPool pool(be, pc);
            std::vector<int64_t> slots(static_cast<std::size_t>(w.requests));
            for (auto& s : slots) s = pool.alloc_slot();
            Tensor q = to_device(be, DType::bf16, noise(std::size_t(T * CONV), 2 + rep, 1.7), {T, CONV});
            Tensor a = to_device(be, DType::bf16, noise(std::size_t(T * HV), 3 + rep, 1.7), {T, HV});
            Tensor b = to_device(be, DType::bf16, noise(std::size_t(T * HV), 4 + rep, 1.7), {T, HV});
            Tensor out(be, DType::bf16, {T, HV * D});
            for (Config& c : configs) {
                if (w.decode && c.label.rfind("recurrent", 0) == 0) continue;  // same path for decode
                ForwardBatch batch =
                    w.decode ? ForwardBatch::decode(pool, slots)
                             : ForwardBatch::extend(pool, slots, std::vector<int64_t>(slots.size(), w.tokens_each));
                batch.set_stream(c.stream.get());
                layer.layer().forward(batch, q.view(), a.view(), b.view(), out.view());  // warm-up
                c.stream->synchronize();
                const int inner = w.decode ? 20 : 1;
                const auto t0 = std::chrono::steady_clock::now();
                for (int i = 0; i < inner; ++i) layer.layer().forward(batch, q.view(), a.view(), b.view(), out.view());
                c.stream->synchronize();
                const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / inner;
                results[w.name][c.label].push_back(s);
            }
        }
    }

    std::printf("\n%-18s %-22s %12s %14s\n", "workload", "configuration", "median ms", "tokens/s");
    for (const Workload& w : workloads)
        for (const Config& c : configs) {
            auto it = results[w.name].find(c.label);
            if (it == results[w.name].end()) continue;
            const double s = median(it->second);
            const double tokens = double(w.requests * w.tokens_each);
            std::printf("%-18s %-22s %12.3f %14.0f\n", w.name.c_str(), c.label.c_str(), s * 1e3, tokens / s);
        }
    return 0;
}

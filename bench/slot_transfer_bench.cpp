// bench_slot_transfer: the cost of moving one request's state between pools (export_slot,
// import_slot) at the Qwen3-Next shape (H=16, HV=32, Dk=Dv=128, Kc=4, 36 GDN layers, bf16
// activations, f32 state), and of the blob's CRC-32C alone.
//
//   bench_slot_transfer [--backend cpu] [--reps 9]
//
// Each repetition exports slot 0 (into a new vector, then into a buffer reused across repetitions)
// and imports the blob into slot 1; the median is reported.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_args.hpp"
#include "gdn/pool.hpp"
#include "gdn/registry.hpp"
#include "gdn/slot_transfer.hpp"

using namespace gdn;

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

template <class F>
double seconds(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    std::string backend_name = "cpu";
    int reps = 9;
    bench::Args("bench_slot_transfer", "[--backend NAME] [--reps N]")
        .option("--backend", backend_name)
        .option("--reps", reps)
        .parse(argc, argv);
    reps = std::max(1, reps);
    try {
        const Backend be = Registry::global().open(backend_name);
        PoolConfig pc;
        pc.num_layers = 36;
        pc.num_slots = 2;
        pc.num_k_heads = 16;
        pc.num_v_heads = 32;
        pc.head_k_dim = pc.head_v_dim = 128;
        pc.conv_kernel = 4;
        pc.activation_dtype = DType::bf16;
        GDNPool pool(be, pc);
        std::vector<float> state(pool.recurrent_slot_bytes() / sizeof(float));
        for (std::size_t i = 0; i < state.size(); ++i) state[i] = float(i % 1000) * 1e-3f;
        for (int l = 0; l < pc.num_layers; ++l) pool.write_recurrent(l, 0, state);

        std::vector<double> t_export, t_export_into, t_import, t_crc;
        std::vector<uint8_t> blob, reused(slot_blob_size(pool));
        uint32_t sink = 0;
        for (int r = 0; r < reps; ++r) {
            t_export.push_back(seconds([&] { blob = export_slot(pool, 0); }));
            t_export_into.push_back(seconds([&] { export_slot(pool, 0, reused.data(), reused.size()); }));
            t_import.push_back(seconds([&] { import_slot(pool, 1, blob); }));
            t_crc.push_back(seconds([&] { sink ^= crc32c(blob.data(), blob.size()); }));
        }
        const double mib = double(blob.size()) / (1 << 20);
        std::printf("backend %s, blob %.1f MiB (36 layers x (recurrent %zu + conv %zu bytes)), median of %d\n",
                    be.name().c_str(), mib, pool.recurrent_slot_bytes(), pool.conv_slot_bytes(), reps);
        for (const auto& [name, t] : {std::pair{"export_slot", &t_export},
                                      {"export_slot into a reused buffer", &t_export_into},
                                      {"import_slot", &t_import},
                                      {"crc32c alone", &t_crc}})
            std::printf("  %-34s %8.2f ms  %7.2f GiB/s\n", name, median(*t) * 1e3, mib / 1024 / median(*t));
        return sink == 0xFFFFFFFFu ? 1 : 0;  // keeps the CRC from being optimized away
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_slot_transfer: %s\n", e.what());
        return 1;
    }
}

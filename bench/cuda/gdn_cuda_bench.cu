// gdn_cuda_bench: times the CUDA plugin's forward_gdn through its C table with CUDA events.
//
//   gdn_cuda_bench [--plugin PATH] [--quick] [--no-decode] [--no-prefill]
//     (GDN_CUDA_DVS=16|32|64|128 pins the prefill Dv slice)
//
// Qwen3-Next GDN layer (H=16, HV=32, Dk=Dv=128, Kc=4), bf16 activations, f32 state in a pool.
// Prefill: the whole layer (conv + gates + norm + chunked GDN + state in/out of pool slots).
// Decode: one token per request in place in the pool, plain launches, CUDA graphs of one step and
// a CUDA graph of many steps; the slots rotate over enough pool memory that the states are not
// L2-resident. GDN_CUDA_OVERLAP=0 launches the kernels without overlapping the previous one.
// Floors: bytes that must move / measured device copy bandwidth (read + write).
#include <cuda_runtime.h>

#include <algorithm>
#include <cinttypes>
#include <vector>

#include "../../plugins/cuda/check/host_util.hpp"

using namespace gdn_host;

namespace {

constexpr int H = 16, HV = 32, DK = 128, DV = 128, KC = 4;
constexpr int CD = 2 * H * DK + HV * DV;
constexpr int64_t OD = static_cast<int64_t>(HV) * DV;

#define CK(x)                                                                                             \
    do {                                                                                                  \
        cudaError_t e_ = (x);                                                                             \
        if (e_ != cudaSuccess) {                                                                          \
            std::fprintf(stderr, "CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
            std::exit(2);                                                                                 \
        }                                                                                                 \
    } while (0)

__global__ void fill_bf16(__nv_bfloat16* p, size_t n, uint64_t seed, float scale, float shift) {
    for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<size_t>(gridDim.x) * blockDim.x) {
        uint64_t z = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const float u1 = ((z & 0xFFFFFF) + 0.5f) / 16777216.0f, u2 = (((z >> 24) & 0xFFFFFF) + 0.5f) / 16777216.0f;
        const float g = sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);  // normal
        p[i] = __float2bfloat16_rn(shift + scale * g);
    }
}
__global__ void fill_f32(float* p, size_t n, uint64_t seed, float scale) {
    for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<size_t>(gridDim.x) * blockDim.x) {
        uint64_t z = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
        z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
        z ^= z >> 29;
        p[i] = scale * (((z & 0xFFFFFF) / 16777216.0f) * 2.0f - 1.0f);
    }
}

struct Ctx {
    Plugin P;
    cudaStream_t cs = nullptr;
    void *w = nullptr, *alog = nullptr, *dtb = nullptr;
    double bw = 0;  // bytes/s, read + write
};

float median(std::vector<float> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

gdn_forward_args make_args(const Ctx& c, void* x, int64_t T, int64_t B, void* cu, void* slots, float* rec, void* conv,
                           int64_t nslots, void* out, const int64_t* hcu, const int64_t* hsl, int mode) {
    gdn_forward_args a{};
    a.struct_size = sizeof(a);
    a.mode = mode;
    a.num_k_heads = H;
    a.num_v_heads = HV;
    a.head_k_dim = DK;
    a.head_v_dim = DV;
    a.conv_kernel = KC;
    a.activation_dtype = GDN_DTYPE_BF16;
    a.num_tokens = T;
    a.num_requests = B;
    a.padding_slot = nslots - 1;
    const int64_t xs = CD + 2 * HV;
    a.mixed_qkv = tensor(x, GDN_DTYPE_BF16, {T, CD}, {xs, 1});
    a.a = tensor(static_cast<char*>(x) + 2 * CD, GDN_DTYPE_BF16, {T, HV}, {xs, 1});
    a.b = tensor(static_cast<char*>(x) + 2 * (CD + HV), GDN_DTYPE_BF16, {T, HV}, {xs, 1});
    a.conv_weight = tensor(c.w, GDN_DTYPE_BF16, {CD, KC}, {KC, 1});
    a.A_log = tensor(c.alog, GDN_DTYPE_F32, {HV}, {1});
    a.dt_bias = tensor(c.dtb, GDN_DTYPE_F32, {HV}, {1});
    a.cu_seqlens = tensor(cu, GDN_DTYPE_I64, {B + 1}, {1});
    a.slots = tensor(slots, GDN_DTYPE_I64, {B}, {1});
    a.recurrent_state =
        tensor(rec, GDN_DTYPE_F32, {nslots, HV, DV, DK}, {OD * DK, static_cast<int64_t>(DV) * DK, DK, 1});
    a.conv_state = tensor(conv, GDN_DTYPE_BF16, {nslots, CD, KC - 1}, {static_cast<int64_t>(CD) * (KC - 1), KC - 1, 1});
    a.out = tensor(out, GDN_DTYPE_BF16, {T, OD}, {OD, 1});
    a.host_cu_seqlens = hcu;
    a.host_slots = hsl;
    return a;
}

void fill(void* p, size_t n, uint64_t seed, float scale, float shift = 0.f) {
    fill_bf16<<<1024, 256>>>(static_cast<__nv_bfloat16*>(p), n, seed, scale, shift);
    CK(cudaGetLastError());
}

void bench_prefill(Ctx& c, int B, int64_t len) {
    const int64_t T = B * len, xs = CD + 2 * HV;
    const int64_t nslots = B + 1;
    void* x = c.P.alloc(T * xs * 2);
    fill(x, T * xs, 11, 1.0f);
    void* out = c.P.alloc(T * OD * 2);
    auto* rec = static_cast<float*>(c.P.alloc(nslots * OD * DK * 4));
    fill_f32<<<1024, 256>>>(rec, nslots * OD * DK, 5, 0.01f);
    void* conv = c.P.alloc(nslots * CD * (KC - 1) * 2);
    fill(conv, nslots * CD * (KC - 1), 7, 1.0f);
    std::vector<int64_t> cu(B + 1), sl(B);
    for (int i = 0; i <= B; ++i) cu[i] = i * len;
    for (int i = 0; i < B; ++i) sl[i] = i;
    void* dcu = c.P.alloc(8 * (B + 1));
    void* dsl = c.P.alloc(8 * B);
    c.P.h2d(dcu, cu.data(), 8 * (B + 1));
    c.P.h2d(dsl, sl.data(), 8 * B);
    CK(cudaDeviceSynchronize());
    gdn_forward_args a = make_args(c, x, T, B, dcu, dsl, rec, conv, nslots, out, cu.data(), sl.data(), GDN_MODE_EXTEND);
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int i = 0; i < 3; ++i) c.P.check(c.P.t->forward_gdn(c.P.stream, &a, c.P.eb()), "forward_gdn");
    c.P.sync();
    std::vector<float> ts;
    for (int i = 0; i < 15; ++i) {
        CK(cudaEventRecord(e0, c.cs));
        c.P.check(c.P.t->forward_gdn(c.P.stream, &a, c.P.eb()), "forward_gdn");
        CK(cudaEventRecord(e1, c.cs));
        CK(cudaEventSynchronize(e1));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        ts.push_back(ms);
    }
    const double ms = median(ts);
    const double bytes = T * (2.0 * (CD + 2 * HV) + 2.0 * OD) + B * (OD * DK * 4.0 * 2 + CD * (KC - 1) * 2.0 * 2);
    const double floor_ms = bytes / c.bw * 1e3;
    std::printf("prefill  B=%-4d len=%-6" PRId64 " T=%-6" PRId64
                "  %8.3f ms  %7.2f Mtok/s  floor %.3f ms (%4.1f%% of floor speed)\n",
                B, len, T, ms, T / ms / 1e3, floor_ms, 100.0 * floor_ms / ms);
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    c.P.free(x);
    c.P.free(out);
    c.P.free(rec);
    c.P.free(conv);
    c.P.free(dcu);
    c.P.free(dsl);
}

void bench_decode(Ctx& c, int N) {
    const int R = std::max(1, (256 + N - 1) / N);  // slot sets: >= 256 states (512 MiB) rotate through L2
    const int64_t nslots = static_cast<int64_t>(N) * R + 1;
    const int64_t xs = CD + 2 * HV;
    void* x = c.P.alloc(N * xs * 2);
    fill(x, N * xs, 13, 1.0f);
    void* out = c.P.alloc(N * OD * 2);
    auto* rec = static_cast<float*>(c.P.alloc(nslots * OD * DK * 4));
    fill_f32<<<4096, 256>>>(rec, nslots * OD * DK, 9, 0.01f);
    void* conv = c.P.alloc(nslots * CD * (KC - 1) * 2);
    fill(conv, nslots * CD * (KC - 1), 3, 1.0f);
    std::vector<int64_t> cu(N + 1);
    for (int i = 0; i <= N; ++i) cu[i] = i;
    void* dcu = c.P.alloc(8 * (N + 1));
    c.P.h2d(dcu, cu.data(), 8 * (N + 1));
    std::vector<void*> dsl(R);
    std::vector<std::vector<int64_t>> hsl(R, std::vector<int64_t>(N));
    for (int k = 0; k < R; ++k) {
        for (int i = 0; i < N; ++i) hsl[k][i] = static_cast<int64_t>(k) * N + i;
        dsl[k] = c.P.alloc(8 * N);
        c.P.h2d(dsl[k], hsl[k].data(), 8 * N);
    }
    CK(cudaDeviceSynchronize());
    std::vector<gdn_forward_args> args;
    for (int k = 0; k < R; ++k)
        args.push_back(
            make_args(c, x, N, N, dcu, dsl[k], rec, conv, nslots, out, cu.data(), hsl[k].data(), GDN_MODE_DECODE));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    const int iters = std::max(20, std::min(400, 40000 / N));
    auto time_plain = [&]() {
        for (int i = 0; i < R; ++i) c.P.check(c.P.t->forward_gdn(c.P.stream, &args[i], c.P.eb()), "forward_gdn");
        c.P.sync();
        std::vector<float> ts;
        for (int rep = 0; rep < 7; ++rep) {
            CK(cudaEventRecord(e0, c.cs));
            for (int i = 0; i < iters; ++i)
                c.P.check(c.P.t->forward_gdn(c.P.stream, &args[i % R], c.P.eb()), "forward_gdn");
            CK(cudaEventRecord(e1, c.cs));
            CK(cudaEventSynchronize(e1));
            float ms = 0;
            CK(cudaEventElapsedTime(&ms, e0, e1));
            ts.push_back(ms * 1e3f / iters);
        }
        return median(ts);
    };
    const float us_plain = time_plain();
    // graphs: one per slot set, captured on the plugin's stream
    std::vector<cudaGraphExec_t> ex(R);
    for (int k = 0; k < R; ++k) {
        cudaGraph_t g;
        CK(cudaStreamBeginCapture(c.cs, cudaStreamCaptureModeRelaxed));
        c.P.check(c.P.t->forward_gdn(c.P.stream, &args[k], c.P.eb()), "forward_gdn (capture)");
        CK(cudaStreamEndCapture(c.cs, &g));
        CK(cudaGraphInstantiate(&ex[k], g, 0));
        CK(cudaGraphDestroy(g));
    }
    for (int k = 0; k < R; ++k) CK(cudaGraphLaunch(ex[k], c.cs));
    CK(cudaStreamSynchronize(c.cs));
    std::vector<float> ts;
    for (int rep = 0; rep < 7; ++rep) {
        CK(cudaEventRecord(e0, c.cs));
        for (int i = 0; i < iters; ++i) CK(cudaGraphLaunch(ex[i % R], c.cs));
        CK(cudaEventRecord(e1, c.cs));
        CK(cudaEventSynchronize(e1));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        ts.push_back(ms * 1e3f / iters);
    }
    const float us_graph = median(ts);
    // One graph of K consecutive steps (every slot set in turn), per step: how an engine replays a
    // whole decode forward, and how triton's do_bench_cudagraph times the peer (n calls captured
    // in one graph). Consecutive steps' launches may overlap there as in a stream.
    const int K = std::max(16, R);
    cudaGraphExec_t multi;
    {
        cudaGraph_t g;
        CK(cudaStreamBeginCapture(c.cs, cudaStreamCaptureModeRelaxed));
        for (int i = 0; i < K; ++i)
            c.P.check(c.P.t->forward_gdn(c.P.stream, &args[i % R], c.P.eb()), "forward_gdn (capture)");
        CK(cudaStreamEndCapture(c.cs, &g));
        CK(cudaGraphInstantiate(&multi, g, 0));
        CK(cudaGraphDestroy(g));
    }
    CK(cudaGraphLaunch(multi, c.cs));
    CK(cudaStreamSynchronize(c.cs));
    ts.clear();
    const int multi_iters = std::max(2, iters / K);
    for (int rep = 0; rep < 7; ++rep) {
        CK(cudaEventRecord(e0, c.cs));
        for (int i = 0; i < multi_iters; ++i) CK(cudaGraphLaunch(multi, c.cs));
        CK(cudaEventRecord(e1, c.cs));
        CK(cudaEventSynchronize(e1));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        ts.push_back(ms * 1e3f / (multi_iters * K));
    }
    const float us_multi = median(ts);
    CK(cudaGraphExecDestroy(multi));
    const double floor_us = N * static_cast<double>(OD) * DK * 4 * 2 / c.bw * 1e6;
    std::printf(
        "decode   N=%-5d plain %8.2f us  graph %8.2f us  graph of %3d steps %8.2f us per step  floor %8.2f us  "
        "(%5.1f%% / %5.1f%% / %5.1f%% of floor speed)\n",
        N, us_plain, us_graph, K, us_multi, floor_us, 100 * floor_us / us_plain, 100 * floor_us / us_graph,
        100 * floor_us / us_multi);
    for (auto& e : ex) CK(cudaGraphExecDestroy(e));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    c.P.free(x);
    c.P.free(out);
    c.P.free(rec);
    c.P.free(conv);
    c.P.free(dcu);
    for (void* p : dsl) c.P.free(p);
}

}  // namespace

int main(int argc, char** argv) {
#ifdef GDN_CUDA_PLUGIN_PATH
    std::string path = GDN_CUDA_PLUGIN_PATH;
#else
    std::string path = "libgdn_cuda.so";
#endif
    bool quick = false, decode = true, prefill = true;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--plugin" && i + 1 < argc)
            path = argv[++i];
        else if (a == "--quick")
            quick = true;
        else if (a == "--no-decode")
            decode = false;
        else if (a == "--no-prefill")
            prefill = false;
    }
    Ctx c;
    if (!c.P.load(path.c_str())) return 77;
    c.cs = *reinterpret_cast<cudaStream_t*>(c.P.stream);
    gdn_device_properties dp{};
    dp.struct_size = sizeof(dp);
    c.P.check(c.P.t->device_properties(0, &dp, c.P.eb()), "device_properties");
    // copy bandwidth: 1 GiB device to device, read + write
    {
        const size_t n = size_t(1) << 30;
        void* a = c.P.alloc(n);
        void* b = c.P.alloc(n);
        CK(cudaMemset(a, 1, n));
        cudaEvent_t e0, e1;
        CK(cudaEventCreate(&e0));
        CK(cudaEventCreate(&e1));
        std::vector<float> ts;
        for (int i = 0; i < 12; ++i) {
            CK(cudaEventRecord(e0, c.cs));
            CK(cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice, c.cs));
            CK(cudaEventRecord(e1, c.cs));
            CK(cudaEventSynchronize(e1));
            float ms;
            CK(cudaEventElapsedTime(&ms, e0, e1));
            if (i >= 2) ts.push_back(ms);
        }
        c.bw = 2.0 * n / (median(ts) * 1e-3);
        c.P.free(a);
        c.P.free(b);
    }
    std::printf("gdn_cuda_bench: %s, %d SMs; copy bandwidth %.2f TB/s (read+write)\n", dp.name, dp.compute_units,
                c.bw / 1e12);
    std::printf(
        "shape: H=%d HV=%d Dk=%d Dv=%d Kc=%d, bf16 activations, f32 state; prefill scratch: %d bytes/token "
        "\n",
        H, HV, DK, DV, KC, 2 * H * DK * 2 + 2 * HV * 64 * 2 + HV * 16);
    c.w = c.P.alloc(CD * KC * 2);
    fill(c.w, CD * KC, 1, 0.5f);
    {
        std::vector<float> alog(HV), dtb(HV);
        for (int i = 0; i < HV; ++i) {
            alog[i] = std::log(1.0f + 15.0f * (i + 0.5f) / HV);
            dtb[i] = 0.05f * ((i % 5) - 2);
        }
        c.alog = c.P.alloc(4 * HV);
        c.dtb = c.P.alloc(4 * HV);
        c.P.h2d(c.alog, alog.data(), 4 * HV);
        c.P.h2d(c.dtb, dtb.data(), 4 * HV);
    }
    if (prefill) bench_prefill(c, 16, 4096);
    if (prefill) bench_prefill(c, 1, 32768);
    if (prefill && !quick) {
        bench_prefill(c, 1, 4096);
        bench_prefill(c, 1, 16384);
        bench_prefill(c, 64, 1024);
    }
    if (decode)
        for (int N : {1, 8, 64, 256, 1024}) bench_decode(c, N);
    c.P.check(c.P.t->stream_destroy(c.P.stream, c.P.eb()), "stream_destroy");
    return 0;
}

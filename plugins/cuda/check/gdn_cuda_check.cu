// gdn_cuda_check: what is CUDA-specific about the CUDA plugin, held against the fp64 reference of
// gdn_testing (gdn/reference.hpp, gdn/harness.hpp).
//
//   gdn_cuda_check [--plugin PATH] [--seed N] [--cases N] [--golden DIR]
//
// Loads libgdn_cuda.so through its C table only (dlopen + gdn_plugin_entry), like the host does.
// Every randomized case prints its seed; rerun one with --seed N --cases 1. Checks:
//   the table's name and priority and the device's properties; random shapes/dtypes/lengths
//   (zero-length, one-token, partial chunks, padding requests, mixed batches) under every Dv slice
//   width of the sequential prefill (GDN_CUDA_DVS), with the outputs poisoned and guarded and every
//   slot the call must not touch compared bitwise; a batch against its requests one by one,
//   bitwise (batch invariance, which the plugin does not declare); a key head's value heads in
//   one prep block (GDN_CUDA_PREP_HEADS=all: the pair path at GVA 2); the Qwen3-Next shape in a
//   mixed batch;
//   CUDA-graph capture + replay of decode steps with updated device indices, on the plugin's
//   stream and on a caller's cudaStream_t; golden files (under whatever GDN_CUDA_* the caller set).
// What every backend must satisfy (prefill then decode, a batch against its requests one by one,
// strong decay, refusals that write nothing, wrapped streams) is the conformance suite's:
// `gdn conformance --backend cuda`.
// Exit status 0 when everything passed, 1 on a failed check, 2 on a setup error; 77 when the
// plugin cannot run here (no driver or no device), for ctest's SKIP_RETURN_CODE.
#include <cuda_runtime.h>

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <random>
#include <thread>

#include "gdn/harness.hpp"
#include "gdn/reference.hpp"
#include "host_util.hpp"

using namespace gdn_host;

namespace {

int g_failures = 0;
int g_checks = 0;

void expect(bool ok, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void expect(bool ok, const char* fmt, ...) {
    ++g_checks;
    if (ok) return;
    ++g_failures;
    va_list ap;
    va_start(ap, fmt);
    std::printf("  FAIL: ");
    std::vprintf(fmt, ap);
    std::printf("\n");
    va_end(ap);
}

struct Shape {
    int H = 1, HV = 1, Dk = 16, Dv = 16, Kc = 4, dt = GDN_DTYPE_BF16;
    int conv_dim() const { return 2 * H * Dk + HV * Dv; }
    std::string str() const {
        char b[128];
        std::snprintf(b, sizeof b, "H=%d HV=%d Dk=%d Dv=%d Kc=%d %s", H, HV, Dk, Dv, Kc, dname(dt));
        return b;
    }
};

// Layer parameters: host values already rounded to their dtypes, plus device copies.
struct Layer {
    Shape s;
    Bytes w;
    std::vector<float> A_log, dt_bias;
    void *d_w = nullptr, *d_Alog = nullptr, *d_dtb = nullptr;
};

// A pool of `nslots` slots x 2 layers; the tests use layer 1, so the slot stride is two layers.
struct Pool {
    Shape s;
    int nslots = 0;
    std::vector<float> rec;  // device image
    Bytes conv;
    std::vector<double> rec_ref, conv_ref;  // the reference's evolving copy
    float* d_rec = nullptr;
    void* d_conv = nullptr;
    size_t rec_per() const { return static_cast<size_t>(s.HV) * s.Dv * s.Dk; }
    size_t conv_per() const { return static_cast<size_t>(s.conv_dim()) * (s.Kc - 1); }
    size_t rec_at(int64_t slot) const { return (static_cast<size_t>(slot) * 2 + 1) * rec_per(); }
    size_t conv_at(int64_t slot) const { return (static_cast<size_t>(slot) * 2 + 1) * conv_per(); }
};

struct Batch {
    std::vector<int64_t> cu, slots;
    int64_t T = 0;
    int xs = 0;  // row stride of the projection buffer holding [x | a | b | pad]
    Bytes X;
    int mode = GDN_MODE_EXTEND;
};

double randn(std::mt19937_64& rng) { return std::normal_distribution<double>(0.0, 1.0)(rng); }
double unif(std::mt19937_64& rng, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }

Layer make_layer(Plugin& P, const Shape& s, std::mt19937_64& rng, bool strong_decay) {
    Layer L;
    L.s = s;
    const int cd = s.conv_dim();
    L.w = Bytes(s.dt, static_cast<size_t>(cd) * s.Kc);
    for (size_t i = 0; i < L.w.n(); ++i) L.w.set(i, 0.5 * randn(rng));
    for (int i = 0; i < s.HV; ++i) {
        L.A_log.push_back(
            static_cast<float>(strong_decay ? std::log(unif(rng, 20.0, 60.0)) : std::log(unif(rng, 0.002, 0.6))));
        L.dt_bias.push_back(static_cast<float>(strong_decay ? 3.0 + 0.1 * randn(rng) : 0.1 * randn(rng)));
    }
    L.d_w = P.alloc(L.w.b.size());
    P.h2d(L.d_w, L.w.b.data(), L.w.b.size());
    L.d_Alog = P.alloc(4 * s.HV);
    P.h2d(L.d_Alog, L.A_log.data(), 4 * s.HV);
    L.d_dtb = P.alloc(4 * s.HV);
    P.h2d(L.d_dtb, L.dt_bias.data(), 4 * s.HV);
    return L;
}
void free_layer(Plugin& P, Layer& L) {
    P.free(L.d_w);
    P.free(L.d_Alog);
    P.free(L.d_dtb);
}

Pool make_pool(Plugin& P, const Shape& s, int nslots, std::mt19937_64& rng, double state_scale) {
    Pool pl;
    pl.s = s;
    pl.nslots = nslots;
    pl.rec.resize(static_cast<size_t>(nslots) * 2 * pl.rec_per());
    for (auto& v : pl.rec) v = static_cast<float>(state_scale * randn(rng));
    pl.conv = Bytes(s.dt, static_cast<size_t>(nslots) * 2 * pl.conv_per());
    for (size_t i = 0; i < pl.conv.n(); ++i) pl.conv.set(i, randn(rng));
    pl.rec_ref.assign(pl.rec.begin(), pl.rec.end());
    pl.conv_ref.resize(pl.conv.n());
    for (size_t i = 0; i < pl.conv.n(); ++i) pl.conv_ref[i] = pl.conv.get(i);
    pl.d_rec = static_cast<float*>(P.alloc(pl.rec.size() * 4));
    P.h2d(pl.d_rec, pl.rec.data(), pl.rec.size() * 4);
    pl.d_conv = P.alloc(pl.conv.b.size());
    P.h2d(pl.d_conv, pl.conv.b.data(), pl.conv.b.size());
    return pl;
}
void free_pool(Plugin& P, Pool& pl) {
    P.free(pl.d_rec);
    P.free(pl.d_conv);
}

// Rows of [x | a | b | guard columns]: 3 guard columns (1e30, never to be read) leave x's rows
// unaligned, so that the prefill takes its general path; `aligned` pads the rows to 16 bytes
// instead (at least one guard column), where it computes q̂, k̂ inside the prep kernel.
Batch make_batch(const Shape& s, const std::vector<int64_t>& lens, const std::vector<int64_t>& slots,
                 std::mt19937_64& rng, double a_shift, bool aligned = false) {
    Batch b;
    b.cu.push_back(0);
    bool any1 = false, anyn = false;
    for (int64_t l : lens) {
        b.cu.push_back(b.cu.back() + l);
        if (l == 1)
            any1 = true;
        else
            anyn = true;
    }
    b.mode = any1 && anyn ? GDN_MODE_MIXED : any1 ? GDN_MODE_DECODE : GDN_MODE_EXTEND;
    b.slots = slots;
    b.T = b.cu.back();
    const int used = s.conv_dim() + 2 * s.HV, es = static_cast<int>(dsize(s.dt));
    int guard = 3;
    if (aligned)
        for (guard = 1; (used + guard) * es % 16 != 0; ++guard) {}
    b.xs = used + guard;
    b.X = Bytes(s.dt, static_cast<size_t>(std::max<int64_t>(b.T, 1)) * b.xs);
    for (int64_t t = 0; t < b.T; ++t) {
        for (int c = 0; c < s.conv_dim(); ++c) b.X.set(t * b.xs + c, randn(rng));
        for (int c = 0; c < s.HV; ++c) b.X.set(t * b.xs + s.conv_dim() + c, randn(rng) + a_shift);
        for (int c = 0; c < s.HV; ++c) b.X.set(t * b.xs + s.conv_dim() + s.HV + c, randn(rng));
        for (int c = 0; c < guard; ++c) b.X.set(t * b.xs + used + c, 1e30);
    }
    return b;
}

// ---- the fp64 reference (gdn_testing) ----------------------------------------------------------------
// The batch's live requests (not padding, not empty), each from its state in the pool's reference
// copy, which takes the new states; padding rows stay zero. One thread per request.
void ref_forward(const Layer& L, Pool& pl, const Batch& bt, int64_t padding_slot, std::vector<double>& out) {
    const Shape& s = L.s;
    const int cd = s.conv_dim();
    const int64_t od = static_cast<int64_t>(s.HV) * s.Dv;
    out.assign(static_cast<size_t>(bt.T) * od, 0.0);
    const size_t rp = pl.rec_per(), cp = pl.conv_per();
    std::vector<int> live;
    for (int r = 0; r + 1 < static_cast<int>(bt.cu.size()); ++r)
        if (bt.slots[r] != padding_slot && bt.cu[r + 1] > bt.cu[r]) live.push_back(r);
    std::vector<gdn::reference::Problem> problems(live.size());
    std::vector<std::vector<double>> outs(live.size());
    for (size_t i = 0; i < live.size(); ++i) {
        const int r = live[i];
        const int64_t st = bt.cu[r], len = bt.cu[r + 1] - st;
        const int64_t slot = bt.slots[r];
        gdn::reference::Problem& p = problems[i];
        p.num_k_heads = s.H;
        p.num_v_heads = s.HV;
        p.head_k_dim = s.Dk;
        p.head_v_dim = s.Dv;
        p.conv_kernel = s.Kc;
        p.cu_seqlens = {0, len};
        for (size_t k = 0; k < L.w.n(); ++k) p.conv_weight.push_back(L.w.get(k));
        p.A_log.assign(L.A_log.begin(), L.A_log.end());
        p.dt_bias.assign(L.dt_bias.begin(), L.dt_bias.end());
        for (int64_t t = st; t < st + len; ++t) {
            for (int c = 0; c < cd; ++c) p.mixed_qkv.push_back(bt.X.get(t * bt.xs + c));
            for (int c = 0; c < s.HV; ++c) p.a.push_back(bt.X.get(t * bt.xs + cd + c));
            for (int c = 0; c < s.HV; ++c) p.b.push_back(bt.X.get(t * bt.xs + cd + s.HV + c));
        }
        p.conv_state.assign(pl.conv_ref.begin() + pl.conv_at(slot), pl.conv_ref.begin() + pl.conv_at(slot) + cp);
        p.recurrent_state.assign(pl.rec_ref.begin() + pl.rec_at(slot), pl.rec_ref.begin() + pl.rec_at(slot) + rp);
    }
    std::vector<std::thread> threads;
    for (size_t i = 0; i < live.size(); ++i)
        threads.emplace_back([&, i] { outs[i] = gdn::reference::forward(problems[i]); });
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < live.size(); ++i) {
        const int r = live[i];
        const int64_t slot = bt.slots[r];
        std::copy(outs[i].begin(), outs[i].end(), out.begin() + bt.cu[r] * od);
        std::copy(problems[i].conv_state.begin(), problems[i].conv_state.end(), pl.conv_ref.begin() + pl.conv_at(slot));
        std::copy(problems[i].recurrent_state.begin(), problems[i].recurrent_state.end(),
                  pl.rec_ref.begin() + pl.rec_at(slot));
    }
}

// ---- one device run + all the checks -----------------------------------------------------------------
struct RunResult {
    gdn_status status = GDN_OK;
    double out_err = 0, state_err = 0;
    Bytes out;  // device output
};

constexpr size_t kGuard = 4096;

RunResult run_device(Plugin& P, const Layer& L, Pool& pl, const Batch& bt, int64_t padding_slot,
                     gdn_stream stream_override = nullptr) {
    (void)stream_override;
    const Shape& s = L.s;
    const int64_t od = static_cast<int64_t>(s.HV) * s.Dv;
    RunResult rr;
    const int B = static_cast<int>(bt.slots.size());
    void* d_x = P.alloc(std::max<size_t>(bt.X.b.size(), 16));
    P.h2d(d_x, bt.X.b.data(), bt.X.b.size());
    void* d_cu = P.alloc(8 * bt.cu.size());
    P.h2d(d_cu, bt.cu.data(), 8 * bt.cu.size());
    void* d_sl = P.alloc(8 * std::max(B, 1));
    if (B) P.h2d(d_sl, bt.slots.data(), 8 * B);
    const size_t es = dsize(s.dt), on = static_cast<size_t>(bt.T) * od;
    std::vector<unsigned char> poison((on + 2 * kGuard) * es, 0xFF);  // NaN in every dtype
    void* d_out = P.alloc(poison.size());
    P.h2d(d_out, poison.data(), poison.size());
    unsigned char* out_base = static_cast<unsigned char*>(d_out) + kGuard * es;

    gdn_forward_args a{};
    a.struct_size = sizeof(a);
    a.mode = bt.mode;
    a.num_k_heads = s.H;
    a.num_v_heads = s.HV;
    a.head_k_dim = s.Dk;
    a.head_v_dim = s.Dv;
    a.conv_kernel = s.Kc;
    a.activation_dtype = s.dt;
    a.num_tokens = bt.T;
    a.num_requests = B;
    a.padding_slot = padding_slot;
    const int cd = s.conv_dim();
    a.mixed_qkv = tensor(d_x, s.dt, {bt.T, cd}, {bt.xs, 1});
    a.a = tensor(static_cast<unsigned char*>(d_x) + cd * es, s.dt, {bt.T, s.HV}, {bt.xs, 1});
    a.b = tensor(static_cast<unsigned char*>(d_x) + (cd + s.HV) * es, s.dt, {bt.T, s.HV}, {bt.xs, 1});
    a.conv_weight = tensor(L.d_w, s.dt, {cd, s.Kc}, {s.Kc, 1});
    a.A_log = tensor(L.d_Alog, GDN_DTYPE_F32, {s.HV}, {1});
    a.dt_bias = tensor(L.d_dtb, GDN_DTYPE_F32, {s.HV}, {1});
    a.cu_seqlens = tensor(d_cu, GDN_DTYPE_I64, {B + 1}, {1});
    a.slots = tensor(d_sl, GDN_DTYPE_I64, {B}, {1});
    a.recurrent_state = tensor(pl.d_rec + pl.rec_per(), GDN_DTYPE_F32, {pl.nslots, s.HV, s.Dv, s.Dk},
                               {static_cast<int64_t>(2 * pl.rec_per()), static_cast<int64_t>(s.Dv) * s.Dk, s.Dk, 1});
    a.conv_state = tensor(static_cast<unsigned char*>(pl.d_conv) + pl.conv_per() * es, s.dt, {pl.nslots, cd, s.Kc - 1},
                          {static_cast<int64_t>(2 * pl.conv_per()), s.Kc - 1, 1});
    a.out = tensor(out_base, s.dt, {bt.T, od}, {od, 1});
    a.host_cu_seqlens = bt.cu.data();
    a.host_slots = bt.slots.data();

    rr.status = P.t->forward_gdn(P.stream, &a, P.eb());
    if (rr.status != GDN_OK) std::printf("  forward_gdn: status %d: %s\n", static_cast<int>(rr.status), P.msg);
    P.sync();

    std::vector<unsigned char> got(poison.size());
    P.d2h(got.data(), d_out, got.size());
    rr.out = Bytes(s.dt, on);
    std::memcpy(rr.out.b.data(), got.data() + kGuard * es, on * es);
    expect(std::equal(got.begin(), got.begin() + kGuard * es, poison.begin()) &&
               std::equal(got.end() - kGuard * es, got.end(), poison.end() - kGuard * es),
           "guard bands around the output were written (out-of-bounds write)");
    P.free(d_x);
    P.free(d_cu);
    P.free(d_sl);
    P.free(d_out);
    return rr;
}

double rel_l2(const std::vector<double>& got, const std::vector<double>& want) {
    return gdn::reference::relative_l2(got, want);
}

double tol_for(int dt) { return gdn::default_tolerance(static_cast<gdn::DType>(dt)).out; }

// Runs the batch on the device and the reference, and checks everything. Returns the output error.
double run_and_check(Plugin& P, const Layer& L, Pool& pl, const Batch& bt, int64_t padding_slot, const char* label,
                     Bytes* out_copy = nullptr) {
    const Shape& s = L.s;
    const int64_t od = static_cast<int64_t>(s.HV) * s.Dv;
    std::vector<float> rec_before = pl.rec;
    Bytes conv_before = pl.conv;
    RunResult rr = run_device(P, L, pl, bt, padding_slot);
    std::vector<double> ref;
    ref_forward(L, pl, bt, padding_slot, ref);
    if (out_copy) *out_copy = rr.out;
    expect(rr.status == GDN_OK, "%s: forward_gdn failed", label);

    // output: fully written, finite, padding rows zero, close to the reference
    std::vector<double> got(rr.out.n());
    size_t nonfinite = 0, pad_nonzero = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        got[i] = rr.out.get(i);
        if (!std::isfinite(got[i])) ++nonfinite;
    }
    const int B = static_cast<int>(bt.slots.size());
    std::vector<double> g2, r2;
    for (int r = 0; r < B; ++r)
        for (int64_t t = bt.cu[r]; t < bt.cu[r + 1]; ++t)
            for (int64_t c = 0; c < od; ++c) {
                if (bt.slots[r] == padding_slot) {
                    if (got[t * od + c] != 0.0) ++pad_nonzero;
                } else {
                    g2.push_back(got[t * od + c]);
                    r2.push_back(ref[t * od + c]);
                }
            }
    const double oerr = rel_l2(g2, r2);
    expect(nonfinite == 0, "%s: %zu output elements not written or not finite", label, nonfinite);
    expect(pad_nonzero == 0, "%s: %zu output elements of padding requests are not zero", label, pad_nonzero);
    expect(oerr <= tol_for(s.dt), "%s: output rel L2 %.3e > %.1e", label, oerr, tol_for(s.dt));

    // pool: participating slots close (rec) / exact (conv); everything else untouched
    std::vector<float> rec_now(pl.rec.size());
    P.d2h(rec_now.data(), pl.d_rec, rec_now.size() * 4);
    Bytes conv_now = pl.conv;
    P.d2h(conv_now.b.data(), pl.d_conv, conv_now.b.size());
    std::vector<char> live(pl.nslots, 0);
    for (int r = 0; r < B; ++r)
        if (bt.slots[r] != padding_slot && bt.cu[r + 1] > bt.cu[r]) live[bt.slots[r]] = 1;
    std::vector<double> gs, rs;
    size_t untouched_bad = 0, conv_bad = 0, state_nonfinite = 0;
    const size_t rp = pl.rec_per(), cp = pl.conv_per(), es = dsize(s.dt);
    for (int sl = 0; sl < pl.nslots; ++sl) {
        for (int layer = 0; layer < 2; ++layer) {
            const size_t ro = (static_cast<size_t>(sl) * 2 + layer) * rp,
                         co = (static_cast<size_t>(sl) * 2 + layer) * cp;
            if (live[sl] && layer == 1) {
                for (size_t i = 0; i < rp; ++i) {
                    gs.push_back(rec_now[ro + i]);
                    rs.push_back(pl.rec_ref[ro + i]);
                    if (!std::isfinite(rec_now[ro + i])) ++state_nonfinite;
                }
                for (size_t i = 0; i < cp; ++i) {
                    unsigned char want[4];
                    encode(s.dt, pl.conv_ref[co + i], want);
                    if (std::memcmp(want, conv_now.b.data() + (co + i) * es, es) != 0) ++conv_bad;
                }
            } else {
                if (std::memcmp(rec_now.data() + ro, rec_before.data() + ro, rp * 4) != 0) ++untouched_bad;
                if (std::memcmp(conv_now.b.data() + co * es, conv_before.b.data() + co * es, cp * es) != 0)
                    ++untouched_bad;
            }
        }
    }
    const double serr = rel_l2(gs, rs);
    expect(state_nonfinite == 0, "%s: %zu state values not finite", label, state_nonfinite);
    expect(serr <= tol_for(s.dt), "%s: recurrent state rel L2 %.3e > %.1e", label, serr, tol_for(s.dt));
    expect(conv_bad == 0, "%s: %zu conv-state values differ from the exact new conv state", label, conv_bad);
    expect(untouched_bad == 0, "%s: %zu slots/layers that the call must not touch were written", label, untouched_bad);
    std::printf("  %-34s out %.2e  state %.2e  (tol %.0e)\n", label, oerr, serr, tol_for(s.dt));
    // the device state is the next step's input; keep the images in step
    pl.rec = rec_now;
    pl.conv = conv_now;
    return oerr;
}

std::vector<int64_t> pick_slots(int B, int nslots, std::mt19937_64& rng, int64_t padding_slot) {
    std::vector<int64_t> all;
    for (int i = 0; i < nslots; ++i)
        if (i != padding_slot) all.push_back(i);
    std::shuffle(all.begin(), all.end(), rng);
    all.resize(B);
    return all;
}

// ---- scenarios -------------------------------------------------------------------------------------
void random_case(Plugin& P, uint64_t seed) {
    std::mt19937_64 rng(seed);
    Shape s;
    const int dts[3] = {GDN_DTYPE_F32, GDN_DTYPE_BF16, GDN_DTYPE_F16};
    s.dt = dts[rng() % 3];
    const int gvas[5] = {1, 2, 3, 4, 8};
    const int gva = gvas[rng() % 5];
    s.H = 1 + static_cast<int>(rng() % (gva >= 4 ? 2 : 3));
    s.HV = s.H * gva;
    const int dims[8] = {16, 32, 48, 64, 128, 128, 144, 256};
    s.Dk = dims[rng() % 8];
    s.Dv = dims[rng() % 8];
    s.Kc = 2 + static_cast<int>(rng() % 3);
    const int B = 1 + static_cast<int>(rng() % 6);
    const int64_t len_menu[14] = {0, 1, 1, 2, 3, 17, 63, 64, 65, 128, 130, 200, 257, 1};
    std::vector<int64_t> lens;
    const int64_t budget = 2'000'000'000LL / (static_cast<int64_t>(s.HV) * s.Dk * s.Dv);
    int64_t T = 0;
    for (int i = 0; i < B; ++i) {
        int64_t l = rng() % 4 == 0 ? static_cast<int64_t>(rng() % 300) : len_menu[rng() % 14];
        if (T + l > budget) l = 1;
        lens.push_back(l);
        T += l;
    }
    const bool use_pad = rng() % 3 == 0;
    const int nslots = 2 * B + 3;
    const int64_t padding_slot = use_pad ? nslots - 1 : -1;
    auto slots = pick_slots(B, nslots, rng, padding_slot);
    if (use_pad) slots[rng() % B] = padding_slot;
    const int dvs_menu[5] = {0, 16, 32, 64, 128};
    const int dvs = dvs_menu[rng() % 5];
    if (dvs)
        setenv("GDN_CUDA_DVS", std::to_string(dvs).c_str(), 1);
    else
        unsetenv("GDN_CUDA_DVS");
    P.reopen_stream();
    Layer L = make_layer(P, s, rng, rng() % 5 == 0);
    Pool pl = make_pool(P, s, nslots, rng, 0.1);
    Batch bt = make_batch(s, lens, slots, rng, 0.0);
    std::string lab = "seed " + std::to_string(seed);
    std::printf("case seed=%" PRIu64 ": %s B=%d T=%" PRId64 " lens=[", seed, s.str().c_str(), B, bt.T);
    for (size_t i = 0; i < lens.size(); ++i)
        std::printf("%s%" PRId64 "%s", i ? "," : "", lens[i], slots[i] == padding_slot ? "p" : "");
    std::printf("] dvs=%s\n", dvs ? std::to_string(dvs).c_str() : "auto");
    run_and_check(P, L, pl, bt, padding_slot, lab.c_str());
    unsetenv("GDN_CUDA_DVS");
    P.reopen_stream();
    free_pool(P, pl);
    free_layer(P, L);
}

// The batch and each request alone must give bitwise-equal outputs and states. The CUDA kernels
// are batch invariant, but the plugin does not declare GDN_FEATURE_BATCH_INVARIANT (which would
// put it under the conformance suite's serving-batch-invariance case); until it does, this holds
// it there.
void varlen_vs_single(Plugin& P, const Shape& s, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::printf("varlen vs one-by-one seed=%" PRIu64 ": %s\n", seed, s.str().c_str());
    const std::vector<int64_t> lens = {70, 0, 1, 3, 64, 129, 1, 250};
    const int B = static_cast<int>(lens.size());
    const int nslots = 2 * B + 1;
    Layer L = make_layer(P, s, rng, false);
    Pool pl = make_pool(P, s, nslots, rng, 0.1);
    const std::vector<float> rec0 = pl.rec;
    const Bytes conv0 = pl.conv;
    auto slots = pick_slots(B, nslots, rng, -1);
    Batch bt = make_batch(s, lens, slots, rng, 0.0);
    Bytes whole;
    run_and_check(P, L, pl, bt, -1, "batched", &whole);
    const std::vector<float> rec_batched = pl.rec;
    const Bytes conv_batched = pl.conv;
    // reset and run one by one
    pl.rec = rec0;
    pl.conv = conv0;
    pl.rec_ref.assign(rec0.begin(), rec0.end());
    for (size_t i = 0; i < conv0.n(); ++i) pl.conv_ref[i] = conv0.get(i);
    P.h2d(pl.d_rec, rec0.data(), rec0.size() * 4);
    P.h2d(pl.d_conv, conv0.b.data(), conv0.b.size());
    const size_t od = static_cast<size_t>(s.HV) * s.Dv, es = dsize(s.dt);
    size_t diff = 0;
    for (int r = 0; r < B; ++r) {
        Batch one;
        one.cu = {0, lens[r]};
        one.slots = {slots[r]};
        one.T = lens[r];
        one.xs = bt.xs;
        one.mode = lens[r] == 1 ? GDN_MODE_DECODE : GDN_MODE_EXTEND;
        one.X = Bytes(s.dt, static_cast<size_t>(std::max<int64_t>(one.T, 1)) * bt.xs);
        std::memcpy(one.X.b.data(), bt.X.b.data() + bt.cu[r] * bt.xs * es, one.T * bt.xs * es);
        Bytes o;
        char lab[64];
        std::snprintf(lab, sizeof lab, "alone: request %d (len %" PRId64 ")", r, lens[r]);
        run_and_check(P, L, pl, one, -1, lab, &o);
        if (std::memcmp(o.b.data(), whole.b.data() + bt.cu[r] * od * es, one.T * od * es) != 0) ++diff;
    }
    expect(diff == 0, "varlen: %zu requests' outputs differ bitwise between batched and alone", diff);
    expect(pl.rec == rec_batched && pl.conv.b == conv_batched.b,
           "varlen: pool differs bitwise between batched and alone");
    free_pool(P, pl);
    free_layer(P, L);
}

// A key head's value heads in one prep block (GDN_CUDA_PREP_HEADS=all): at GVA 2 the prep kernel
// then inverts both heads' T at once (its pair path), which unforced only batches of more than
// 4 x SMs (chunk, key head) pairs get. The caller's own setting is restored.
void prep_heads_grouped(Plugin& P, const Shape& s, uint64_t seed, const std::vector<int64_t>& lens, bool aligned) {
    const char* before = std::getenv("GDN_CUDA_PREP_HEADS");
    const std::string saved = before ? before : "";
    setenv("GDN_CUDA_PREP_HEADS", "all", 1);
    P.reopen_stream();
    std::mt19937_64 rng(seed);
    std::printf("grouped prep heads seed=%" PRIu64 ": %s, x rows %s\n", seed, s.str().c_str(),
                aligned ? "16-byte aligned" : "unaligned");
    const int B = static_cast<int>(lens.size()), nslots = 8;
    Layer L = make_layer(P, s, rng, false);
    Pool pl = make_pool(P, s, nslots, rng, 0.1);
    auto slots = pick_slots(B, nslots, rng, -1);
    Batch bt = make_batch(s, lens, slots, rng, 0.0, aligned);
    run_and_check(P, L, pl, bt, -1, "grouped prep heads");
    free_pool(P, pl);
    free_layer(P, L);
    if (before)
        setenv("GDN_CUDA_PREP_HEADS", saved.c_str(), 1);
    else
        unsetenv("GDN_CUDA_PREP_HEADS");
    P.reopen_stream();
}

// Captures one decode step in a CUDA graph and replays it with new inputs and new slots written
// into the same device buffers. The graph is captured on the plugin's own stream (found through
// stream_native) or, with `caller_stream`, on a stream this program creates and hands to the
// plugin with stream_wrap, as an engine does with its own stream.
void graph_replay(Plugin& P, uint64_t seed, bool caller_stream) {
    std::mt19937_64 rng(seed);
    Shape s{2, 8, 128, 128, 4, GDN_DTYPE_BF16};
    const int B = 8, nslots = 24;
    const int64_t padding_slot = 0;
    std::printf("graph capture + replay seed=%" PRIu64 ": %s, B=%d decode, slots change between replays, on %s\n", seed,
                s.str().c_str(), B, caller_stream ? "the caller's stream (stream_wrap)" : "the plugin's stream");
    Layer L = make_layer(P, s, rng, false);
    Pool pl = make_pool(P, s, nslots, rng, 0.1);
    auto slots = pick_slots(B, nslots, rng, padding_slot);
    slots[B - 1] = padding_slot;
    Batch bt = make_batch(s, std::vector<int64_t>(B, 1), slots, rng, 0.0);
    const int cd = s.conv_dim(), es = static_cast<int>(dsize(s.dt));
    const int64_t od = static_cast<int64_t>(s.HV) * s.Dv;
    void* d_x = P.alloc(bt.X.b.size());
    void* d_cu = P.alloc(8 * (B + 1));
    void* d_sl = P.alloc(8 * B);
    void* d_out = P.alloc(B * od * es);
    P.h2d(d_cu, bt.cu.data(), 8 * (B + 1));
    gdn_forward_args a{};
    a.struct_size = sizeof(a);
    a.mode = GDN_MODE_DECODE;
    a.num_k_heads = s.H;
    a.num_v_heads = s.HV;
    a.head_k_dim = s.Dk;
    a.head_v_dim = s.Dv;
    a.conv_kernel = s.Kc;
    a.activation_dtype = s.dt;
    a.num_tokens = B;
    a.num_requests = B;
    a.padding_slot = padding_slot;
    a.mixed_qkv = tensor(d_x, s.dt, {B, cd}, {bt.xs, 1});
    a.a = tensor(static_cast<unsigned char*>(d_x) + cd * es, s.dt, {B, s.HV}, {bt.xs, 1});
    a.b = tensor(static_cast<unsigned char*>(d_x) + (cd + s.HV) * es, s.dt, {B, s.HV}, {bt.xs, 1});
    a.conv_weight = tensor(L.d_w, s.dt, {cd, s.Kc}, {s.Kc, 1});
    a.A_log = tensor(L.d_Alog, GDN_DTYPE_F32, {s.HV}, {1});
    a.dt_bias = tensor(L.d_dtb, GDN_DTYPE_F32, {s.HV}, {1});
    a.cu_seqlens = tensor(d_cu, GDN_DTYPE_I64, {B + 1}, {1});
    a.slots = tensor(d_sl, GDN_DTYPE_I64, {B}, {1});
    a.recurrent_state = tensor(pl.d_rec + pl.rec_per(), GDN_DTYPE_F32, {nslots, s.HV, s.Dv, s.Dk},
                               {static_cast<int64_t>(2 * pl.rec_per()), static_cast<int64_t>(s.Dv) * s.Dk, s.Dk, 1});
    a.conv_state = tensor(static_cast<unsigned char*>(pl.d_conv) + pl.conv_per() * es, s.dt, {nslots, cd, s.Kc - 1},
                          {static_cast<int64_t>(2 * pl.conv_per()), s.Kc - 1, 1});
    a.out = tensor(d_out, s.dt, {B, od}, {od, 1});
    a.host_cu_seqlens = bt.cu.data();
    a.host_slots = bt.slots.data();
    P.h2d(d_x, bt.X.b.data(), bt.X.b.size());
    P.h2d(d_sl, slots.data(), 8 * B);

    cudaStream_t cs = nullptr;
    gdn_stream gs = P.stream;
    if (caller_stream) {
        expect(cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking) == cudaSuccess, "graph: cudaStreamCreate failed");
        P.check(P.t->stream_wrap(0, cs, &gs, P.eb()), "stream_wrap");
    }
    void* native = nullptr;
    P.check(P.t->stream_native(gs, &native, P.eb()), "stream_native");
    if (caller_stream)
        expect(native == static_cast<void*>(cs), "stream_native of a wrapped stream is not the caller's stream");
    cs = static_cast<cudaStream_t>(native);
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    bool ok = cudaStreamBeginCapture(cs, cudaStreamCaptureModeRelaxed) == cudaSuccess;
    const gdn_status st = P.t->forward_gdn(gs, &a, P.eb());
    ok = cudaStreamEndCapture(cs, &graph) == cudaSuccess && ok;
    expect(ok && st == GDN_OK, "graph: capture of a decode step failed (status %d: %s)", static_cast<int>(st), P.msg);
    if (!ok || st != GDN_OK) return;
    expect(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess, "graph: instantiate failed");
    for (int step = 0; step < 4; ++step) {
        if (step > 0) {  // new tokens and a new slot assignment, same buffers
            std::shuffle(slots.begin(), slots.end() - 1, rng);
            Batch nb = make_batch(s, std::vector<int64_t>(B, 1), slots, rng, 0.0);
            bt.X = nb.X;
            bt.slots = slots;
            P.h2d(d_x, bt.X.b.data(), bt.X.b.size());
            P.h2d(d_sl, slots.data(), 8 * B);
        }
        std::vector<unsigned char> poison(B * od * es, 0xFF);
        P.h2d(d_out, poison.data(), poison.size());
        expect(cudaGraphLaunch(exec, cs) == cudaSuccess, "graph: launch failed");
        // the graph's stream: a caller's stream is not ordered with the plugin's (P.sync()), and
        // the reads below would otherwise race the replay (seen under compute-sanitizer, which
        // slows the kernels)
        expect(cudaStreamSynchronize(cs) == cudaSuccess, "graph: synchronize failed");
        std::vector<double> ref;
        ref_forward(L, pl, bt, padding_slot, ref);
        Bytes o(s.dt, B * od);
        P.d2h(o.b.data(), d_out, o.b.size());
        std::vector<double> g, w;
        size_t bad = 0;
        for (int r = 0; r < B; ++r)
            for (int64_t c = 0; c < od; ++c) {
                const double v = o.get(r * od + c);
                if (!std::isfinite(v)) ++bad;
                if (slots[r] == padding_slot) {
                    if (v != 0) ++bad;
                    continue;
                }
                g.push_back(v);
                w.push_back(ref[r * od + c]);
            }
        std::vector<float> rec_now(pl.rec.size());
        P.d2h(rec_now.data(), pl.d_rec, rec_now.size() * 4);
        std::vector<double> gs, ws;
        for (int r = 0; r < B - 1; ++r)
            for (size_t i = 0; i < pl.rec_per(); ++i) {
                gs.push_back(rec_now[pl.rec_at(slots[r]) + i]);
                ws.push_back(pl.rec_ref[pl.rec_at(slots[r]) + i]);
            }
        const double oe = rel_l2(g, w), se = rel_l2(gs, ws);
        std::printf("  replay %d: out %.2e  state %.2e\n", step, oe, se);
        expect(bad == 0, "graph replay %d: %zu outputs unwritten, non-finite or non-zero padding", step, bad);
        expect(oe <= 5e-3 && se <= 5e-3, "graph replay %d: error out %.2e state %.2e", step, oe, se);
        // padding slot untouched
        expect(std::memcmp(rec_now.data() + pl.rec_at(padding_slot), pl.rec.data() + pl.rec_at(padding_slot),
                           pl.rec_per() * 4) == 0,
               "graph replay %d: the padding slot's state was written", step);
        pl.rec = rec_now;
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    if (caller_stream) {  // the wrapper, then the caller's stream
        P.check(P.t->stream_destroy(gs, P.eb()), "stream_destroy (wrapper)");
        expect(cudaStreamDestroy(cs) == cudaSuccess, "cudaStreamDestroy of the caller's stream failed");
    }
    P.free(d_x);
    P.free(d_cu);
    P.free(d_sl);
    P.free(d_out);
    free_pool(P, pl);
    free_layer(P, L);
}

// ---- golden files (read by gdn_testing) ------------------------------------------------------------
void golden(Plugin& P, const std::string& path) {
    const gdn::Case c = gdn::load_golden(path);
    const gdn::reference::Problem& p = c.problem;
    Shape s;
    s.H = p.num_k_heads;
    s.HV = p.num_v_heads;
    s.Dk = p.head_k_dim;
    s.Dv = p.head_v_dim;
    s.Kc = p.conv_kernel;
    s.dt = static_cast<int>(c.activation_dtype);
    std::printf("golden %s: %s mode=%s\n", c.name.c_str(), s.str().c_str(), gdn::mode_name(c.mode));
    const int B = static_cast<int>(p.num_requests());
    const int cd = s.conv_dim();
    std::mt19937_64 rng(1);
    Layer L;
    L.s = s;
    L.w = Bytes(s.dt, p.conv_weight.size());
    for (size_t i = 0; i < p.conv_weight.size(); ++i) L.w.set(i, p.conv_weight[i]);
    for (double v : p.A_log) L.A_log.push_back(static_cast<float>(v));
    for (double v : p.dt_bias) L.dt_bias.push_back(static_cast<float>(v));
    L.d_w = P.alloc(L.w.b.size());
    P.h2d(L.d_w, L.w.b.data(), L.w.b.size());
    L.d_Alog = P.alloc(4 * s.HV);
    P.h2d(L.d_Alog, L.A_log.data(), 4 * s.HV);
    L.d_dtb = P.alloc(4 * s.HV);
    P.h2d(L.d_dtb, L.dt_bias.data(), 4 * s.HV);
    // scattered slots: request r -> slot 2r+1 of a pool of 2B+2 (slot 0 is the padding slot)
    const int nslots = 2 * B + 2;
    Pool pl = make_pool(P, s, nslots, rng, 0.1);
    std::vector<int64_t> slots(B);
    for (int r = 0; r < B; ++r) {
        slots[r] = 2 * r + 1;
        for (size_t i = 0; i < pl.rec_per(); ++i)
            pl.rec[pl.rec_at(slots[r]) + i] = static_cast<float>(p.recurrent_state[r * pl.rec_per() + i]);
        for (size_t i = 0; i < pl.conv_per(); ++i)
            pl.conv.set(pl.conv_at(slots[r]) + i, p.conv_state[r * pl.conv_per() + i]);
    }
    P.h2d(pl.d_rec, pl.rec.data(), pl.rec.size() * 4);
    P.h2d(pl.d_conv, pl.conv.b.data(), pl.conv.b.size());
    Batch bt;
    bt.cu = p.cu_seqlens;
    bt.slots = slots;
    bt.T = p.num_tokens();
    bt.xs = cd + 2 * s.HV;
    bt.mode = static_cast<int>(c.mode);
    bt.X = Bytes(s.dt, static_cast<size_t>(std::max<int64_t>(bt.T, 1)) * bt.xs);
    for (int64_t t = 0; t < bt.T; ++t) {
        for (int k = 0; k < cd; ++k) bt.X.set(t * bt.xs + k, p.mixed_qkv[t * cd + k]);
        for (int k = 0; k < s.HV; ++k) bt.X.set(t * bt.xs + cd + k, p.a[t * s.HV + k]);
        for (int k = 0; k < s.HV; ++k) bt.X.set(t * bt.xs + cd + s.HV + k, p.b[t * s.HV + k]);
    }
    RunResult rr = run_device(P, L, pl, bt, 0);
    expect(rr.status == GDN_OK, "golden %s: forward_gdn failed", c.name.c_str());
    const gdn::Case::Expected& want = *c.expected;
    std::vector<double> got(rr.out.n());
    size_t nonfinite = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        got[i] = rr.out.get(i);
        if (!std::isfinite(got[i])) ++nonfinite;
    }
    const double oe = rel_l2(got, want.out);
    std::vector<float> rec_now(pl.rec.size());
    P.d2h(rec_now.data(), pl.d_rec, rec_now.size() * 4);
    Bytes conv_now = pl.conv;
    P.d2h(conv_now.b.data(), pl.d_conv, conv_now.b.size());
    std::vector<double> gs, ws;
    size_t conv_bad = 0;
    for (int r = 0; r < B; ++r) {
        for (size_t i = 0; i < pl.rec_per(); ++i) {
            gs.push_back(rec_now[pl.rec_at(slots[r]) + i]);
            ws.push_back(want.recurrent_state[r * pl.rec_per() + i]);
        }
        for (size_t i = 0; i < pl.conv_per(); ++i)
            if (conv_now.get(pl.conv_at(slots[r]) + i) != want.conv_state[r * pl.conv_per() + i]) ++conv_bad;
    }
    const double se = rel_l2(gs, ws);
    const double tol = tol_for(s.dt);
    std::printf("  golden %-34s out %.2e  state %.2e  conv-state mismatches %zu  (tol %.0e)\n", c.name.c_str(), oe, se,
                conv_bad, tol);
    expect(nonfinite == 0, "golden %s: %zu outputs non-finite", c.name.c_str(), nonfinite);
    expect(oe <= tol && se <= tol && conv_bad == 0, "golden %s: out %.2e state %.2e conv mismatches %zu",
           c.name.c_str(), oe, se, conv_bad);
    free_pool(P, pl);
    free_layer(P, L);
}

}  // namespace

int main(int argc, char** argv) {
    std::string plugin_path =
#ifdef GDN_CUDA_PLUGIN_PATH
        GDN_CUDA_PLUGIN_PATH;
#else
        "libgdn_cuda.so";
#endif
    uint64_t seed = std::random_device{}();
    int cases = 24;
    std::string golden_dir;
    bool seed_given = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--plugin" && i + 1 < argc)
            plugin_path = argv[++i];
        else if (a == "--seed" && i + 1 < argc) {
            seed = std::stoull(argv[++i]);
            seed_given = true;
        } else if (a == "--cases" && i + 1 < argc)
            cases = std::stoi(argv[++i]);
        else if (a == "--golden" && i + 1 < argc)
            golden_dir = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--plugin PATH] [--seed N] [--cases N] [--golden DIR]\n", argv[0]);
            return 2;
        }
    }
    std::printf("gdn_cuda_check: plugin %s, seed %" PRIu64 " (rerun: %s --seed %" PRIu64 ")\n", plugin_path.c_str(),
                seed, argv[0], seed);
    Plugin P;
    if (!P.load(plugin_path.c_str())) {
        std::printf("SKIP: the CUDA plugin cannot run here\n");
        return 77;
    }
    expect(std::strcmp(P.t->name, "cuda") == 0 && P.t->priority == 100, "table: name/priority");
    gdn_device_properties dp{};
    dp.struct_size = sizeof(dp);
    P.check(P.t->device_properties(0, &dp, P.eb()), "device_properties");
    std::printf("device 0: %s, %d SMs, %.1f GiB, cc %d.%d, warp %d\n", dp.name, dp.compute_units,
                dp.memory_bytes / 1073741824.0, dp.compute_major, dp.compute_minor, dp.warp_size);
    expect(dp.warp_size == 32 && dp.host_accessible == 0 && dp.kind == GDN_DEVICE_GPU, "device properties");

    for (int i = 0; i < cases; ++i) random_case(P, seed + static_cast<uint64_t>(i));
    if (!seed_given || cases > 1) {
        varlen_vs_single(P, Shape{2, 4, 128, 128, 4, GDN_DTYPE_BF16}, seed + 1002);
        varlen_vs_single(P, Shape{1, 2, 32, 64, 2, GDN_DTYPE_F16}, seed + 1003);
        for (bool aligned : {false, true}) {
            prep_heads_grouped(P, Shape{2, 4, 128, 128, 4, GDN_DTYPE_BF16}, seed + 1009, {200, 1, 130, 64}, aligned);
            prep_heads_grouped(P, Shape{1, 2, 64, 32, 3, GDN_DTYPE_F16}, seed + 1010, {150, 70}, aligned);
            prep_heads_grouped(P, Shape{2, 4, 64, 64, 4, GDN_DTYPE_F32}, seed + 1011, {129, 3}, aligned);
        }
        {  // Qwen3-Next shape, mixed batch
            std::mt19937_64 rng(seed + 1006);
            Shape s{16, 32, 128, 128, 4, GDN_DTYPE_BF16};
            std::printf("qwen3-next shape mixed batch seed=%" PRIu64 "\n", seed + 1006);
            Layer L = make_layer(P, s, rng, false);
            Pool pl = make_pool(P, s, 12, rng, 0.1);
            auto slots = pick_slots(6, 12, rng, 0);
            slots[2] = 0;
            Batch bt = make_batch(s, {300, 1, 64, 0, 1, 700}, slots, rng, 0.0);
            run_and_check(P, L, pl, bt, 0, "qwen3-next mixed");
            free_pool(P, pl);
            free_layer(P, L);
        }
        graph_replay(P, seed + 1007, false);
        graph_replay(P, seed + 1008, true);
    }
    if (!golden_dir.empty()) {
        const char* names[] = {"tiny_f32_extend", "tiny_f32_decode",       "strong_decay_f32",       "gva3_bf16_extend",
                               "mha_f16_fresh",   "qwen3next_bf16_decode", "qwen35_0p8b_bf16_extend"};
        for (const char* n : names) {
            try {
                golden(P, golden_dir + "/" + n + ".safetensors");
            } catch (const std::exception& e) {
                die("golden: %s%s", e.what());
            }
        }
    }
    P.check(P.t->stream_destroy(P.stream, P.eb()), "stream_destroy");
    P.t->shutdown();
    std::printf("%s: %d checks, %d failed (seed %" PRIu64 ")\n", g_failures ? "FAILED" : "PASSED", g_checks, g_failures,
                seed);
    return g_failures ? 1 : 0;
}

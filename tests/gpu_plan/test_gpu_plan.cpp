// gdn_plan.hpp, the host side of the CUDA and ROCm plugins' forward call, on random batches with
// printed seeds: what it refuses (and how it names the argument), and that its chunk list, scratch
// layout and kernel shapes cover exactly the work and fit what the kernels assume.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gdn_plan.hpp"

using namespace gdn_gpu;

namespace {

uint64_t seed_for(const char* what) {
    const uint64_t s = std::random_device{}() * 2654435761ull + std::random_device{}();
    std::printf("%s: seed %llu\n", what, static_cast<unsigned long long>(s));
    return s;
}

gdn_capabilities gpu_caps() {  // what the CUDA and ROCm plugins declare
    gdn_capabilities c{};
    c.struct_size = sizeof c;
    c.activation_dtypes = (1u << GDN_DTYPE_F32) | (1u << GDN_DTYPE_BF16) | (1u << GDN_DTYPE_F16);
    c.head_k_dim = {16, 256, 16};
    c.head_v_dim = {16, 256, 16};
    c.conv_kernels = (1u << 2) | (1u << 3) | (1u << 4);
    for (int r = 1; r <= 8; ++r) c.gva_ratios |= 1u << r;
    c.modes = 7u;
    c.deterministic = 1;
    return c;
}

gdn_tensor tensor(void* data, std::vector<int64_t> shape, std::vector<int64_t> strides) {
    gdn_tensor t{};
    t.data = data;
    t.rank = static_cast<int32_t>(shape.size());
    for (std::size_t i = 0; i < shape.size(); ++i) {
        t.shape[i] = shape[i];
        t.strides[i] = strides[i];
    }
    return t;
}

// A valid call (as the host builds it) for H=2, HV=4, Dk=Dv=64, Kc=4 over `lens`.
struct Call {
    std::vector<int64_t> cu{0}, slots;
    alignas(16) float state[4];
    gdn_forward_args a{};
    Call(const std::vector<int64_t>& lens, int64_t padding_slot, std::vector<int64_t> slot_of)
        : slots(std::move(slot_of)) {
        for (int64_t l : lens) cu.push_back(cu.back() + l);
        const int64_t H = 2, HV = 4, Dk = 64, Dv = 64, Kc = 4, C = 2 * H * Dk + HV * Dv, T = cu.back();
        a.struct_size = sizeof a;
        a.mode = GDN_MODE_MIXED;
        a.num_k_heads = H;
        a.num_v_heads = HV;
        a.head_k_dim = Dk;
        a.head_v_dim = Dv;
        a.conv_kernel = Kc;
        a.activation_dtype = GDN_DTYPE_BF16;
        a.num_tokens = T;
        a.num_requests = static_cast<int64_t>(lens.size());
        a.padding_slot = padding_slot;
        a.mixed_qkv = tensor(state, {T, C}, {C + 2 * HV, 1});
        a.a = tensor(state, {T, HV}, {C + 2 * HV, 1});
        a.b = tensor(state, {T, HV}, {C + 2 * HV, 1});
        a.conv_weight = tensor(state, {C, Kc}, {Kc, 1});
        a.out = tensor(state, {T, HV * Dv}, {HV * Dv, 1});
        a.recurrent_state = tensor(state, {padding_slot + 1, HV, Dv, Dk}, {3 * HV * Dv * Dk, Dv * Dk, Dk, 1});
        a.conv_state = tensor(state, {padding_slot + 1, C, Kc - 1}, {3 * C * (Kc - 1), Kc - 1, 1});
        a.host_cu_seqlens = cu.data();
        a.host_slots = slots.data();
    }
};

gdn_status check(const gdn_forward_args& a, std::string& message) {
    char text[256] = {0};
    const gdn_status s = check_forward_args(a, gpu_caps(), "TEST", gdn_errbuf{text, sizeof text});
    message = text;
    return s;
}

}  // namespace

TEST_CASE("a valid call passes; each thing outside the capabilities or the layout is refused by name") {
    Call ok({3, 1, 0, 70}, 9, {0, 1, 2, 9});
    std::string msg;
    REQUIRE(check(ok.a, msg) == GDN_OK);
    CHECK(msg.empty());

    struct Bad {
        const char* name;
        void (*edit)(gdn_forward_args&);
        gdn_status status;
        const char* says;
    };
    const Bad cases[] = {
        {"i32 activations", [](gdn_forward_args& a) { a.activation_dtype = GDN_DTYPE_I32; }, GDN_ERR_UNSUPPORTED,
         "activation_dtype: 3"},
        {"negative dtype", [](gdn_forward_args& a) { a.activation_dtype = -1; }, GDN_ERR_UNSUPPORTED,
         "activation_dtype: -1"},
        {"Dk 24", [](gdn_forward_args& a) { a.head_k_dim = 24; }, GDN_ERR_UNSUPPORTED,
         "head_k_dim: 24 unsupported (multiples of 16 in 16..256)"},
        {"Dv 272", [](gdn_forward_args& a) { a.head_v_dim = 272; }, GDN_ERR_UNSUPPORTED, "head_v_dim: 272"},
        {"Kc 5", [](gdn_forward_args& a) { a.conv_kernel = 5; }, GDN_ERR_UNSUPPORTED, "conv_kernel: 5"},
        {"Kc 40", [](gdn_forward_args& a) { a.conv_kernel = 40; }, GDN_ERR_UNSUPPORTED, "conv_kernel: 40"},
        {"GVA 9", [](gdn_forward_args& a) { a.num_v_heads = 18; }, GDN_ERR_UNSUPPORTED,
         "num_v_heads / num_k_heads: 18 / 2"},
        {"HV not a multiple of H", [](gdn_forward_args& a) { a.num_v_heads = 3; }, GDN_ERR_UNSUPPORTED,
         "num_v_heads / num_k_heads: 3 / 2"},
        {"mode 3", [](gdn_forward_args& a) { a.mode = 3; }, GDN_ERR_UNSUPPORTED, "mode: 3"},
        {"strided last dimension of a", [](gdn_forward_args& a) { a.a.strides[1] = 2; }, GDN_ERR_INVALID_ARGUMENT,
         "mixed_qkv/a/b: layout"},
        {"conv_weight not packed", [](gdn_forward_args& a) { a.conv_weight.strides[0] = 5; }, GDN_ERR_INVALID_ARGUMENT,
         "conv_weight: layout"},
        {"out rows not packed", [](gdn_forward_args& a) { a.out.strides[0] += 8; }, GDN_ERR_INVALID_ARGUMENT,
         "out: layout"},
        {"state not packed within a slot", [](gdn_forward_args& a) { a.recurrent_state.strides[2] = 65; },
         GDN_ERR_INVALID_ARGUMENT, "recurrent_state: layout"},
        {"conv state of rank 2", [](gdn_forward_args& a) { a.conv_state.rank = 2; }, GDN_ERR_INVALID_ARGUMENT,
         "conv_state: layout"},
        {"state slots not 16-byte aligned", [](gdn_forward_args& a) { a.recurrent_state.strides[0] += 1; },
         GDN_ERR_INVALID_ARGUMENT, "16-byte alignment"},
        {"state data not 16-byte aligned",
         [](gdn_forward_args& a) { a.recurrent_state.data = static_cast<char*>(a.recurrent_state.data) + 4; },
         GDN_ERR_INVALID_ARGUMENT, "16-byte alignment"},
        {"no host lengths", [](gdn_forward_args& a) { a.host_cu_seqlens = nullptr; }, GDN_ERR_INVALID_ARGUMENT,
         "host_cu_seqlens: NULL"},
        {"no host slots", [](gdn_forward_args& a) { a.host_slots = nullptr; }, GDN_ERR_INVALID_ARGUMENT,
         "host_slots: NULL"},
        {"struct shorter than ABI 1.0's",
         [](gdn_forward_args& a) { a.struct_size = GDN_FORWARD_ARGS_MIN_SIZE_V1_0 - 8; }, GDN_ERR_INVALID_ARGUMENT,
         "struct_size"},
        // ABI 1.2 serving features: not in the GPU kernels yet, refused by name.
        {"bf16 state", [](gdn_forward_args& a) { a.state_dtype = GDN_DTYPE_BF16; }, GDN_ERR_UNSUPPORTED,
         "state_dtype: not supported by the TEST backend"},
        {"f16 state", [](gdn_forward_args& a) { a.state_dtype = GDN_DTYPE_F16; }, GDN_ERR_UNSUPPORTED, "state_dtype"},
        {"write slots",
         [](gdn_forward_args& a) {
             a.host_write_slots = a.host_slots;
             a.write_slots.data = const_cast<int64_t*>(a.host_slots);
         },
         GDN_ERR_UNSUPPORTED, "write_slots"},
        {"no output", [](gdn_forward_args& a) { a.out.data = nullptr; }, GDN_ERR_UNSUPPORTED, "out (no output)"},
        {"accepted",
         [](gdn_forward_args& a) {
             a.host_accepted = a.host_slots;
             a.accepted.data = const_cast<int64_t*>(a.host_slots);
         },
         GDN_ERR_UNSUPPORTED, "accepted"},
        {"checkpoints", [](gdn_forward_args& a) { a.num_checkpoints = 1; }, GDN_ERR_UNSUPPORTED, "checkpoints"},
    };
    for (const Bad& b : cases) {
        INFO(b.name);
        Call c({3, 1, 0, 70}, 9, {0, 1, 2, 9});
        b.edit(c.a);
        const gdn_status s = check(c.a, msg);
        INFO("message: " << msg);
        CHECK(s == b.status);
        CHECK(msg.find(b.says) != std::string::npos);
    }
    // A host of ABI 1.0 or 1.1 passes the shorter struct: accepted, and the 1.2 fields beyond it
    // are never read (here they hold values that would be refused).
    Call old({3, 1, 0, 70}, 9, {0, 1, 2, 9});
    old.a.struct_size = GDN_FORWARD_ARGS_MIN_SIZE_V1_0;
    old.a.state_dtype = GDN_DTYPE_BF16;
    old.a.num_checkpoints = 5;
    CHECK(check(old.a, msg) == GDN_OK);
    // An empty batch needs no host indices.
    Call empty({}, 9, {});
    empty.a.host_cu_seqlens = nullptr;
    empty.a.host_slots = nullptr;
    CHECK(check(empty.a, msg) == GDN_OK);
}

TEST_CASE("the chunk list covers every token of every live extend request exactly once, and nothing else") {
    std::mt19937_64 rng(seed_for("chunk list"));
    for (int trial = 0; trial < 200; ++trial) {
        const int B = 1 + int(rng() % 12);
        const int64_t pad = 40;
        std::vector<int64_t> lens, slots;
        for (int r = 0; r < B; ++r) {
            const int kind = int(rng() % 5);
            lens.push_back(kind == 0 ? 0 : kind == 1 ? 1 : kind == 2 ? 2 + int64_t(rng() % 63) : int64_t(rng() % 300));
            slots.push_back(rng() % 4 == 0 ? pad : r);
        }
        Call c(lens, pad, slots);
        std::vector<ChunkDesc> chunks{{-1, -1, -1}};  // build_chunks must replace what was there
        build_chunks(c.a, chunks);
        std::vector<int> covered(std::size_t(c.a.num_tokens), 0);
        for (const ChunkDesc& ch : chunks) {
            REQUIRE(ch.r >= 0);
            REQUIRE(ch.r < B);
            const int64_t st = c.cu[std::size_t(ch.r)], en = c.cu[std::size_t(ch.r) + 1];
            CHECK(slots[std::size_t(ch.r)] != pad);
            CHECK(en - st >= 2);
            CHECK(ch.n >= 1);
            CHECK(ch.n <= kChunkTokens);
            CHECK((ch.c0 - st) % kChunkTokens == 0);  // chunks start at the request's start + 64k
            CHECK(ch.c0 + ch.n <= en);
            for (int64_t t = ch.c0; t < ch.c0 + ch.n; ++t) ++covered[std::size_t(t)];
        }
        for (int r = 0; r < B; ++r) {
            const bool live_extend = lens[std::size_t(r)] >= 2 && slots[std::size_t(r)] != pad;
            for (int64_t t = c.cu[std::size_t(r)]; t < c.cu[std::size_t(r) + 1]; ++t) {
                INFO("request " << r << " token " << t);
                REQUIRE(covered[std::size_t(t)] == (live_extend ? 1 : 0));
            }
        }
        const RequestMix mix = scan_requests(c.a);
        int64_t live = 0;
        bool decode = false, extend = false;
        for (int r = 0; r < B; ++r) {
            decode |= lens[std::size_t(r)] == 1;
            extend |= lens[std::size_t(r)] >= 2;
            live += lens[std::size_t(r)] >= 2 && slots[std::size_t(r)] != pad;
        }
        CHECK(mix.decode == decode);
        CHECK(mix.extend == extend);
        CHECK(mix.live_extend == live);
    }
}

TEST_CASE("the prefill scratch regions are 256-byte aligned, in order, disjoint and large enough") {
    std::mt19937_64 rng(seed_for("scratch"));
    for (int trial = 0; trial < 200; ++trial) {
        const int64_t T = 1 + int64_t(rng() % 100000);
        const int H = 1 + int(rng() % 32), HV = H * (1 + int(rng() % 8)), Dk = 16 * (1 + int(rng() % 16));
        const bool exact = rng() % 2;
        const std::size_t nchunks = std::size_t(rng() % 2000), es = exact ? 4 : 2;
        const PrefillScratch s = prefill_scratch(T, H, HV, Dk, exact, nchunks);
        const std::size_t offsets[] = {s.qk, s.tmat, s.qkm, s.gates, s.chunks, s.bytes};
        const std::size_t need[] = {std::size_t(T) * 2 * H * Dk * es, std::size_t(T) * HV * kChunkTokens * es,
                                    std::size_t(T) * HV * kChunkTokens * es, std::size_t(T) * HV * 16,
                                    nchunks * sizeof(ChunkDesc)};
        CHECK(s.qk == 0);
        for (int i = 0; i < 5; ++i) {
            INFO("region " << i << " of T=" << T << " H=" << H << " HV=" << HV << " Dk=" << Dk);
            CHECK(offsets[i] % 256 == 0);
            CHECK(offsets[i + 1] >= offsets[i] + need[i]);
            CHECK(offsets[i + 1] < offsets[i] + need[i] + 256);  // no more than the alignment wasted
        }
    }
}

TEST_CASE("the Dv slice divides Dv, fits, honours a preference, and is the one estimated fastest") {
    std::mt19937_64 rng(seed_for("dv slice"));
    for (int trial = 0; trial < 500; ++trial) {
        const int Dv = 16 * (1 + int(rng() % 16)), units = 1 + int(rng() % 200);
        const int64_t pairs = 1 + int64_t(rng() % 2000);
        const int widest_fitting = 16 << (rng() % 5);  // 16..256: the shared memory's limit
        const auto fits = [&](int dvs) { return dvs <= widest_fitting; };
        const int prefer = rng() % 3 == 0 ? 16 << (rng() % 4) : 0;
        const int dvs = pick_dv_slice(Dv, pairs, units, fits, prefer);
        INFO("Dv=" << Dv << " pairs=" << pairs << " units=" << units << " widest=" << widest_fitting
                   << " prefer=" << prefer);
        REQUIRE(dvs != 0);  // 16 divides every Dv here and always fits
        CHECK(Dv % dvs == 0);
        CHECK(fits(dvs));
        if (prefer && Dv % prefer == 0 && fits(prefer)) {
            CHECK(dvs == prefer);
        } else {  // no usable slice is estimated faster, and none as fast is narrower
            for (int c : {16, 32, 64, 128}) {
                if (Dv % c != 0 || !fits(c)) continue;
                CHECK(dv_slice_cost(dvs, Dv, pairs, units) <= dv_slice_cost(c, Dv, pairs, units));
                if (c < dvs) CHECK(dv_slice_cost(c, Dv, pairs, units) > dv_slice_cost(dvs, Dv, pairs, units));
            }
        }
    }
    CHECK(pick_dv_slice(128, 10, 132, [](int) { return false; }) == 0);  // nothing fits
    CHECK(pick_dv_slice(48, 1000, 1, [](int) { return true; }) == 16);   // 48: only 16 divides
    // The shapes it was measured on (H100, 132 SMs, Dv = 128): 16 x 4096 tokens (512 pairs) ran
    // fastest with 128-wide slices, one 32768-token request (32 pairs) with 32-wide ones.
    const auto all = [](int) { return true; };
    CHECK(pick_dv_slice(128, 512, 132, all) == 128);
    CHECK(pick_dv_slice(128, 32, 132, all) == 32);
    // Costs grow with the work: more pairs never make a slice cheaper.
    for (int c : {16, 32, 64, 128}) CHECK(dv_slice_cost(c, 128, 1000, 132) >= dv_slice_cost(c, 128, 999, 132));
}

TEST_CASE("decode rows per warp give CTAs that tile Dv, more rows only for big batches") {
    std::mt19937_64 rng(seed_for("decode rows"));
    for (int trial = 0; trial < 500; ++trial) {
        const int Dv = 16 * (1 + int(rng() % 16)), HV = 1 + int(rng() % 64), units = 1 + int(rng() % 200);
        const int64_t B = 1 + int64_t(rng() % 1024);
        const int rpw = decode_rows_per_warp(B, HV, Dv, units);
        INFO("B=" << B << " HV=" << HV << " Dv=" << Dv << " units=" << units);
        REQUIRE((rpw == 2 || rpw == 4 || rpw == 8));
        CHECK(Dv % (8 * rpw) == 0);  // 8 warps x rpw rows per CTA
        CHECK(B * HV * (Dv / (8 * rpw)) >= std::min<int64_t>(B * HV * (Dv / 16), 2 * int64_t(units)));
    }
}

TEST_CASE("token-by-token extend rows per warp tile Dv and keep two blocks per compute unit where they can") {
    std::mt19937_64 rng(seed_for("recurrent rows"));
    for (int trial = 0; trial < 500; ++trial) {
        const int Dv = 16 * (1 + int(rng() % 16)), units = 1 + int(rng() % 200);
        const int64_t pairs = 1 + int64_t(rng() % 512);
        const int rpw = recurrent_rows_per_warp(Dv, pairs, units);
        INFO("Dv=" << Dv << " pairs=" << pairs << " units=" << units);
        REQUIRE((rpw == 1 || rpw == 2 || rpw == 4));
        CHECK(Dv % (8 * rpw) == 0);
        if (rpw > 1) CHECK(pairs * (Dv / (8 * rpw)) >= 2 * int64_t(units));
        // the widest that still keeps two blocks per unit
        if (rpw < 4 && Dv % 32 == 0) CHECK(pairs * (Dv / 32) < 2 * int64_t(units));
    }
}

TEST_CASE("the extend-kernel switch reads chunked and recurrent, anything else is automatic") {
    CHECK(prefill_kernel_from(nullptr) == PrefillKernel::automatic);
    CHECK(prefill_kernel_from("") == PrefillKernel::automatic);
    CHECK(prefill_kernel_from("recurrent") == PrefillKernel::recurrent);
    CHECK(prefill_kernel_from("chunked") == PrefillKernel::chunked);
    CHECK(prefill_kernel_from("Recurrent") == PrefillKernel::automatic);
}

TEST_CASE("the prep kernel groups a key head's value heads only where blocks stay plentiful") {
    std::mt19937_64 rng(seed_for("prep heads"));
    for (int trial = 0; trial < 500; ++trial) {
        const int H = 1 + int(rng() % 32), gva = 1 + int(rng() % 8), units = 1 + int(rng() % 200);
        const int64_t nchunks = 1 + int64_t(rng() % 4096);
        const int k = prep_heads_per_block(nchunks, H, gva, units);
        INFO("nchunks=" << nchunks << " H=" << H << " gva=" << gva << " units=" << units);
        REQUIRE((k == 1 || k == gva));  // a block never spans two key heads
        CHECK((H * gva) % k == 0);
        if (k > 1)
            CHECK(nchunks * H >= 4 * int64_t(units));
        else if (gva > 1)
            CHECK(nchunks * H < 4 * int64_t(units));
    }
}

TEST_CASE("the prep kernel computes q̂, k̂ itself only where 16-byte pieces of a warp cover a key head's q | k") {
    std::mt19937_64 rng(seed_for("prep fused"));
    alignas(16) static unsigned char buf[64];
    for (int trial = 0; trial < 500; ++trial) {
        const int elem = rng() % 2 ? 4 : 2, Dk = 16 * (1 + int(rng() % 16)), off = int(rng() % 4) * elem;
        const int64_t stride = (1 + int64_t(rng() % 4096)) * (rng() % 2 ? 8 : 1);
        const bool vec16 = off % 16 == 0 && (stride * elem) % 16 == 0;
        INFO("elem=" << elem << " Dk=" << Dk << " offset=" << off << " stride=" << stride);
        CHECK(prep_fused(buf + off, stride, Dk, elem) == (vec16 && 2 * Dk * elem <= 512));
    }
    CHECK(prep_fused(buf, 2 * 16 * 128 + 2 * 32 * 128, 128, 2));  // Qwen3-Next, bf16: fused
    CHECK_FALSE(prep_fused(buf + 2, 2 * 16 * 128 + 2 * 32 * 128, 128, 2));
    CHECK_FALSE(prep_fused(buf, 2 * 16 * 128 + 2 * 32 * 128, 128, 4));  // f32 with Dk = 128: 1 KiB per key head
}

TEST_CASE("plan_forward: the chunked prefill where it fits, else token by token; overrides by name") {
    std::mt19937_64 rng(seed_for("plan forward"));
    for (int trial = 0; trial < 300; ++trial) {
        const int B = 1 + int(rng() % 12);
        const int64_t pad = 40;
        std::vector<int64_t> lens, slots;
        for (int r = 0; r < B; ++r) {
            const int kind = int(rng() % 4);
            lens.push_back(kind == 0 ? 1 : kind == 1 ? 0 : 2 + int64_t(rng() % 400));
            slots.push_back(rng() % 5 == 0 ? pad : r);
        }
        Call c(lens, pad, slots);
        const int units = 1 + int(rng() % 200);
        // shared-memory needs that grow with the slice and the k̂ buffers, and a limit that may or
        // may not hold them
        const size_t per_dvs = 100 + rng() % 1000, limit = rng() % (300 * 1000), prep_need = rng() % (300 * 1000);
        std::vector<std::pair<int, int>> seq_asked;
        std::vector<int> sbufs_asked;
        const bool producers = rng() % 2 == 0;
        int fused_seen = -1;
        PlanTarget tg;
        tg.units = units;
        tg.smem_limit = limit;
        tg.env = "GDN_TEST_PLAN";
        tg.seq_producers = producers;
        std::vector<ChunkDesc> chunks{{-1, -1, -1}};
        const LaunchPlan plan = plan_forward(
            c.a, tg,
            [&](int dvs, int kbufs, int sbufs) {
                seq_asked.emplace_back(dvs, kbufs);
                sbufs_asked.push_back(sbufs);
                return size_t(dvs) * per_dvs + size_t(kbufs) * 1000 + size_t(sbufs - 1) * 1500;
            },
            [&](bool fused) {
                fused_seen = fused;
                return prep_need;
            },
            chunks);
        const RequestMix mix = scan_requests(c.a);
        INFO("B=" << B << " units=" << units << " limit=" << limit << " prep=" << prep_need << " per_dvs=" << per_dvs);
        CHECK(plan.decode == mix.decode);
        CHECK(plan.extend == mix.extend);
        CHECK(plan.decode_rpw == decode_rows_per_warp(B, 4, 64, units));
        for (const auto& q : seq_asked) CHECK((q.second == 1 || q.second == 2));
        for (int q : sbufs_asked) CHECK((q == 1 || q == 2));
        if (!mix.extend) {
            CHECK(chunks.empty());
            continue;
        }
        CHECK(fused_seen == int(prep_fused(c.a.mixed_qkv.data, c.a.mixed_qkv.strides[0], 64, 2)));
        const bool any_fits = prep_need <= limit && 16 * per_dvs + 1000 <= limit;
        if (!any_fits) {
            CHECK(plan.extend_rpw == recurrent_rows_per_warp(64, mix.live_extend * 4, units));
            CHECK(chunks.empty());
            continue;
        }
        CHECK(plan.extend_rpw == 0);
        CHECK(64 % plan.dvs == 0);
        CHECK(size_t(plan.dvs) * per_dvs + 1000 <= limit);
        CHECK(plan.seq_kbufs == (size_t(plan.dvs) * per_dvs + 2000 <= limit ? 2 : 1));
        // second stage buffers only with producer warps, one block per unit and room for them
        const bool one_wave = mix.live_extend * 4 * (64 / plan.dvs) <= units;
        const bool q2_fits = size_t(plan.dvs) * per_dvs + size_t(plan.seq_kbufs) * 1000 + 1500 <= limit;
        CHECK(plan.seq_one_wave == one_wave);
        CHECK(plan.seq_sbufs == (producers && one_wave && q2_fits ? 2 : 1));
        std::vector<ChunkDesc> expect;
        build_chunks(c.a, expect);
        REQUIRE(chunks.size() == expect.size());
        CHECK(plan.nchunks == int64_t(expect.size()));
        CHECK(plan.prep_heads == prep_heads_per_block(plan.nchunks, 2, 2, units));
    }

    // the overrides, by the target's prefix, read when a stream is created (here: before each
    // plan); invalid values are ignored
    Call c({300, 1, 200}, 40, {0, 1, 2});
    PlanTarget tg;
    tg.units = 132;
    tg.smem_limit = 1 << 20;
    tg.env = "GDN_TEST_PLAN";
    std::vector<ChunkDesc> chunks;
    auto plan_now = [&] {
        tg.overrides = read_plan_overrides(tg.env);
        return plan_forward(
            c.a, tg, [](int dvs, int, int) { return size_t(dvs) * 100; }, [](bool) { return size_t(1000); }, chunks);
    };
    const LaunchPlan plain = plan_now();
    CHECK(plain.extend_rpw == 0);
    CHECK(plain.prep_heads == 1);  // 9 chunks x 2 key heads: too few blocks to group
    setenv("GDN_TEST_PLAN_PREFILL", "recurrent", 1);
    CHECK(plan_now().extend_rpw > 0);
    unsetenv("GDN_TEST_PLAN_PREFILL");
    for (int d : {16, 32, 64}) {
        setenv("GDN_TEST_PLAN_DVS", std::to_string(d).c_str(), 1);
        CHECK(plan_now().dvs == d);
    }
    setenv("GDN_TEST_PLAN_DVS", "48", 1);  // not a slice width: the planner's own choice
    CHECK(plan_now().dvs == plain.dvs);
    unsetenv("GDN_TEST_PLAN_DVS");
    setenv("GDN_TEST_PLAN_PREP_HEADS", "all", 1);
    CHECK(plan_now().prep_heads == 2);
    setenv("GDN_TEST_PLAN_PREP_HEADS", "3", 1);
    CHECK(plan_now().prep_heads == plain.prep_heads);
    unsetenv("GDN_TEST_PLAN_PREP_HEADS");
    for (int rpw : {2, 4, 8}) {
        setenv("GDN_TEST_PLAN_DECODE_RPW", std::to_string(rpw).c_str(), 1);
        CHECK(plan_now().decode_rpw == rpw);
    }
    setenv("GDN_TEST_PLAN_DECODE_RPW", "16", 1);
    CHECK(plan_now().decode_rpw == plain.decode_rpw);
    unsetenv("GDN_TEST_PLAN_DECODE_RPW");
    // overlapped launches only where the target has them, and off by the override
    CHECK_FALSE(plain.overlap_launches);
    tg.can_overlap = true;
    CHECK(plan_now().overlap_launches);
    setenv("GDN_TEST_PLAN_OVERLAP", "0", 1);
    CHECK_FALSE(plan_now().overlap_launches);
    setenv("GDN_TEST_PLAN_OVERLAP", "1", 1);
    CHECK(plan_now().overlap_launches);
    unsetenv("GDN_TEST_PLAN_OVERLAP");
    tg.can_overlap = false;
    tg.env = nullptr;  // no overrides at all
    setenv("GDN_TEST_PLAN_PREFILL", "recurrent", 1);
    CHECK(plan_now().extend_rpw == 0);
    unsetenv("GDN_TEST_PLAN_PREFILL");
}

TEST_CASE("plan overrides are read once: a later change of the environment does not reach a target") {
    Call c({300, 1, 200}, 40, {0, 1, 2});
    PlanTarget tg;
    tg.units = 132;
    tg.smem_limit = 1 << 20;
    tg.env = "GDN_TEST_ONCE";
    setenv("GDN_TEST_ONCE_DVS", "16", 1);
    tg.overrides = read_plan_overrides(tg.env);  // as a stream does when it is created
    setenv("GDN_TEST_ONCE_DVS", "64", 1);
    setenv("GDN_TEST_ONCE_PREFILL", "recurrent", 1);
    std::vector<ChunkDesc> chunks;
    const LaunchPlan plan = plan_forward(
        c.a, tg, [](int dvs, int, int) { return size_t(dvs) * 100; }, [](bool) { return size_t(1000); }, chunks);
    unsetenv("GDN_TEST_ONCE_DVS");
    unsetenv("GDN_TEST_ONCE_PREFILL");
    CHECK(plan.extend_rpw == 0);
    CHECK(plan.dvs == 16);
}

TEST_CASE("GDN_VERBOSE=plan: one line per call, every request in a group, each choice with its reason") {
    std::mt19937_64 rng(seed_for("describe plan"));
    for (int trial = 0; trial < 200; ++trial) {
        const int B = 1 + int(rng() % 10);
        const int64_t pad = 40;
        std::vector<int64_t> lens, slots;
        int64_t want[4] = {0, 0, 0, 0};  // extend, decode, padding, empty
        for (int r = 0; r < B; ++r) {
            const int kind = int(rng() % 4);
            lens.push_back(kind == 0 ? 1 : kind == 1 ? 0 : 2 + int64_t(rng() % 300));
            slots.push_back(rng() % 5 == 0 ? pad : r);
            ++want[lens.back() == 0 ? 3 : slots.back() == pad ? 2 : lens.back() == 1 ? 1 : 0];
        }
        Call c(lens, pad, slots);
        PlanTarget tg;
        tg.units = 1 + int(rng() % 200);
        tg.smem_limit = rng() % 2 ? (1 << 20) : 500;  // the chunked kernels fit, or do not
        tg.env = "GDN_TEST_VERBOSE";
        tg.can_overlap = rng() % 2 == 0;
        tg.overrides.prefill = rng() % 4 == 0 ? PrefillKernel::recurrent : PrefillKernel::automatic;
        std::vector<ChunkDesc> chunks;
        PlanWhy why;
        const LaunchPlan plan = plan_forward(
            c.a, tg, [](int dvs, int, int) { return size_t(dvs) * 100; }, [](bool) { return size_t(1000); }, chunks,
            &why);
        const std::string line = describe_plan("test", c.a, tg, plan, why);
        INFO(line);
        CHECK(line.rfind("gdn_verbose,plan,test,bf16,requests=" + std::to_string(B) +
                             ",tokens=" + std::to_string(c.cu.back()) + ",",
                         0) == 0);
        CHECK(line.find('\n') == std::string::npos);
        CHECK(line.find("<env>") == std::string::npos);  // every reason names the real variable
        const char* kinds[4] = {"extend x", "decode x", "padding x", "empty x"};
        for (int k = 0; k < 4; ++k) {
            const size_t at = line.find(kinds[k]);
            if (want[k] == 0) {
                CHECK(at == std::string::npos);
                continue;
            }
            REQUIRE(at != std::string::npos);
            CHECK(std::atoll(line.c_str() + at + std::strlen(kinds[k])) == want[k]);
        }
        if (want[0] == 0) continue;
        if (tg.overrides.prefill == PrefillKernel::recurrent) {
            CHECK(line.find("token-by-token extend") != std::string::npos);
            CHECK(line.find("forced by GDN_TEST_VERBOSE_PREFILL=recurrent") != std::string::npos);
        } else if (tg.smem_limit == 500) {
            CHECK(line.find("token-by-token extend") != std::string::npos);
            CHECK(line.find("does not fit shared memory") != std::string::npos);
        } else {
            CHECK(line.find("chunked prefill (its kernels fit shared memory) dvs=" + std::to_string(plan.dvs)) !=
                  std::string::npos);
        }
    }
}

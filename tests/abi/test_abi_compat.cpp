// ABI compatibility as a host sees it: a plugin built against the frozen ABI 1.0 header loads
// and works; a plugin of a newer minor (a longer table) loads and the host reads the prefix it
// knows; a plugin of another major is refused, with a reason that says so, before any of its
// table beyond the version is trusted.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "gdn/layer.hpp"
#include "gdn/registry.hpp"

using namespace gdn;

namespace {
const std::string abi_dir = GDN_ABI_PLUGIN_DIR;
const std::string test_dir = GDN_TEST_PLUGIN_DIR;

LoadReport load(Registry& reg, const std::string& file) { return reg.load_file(file); }
}  // namespace

TEST_CASE("a plugin built against the frozen ABI 1.0 header loads and runs in this host") {
    Registry reg(std::vector<std::filesystem::path>{});
    const LoadReport r = load(reg, abi_dir + "/libgdn_abi_v1_0.so");
    INFO(format_report(r));
    REQUIRE(r.usable);
    CHECK(r.abi_major == 1u);
    CHECK(r.abi_minor == 0u);
    CHECK(r.name == "abi_v1_0");
    const Backend be = reg.open("abi_v1_0");
    CHECK(std::string(be.properties().name) == "ABI 1.0 test device");
    // Calls through the table work: memory round trip on its default stream.
    DeviceBuffer buf(be, 64);
    const char text[] = "written through an ABI 1.0 table";
    buf.upload(text, sizeof text);
    char back[sizeof text] = {0};
    buf.download(back, sizeof back);
    CHECK(std::string(back) == text);
}

TEST_CASE("a plugin of a newer minor loads; the host reads the prefix it knows") {
    Registry reg(std::vector<std::filesystem::path>{});
    const LoadReport r = load(reg, abi_dir + "/libgdn_abi_newer_minor.so");
    INFO(format_report(r));
    REQUIRE(r.usable);
    CHECK(r.abi_major == unsigned(GDN_ABI_MAJOR));
    CHECK(r.abi_minor == unsigned(GDN_ABI_MINOR) + 1);
    const Backend be = reg.open("abi_newer_minor");
    CHECK(be.table().forward_gdn != nullptr);
}

TEST_CASE("a plugin of another ABI major is refused with a reason naming both majors") {
    Registry reg(std::vector<std::filesystem::path>{});
    const LoadReport r = load(reg, test_dir + "/libgdn_wrong_major.so");
    INFO(format_report(r));
    CHECK_FALSE(r.usable);
    CHECK(r.stage == LoadStage::entry_found);
    CHECK(r.status == GDN_ERR_UNSUPPORTED);
    CHECK(r.abi_major == 99u);
    CHECK(r.reason.find("ABI major 99") != std::string::npos);
    CHECK(r.reason.find("host " + std::to_string(GDN_ABI_MAJOR)) != std::string::npos);
    CHECK_THROWS_WITH(reg.open("wrong_major"), Catch::Contains("ABI major 99"));
}

namespace {
// A tiny f32 layer (H=1, HV=2, Dk=Dv=8, Kc=4) with host-memory weights, for the marker plugins.
struct TinyLayer {
    std::vector<float> conv_weight = std::vector<float>(32 * 4, 0.1f), A_log{0.f, 0.f}, dt_bias{0.f, 0.f};
    RadixLinearAttention layer{0,
                               0,
                               1,
                               2,
                               8,
                               8,
                               TensorView(conv_weight.data(), DType::f32, {32, 4}),
                               TensorView(A_log.data(), DType::f32, {2}),
                               TensorView(dt_bias.data(), DType::f32, {2})};
};
}  // namespace

TEST_CASE("a plugin built against the frozen ABI 1.1 header runs under this host's longer arguments") {
    Registry reg(std::vector<std::filesystem::path>{});
    const LoadReport r = load(reg, abi_dir + "/libgdn_abi_v1_1.so");
    INFO(format_report(r));
    REQUIRE(r.usable);
    CHECK(r.abi_minor == 1u);
    const Backend be = reg.open("abi_v1_1");
    // What a 1.1 plugin cannot declare reads as nothing: f32 state only, no 1.2 feature.
    CHECK(be.capabilities().state_dtypes == 0u);
    CHECK(be.capabilities().features == 0u);

    PoolConfig pc;
    pc.num_slots = 4;
    pc.num_k_heads = 1;
    pc.num_v_heads = 2;
    pc.head_k_dim = pc.head_v_dim = 8;
    pc.activation_dtype = DType::f32;
    pc.engine_managed_slots = true;  // slots 3 and 1 without alloc_slot
    GDNPool pool(be, pc);
    TinyLayer tiny;
    std::vector<float> qkv(5 * 32, 0.5f), a(5 * 2, 0.f), b(5 * 2, 0.f), out(5 * 16, -1.f);
    ForwardBatch batch = ForwardBatch::extend(pool, {3, 1}, {2, 3});
    tiny.layer.forward(batch, TensorView(qkv.data(), DType::f32, {5, 32}), TensorView(a.data(), DType::f32, {5, 2}),
                       TensorView(b.data(), DType::f32, {5, 2}), TensorView(out.data(), DType::f32, {5, 16}));
    // The plugin read this host's 1.0 fields where they are: rows t -> t + 1, the slots' counts.
    for (int t = 0; t < 5; ++t)
        for (int j = 0; j < 16; ++j) REQUIRE(out[std::size_t(t * 16 + j)] == float(t + 1));
    CHECK(pool.read_recurrent(0, 3)[0] == 2.f);
    CHECK(pool.read_recurrent(0, 1)[0] == 3.f);

    // S15: the host never hands a 1.1 plugin what it cannot see; each 1.2 feature is refused by
    // name before the plugin is called (its marker would change `out` and the pool).
    std::fill(out.begin(), out.end(), -1.f);
    const TensorView q(qkv.data(), DType::f32, {5, 32}), av(a.data(), DType::f32, {5, 2}),
        bv(b.data(), DType::f32, {5, 2}), ov(out.data(), DType::f32, {5, 16});
    auto refused = [&](GDNPool& p, ForwardBatch& fb, const char* says, bool with_out = true) {
        const auto before = p.snapshot();
        try {
            tiny.layer.forward(fb, q, av, bv, with_out ? ov : TensorView());
            FAIL("accepted: " << says);
        } catch (const Error& e) {
            CHECK(e.status() == GDN_ERR_UNSUPPORTED);
            CHECK_THAT(e.what(), Catch::Contains(says));
        }
        CHECK(p.snapshot() == before);
        CHECK(std::all_of(out.begin(), out.end(), [](float x) { return x == -1.f; }));
    };
    PoolConfig half = pc;
    half.state_dtype = DType::bf16;
    GDNPool half_pool(be, half);
    ForwardBatch on_half = ForwardBatch::extend(half_pool, {3, 1}, {2, 3});
    refused(half_pool, on_half, "does not support recurrent state dtype bf16");
    ForwardBatch verify = ForwardBatch::verify(pool, {3, 1}, {2, 3});
    refused(pool, verify, "does not support write slots");
    ForwardBatch commit = ForwardBatch::commit(pool, {3, 1}, {2, 3}, {1, 1});
    refused(pool, commit, "does not support a call without output", false);
    ForwardBatch ck = ForwardBatch::extend(pool, {3, 1}, {2, 3});
    ck.set_checkpoints({{{1, 0}}, {}});
    refused(pool, ck, "does not support checkpoints");
}

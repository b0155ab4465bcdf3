// Slot transfer: a slot's state exported as a blob and imported into another pool (another slot
// count, another backend) continues bit-identically; bad blobs and incompatible pools are refused
// by name with the pool unchanged.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include "gdn/registry.hpp"
#include "gdn/slot_transfer.hpp"
#include "rows.hpp"

using namespace gdn;

namespace {

Case layer_case(uint64_t seed, int64_t tokens) {
    RandomCaseSpec spec;
    spec.num_k_heads = 2;
    spec.num_v_heads = 4;
    spec.head_k_dim = 32;
    spec.head_v_dim = 48;
    spec.activation_dtype = DType::bf16;
    spec.lengths = {tokens};
    return random_case(spec, seed);
}

// Another plugin's device: the fake test plugin has memory and streams but computes nothing,
// which is all a pool a slot passes through needs.
const Backend& fake_backend() {
    static const Registry reg({GDN_TEST_PLUGIN_DIR});
    static const Backend b = reg.open("fake");
    return b;
}

void expect_refused(SlotBlobProblem problem, const std::string& fragment, const std::function<void()>& call) {
    try {
        call();
        FAIL("accepted; expected " << slot_blob_problem_name(problem) << " mentioning '" << fragment << "'");
    } catch (const SlotBlobError& e) {
        INFO("message: " << e.what());
        CHECK(e.problem() == problem);
        CHECK(e.status() == GDN_ERR_INVALID_ARGUMENT);
        CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    }
}

// Rewrites the checksum after a header edit, so that the check under test is reached.
void reseal(std::vector<uint8_t>& blob) {
    std::memset(blob.data() + 80, 0, 4);
    const uint32_t crc = crc32c(blob.data(), blob.size());
    std::memcpy(blob.data() + 80, &crc, 4);
}

}  // namespace

TEST_CASE("crc32c is CRC-32C (Castagnoli) and chains", "[slot-transfer]") {
    const uint64_t seed = test::seed("crc32c is CRC-32C (Castagnoli) and chains");
    const char* text = "123456789";
    CHECK(crc32c(text, 9) == 0xE3069283u);
    CHECK(crc32c_portable(text, 9) == 0xE3069283u);
    CHECK(crc32c(text + 4, 5, crc32c(text, 4)) == 0xE3069283u);
    CHECK(crc32c(nullptr, 0) == 0u);
    // The instruction path (where the CPU has one) and the tables agree at every length and
    // alignment, chained or not.
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> bytes(4096 + 16);
    for (auto& b : bytes) b = uint8_t(rng());
    for (int i = 0; i < 200; ++i) {
        const std::size_t at = rng() % 16, n = rng() % 4096, cut = n ? rng() % n : 0;
        INFO("offset " << at << ", " << n << " bytes, chained at " << cut);
        const uint32_t whole = crc32c_portable(bytes.data() + at, n);
        CHECK(crc32c(bytes.data() + at, n) == whole);
        CHECK(crc32c(bytes.data() + at + cut, n - cut, crc32c(bytes.data() + at, cut)) == whole);
    }
}

TEST_CASE("a request moved mid-decode to another pool, through another backend, continues bit-identically",
          "[slot-transfer][invariant]") {
    const uint64_t seed =
        test::seed("a request moved mid-decode to another pool, through another backend, continues bit-identically");
    constexpr int64_t prefill = 37, before = 5, after = 10;
    const Backend& be = test::backend();
    // Two layers with their own weights and inputs.
    const Case c0 = layer_case(seed, prefill + before + after), c1 = layer_case(seed + 1, prefill + before + after);
    DeviceLayer l0(be, c0.problem, c0.activation_dtype, 0), l1(be, c1.problem, c1.activation_dtype, 1);
    GDNPool a(be, pool_config(c0, 3, 2)), b(be, pool_config(c0, 6, 2));
    auto step = [&](GDNPool& pool, int64_t slot, ForwardMode mode, int64_t len, int64_t t0) {
        auto out = test::run_rows(c0, l0.layer(), pool, mode, {slot}, {len}, t0);
        const auto out1 = test::run_rows(c1, l1.layer(), pool, mode, {slot}, {len}, t0);
        out.insert(out.end(), out1.begin(), out1.end());
        return out;
    };
    step(a, 1, ForwardMode::extend, prefill, 0);
    for (int64_t t = prefill; t < prefill + before; ++t) step(a, 1, ForwardMode::decode, 1, t);

    // A -> the fake backend's pool (slot 0) -> B (slot 4): two exports, two imports, two plugins.
    const std::vector<uint8_t> blob = export_slot(a, 1);
    const SlotBlobInfo info = read_slot_blob(blob.data(), blob.size());
    CHECK(info.num_layers == 2);
    CHECK(info.num_v_heads == 4);
    CHECK(info.state_dtype == a.recurrent_state(0).dtype());
    CHECK(info.activation_dtype == DType::bf16);
    CHECK(blob.size() == kSlotBlobHeaderBytes + 2 * (a.recurrent_slot_bytes() + a.conv_slot_bytes()));
    CHECK(slot_blob_size(a) == blob.size());
    std::vector<uint8_t> into(blob.size(), 0xA5);  // export into the caller's memory: the same bytes
    export_slot(a, 1, into.data(), into.size());
    CHECK(into == blob);
    GDNPool elsewhere(fake_backend(), pool_config(c0, 1, 2));
    import_slot(elsewhere, 0, blob);
    const std::vector<uint8_t> relayed = export_slot(elsewhere, 0);
    CHECK(relayed == blob);
    import_slot(b, 4, relayed);
    for (int l = 0; l < 2; ++l) {
        CHECK(b.read_recurrent(l, 4) == a.read_recurrent(l, 1));
        CHECK(b.read_conv_bytes(l, 4) == a.read_conv_bytes(l, 1));
    }
    for (int64_t t = prefill + before; t < prefill + before + after; ++t) {
        INFO("decode step at token " << t);
        CHECK(step(b, 4, ForwardMode::decode, 1, t) == step(a, 1, ForwardMode::decode, 1, t));
    }
    CHECK(export_slot(b, 4) == export_slot(a, 1));
}

TEST_CASE("truncated, corrupt, unknown or incompatible blobs are refused by name, the pool unchanged",
          "[slot-transfer][errors]") {
    const uint64_t seed =
        test::seed("truncated, corrupt, unknown or incompatible blobs are refused by name, the pool unchanged");
    std::mt19937_64 rng(seed);
    const Backend& be = test::backend();
    const Case c = layer_case(seed, 20);
    DeviceLayer layer(be, c.problem, c.activation_dtype, 1);
    GDNPool src(be, pool_config(c, 2, 2));
    test::run_rows(c, layer.layer(), src, ForwardMode::extend, {0}, {20}, 0);
    const std::vector<uint8_t> blob = export_slot(src, 0);

    GDNPool dst(be, pool_config(c, 3, 2));
    test::run_rows(c, layer.layer(), dst, ForwardMode::extend, {2}, {20}, 0);
    const std::vector<uint8_t> before = dst.snapshot();
    auto refused = [&](SlotBlobProblem p, const std::string& fragment, const std::vector<uint8_t>& bad) {
        expect_refused(p, fragment, [&] { import_slot(dst, 1, bad); });
    };

    // Truncated anywhere: inside the header, at its end, inside the payload, one byte short.
    std::vector<std::size_t> cuts{0, 1, 8, 95, 96, 97, blob.size() / 2, blob.size() - 1};
    for (int i = 0; i < 8; ++i) cuts.push_back(std::size_t(rng() % blob.size()));
    for (std::size_t n : cuts) {
        INFO("first " << n << " bytes");
        refused(SlotBlobProblem::truncated, "blob: truncated: " + std::to_string(n) + " bytes",
                std::vector<uint8_t>(blob.begin(), blob.begin() + std::ptrdiff_t(n)));  // X1
    }
    auto edited = [&](std::size_t at, auto value, bool seal) {
        auto b = blob;
        std::memcpy(b.data() + at, &value, sizeof value);
        if (seal) reseal(b);
        return b;
    };
    refused(SlotBlobProblem::not_a_blob, "blob: not a gdn slot blob", edited(0, uint8_t('X'), true));  // X2
    refused(SlotBlobProblem::version, "blob: format version 2, this build reads version 1",
            edited(8, uint32_t(2), true));                                                                      // X3
    refused(SlotBlobProblem::malformed, "blob: layout 9", edited(16, uint32_t(9), true));                       // X4
    refused(SlotBlobProblem::malformed, "blob: reserved header bytes not zero", edited(90, uint8_t(1), true));  // X4
    refused(SlotBlobProblem::malformed, "blob: num_v_heads 0 outside", edited(28, uint32_t(0), true));          // X4
    refused(SlotBlobProblem::malformed, "blob: dtype code 7", edited(44, uint32_t(7), true));                   // X4
    refused(SlotBlobProblem::malformed, "blob: per-layer sizes", edited(56, uint64_t(12), true));               // X4
    refused(SlotBlobProblem::malformed, "blob: payload of", edited(72, uint64_t(1) << 40, true));               // X4
    auto longer = blob;
    longer.push_back(0);
    refused(SlotBlobProblem::trailing_bytes, "1 more than the header announces", longer);  // X5
    refused(SlotBlobProblem::corrupt, "blob: checksum mismatch (corrupt blob)",
            edited(80, uint8_t(blob[80] ^ 1), false));  // X6
    // Every single-bit error is caught (CRC-32C detects them all); a sample of positions.
    for (int i = 0; i < 300; ++i) {
        auto bad = blob;
        const std::size_t bit = std::size_t(rng() % (bad.size() * 8));
        bad[bit / 8] ^= uint8_t(1u << (bit % 8));
        INFO("bit " << bit << " flipped");
        CHECK_THROWS_AS(import_slot(dst, 1, bad), SlotBlobError);
    }
    auto payload_flip = blob;
    payload_flip[kSlotBlobHeaderBytes + 3] ^= 0x10;
    refused(SlotBlobProblem::corrupt, "checksum mismatch", payload_flip);

    // Pools of other dims or dtypes.
    auto other = [&](auto change) {
        PoolConfig pc = pool_config(c, 3, 2);
        change(pc);
        return pc;
    };
    GDNPool three_layers(be, other([](PoolConfig& pc) { pc.num_layers = 3; }));
    expect_refused(
        SlotBlobProblem::dims_mismatch,
        "blob: a slot of layers=2 H=2 HV=4 Dk=32 Dv=48 Kc=4, the pool has layers=3 H=2 HV=4 Dk=32 Dv=48 Kc=4",
        [&] { import_slot(three_layers, 0, blob); });  // X7
    GDNPool more_heads(be, other([](PoolConfig& pc) { pc.num_v_heads = 8; }));
    expect_refused(SlotBlobProblem::dims_mismatch, "the pool has layers=2 H=2 HV=8",
                   [&] { import_slot(more_heads, 0, blob); });  // X7
    GDNPool f16(be, other([](PoolConfig& pc) { pc.activation_dtype = DType::f16; }));
    expect_refused(SlotBlobProblem::dtype_mismatch, "blob: activation (conv state) dtype bf16, the pool's is f16",
                   [&] { import_slot(f16, 0, blob); });  // X9
    // A blob whose recurrent state is stored in another dtype than the pool's (sizes consistent).
    const DType pool_state = dst.recurrent_state(0).dtype();
    const DType other_state = pool_state == DType::bf16 ? DType::f16 : DType::bf16;
    const std::size_t rb = 4 * 48 * 32 * dtype_size(other_state), cb = src.conv_slot_bytes();
    std::vector<uint8_t> narrow(kSlotBlobHeaderBytes + 2 * (rb + cb), 0);
    std::memcpy(narrow.data(), blob.data(), kSlotBlobHeaderBytes);
    const uint32_t code = uint32_t(other_state);
    const uint64_t rb64 = rb, payload = 2 * (rb + cb);
    std::memcpy(narrow.data() + 48, &code, 4);
    std::memcpy(narrow.data() + 56, &rb64, 8);
    std::memcpy(narrow.data() + 72, &payload, 8);
    reseal(narrow);
    refused(SlotBlobProblem::dtype_mismatch,
            std::string("blob: recurrent state dtype ") + dtype_name(other_state) + ", the pool stores " +
                dtype_name(pool_state),
            narrow);  // X8
    // The slot must be one of the pool's.
    test::expect_error("slot: a slot in 0..2, got 3", [&] { import_slot(dst, 3, blob); });    // X10
    test::expect_error("slot: a slot in 0..1, got -1", [&] { (void)export_slot(src, -1); });  // X10
    std::vector<uint8_t> small(blob.size() - 1);
    test::expect_error(
        "size: slot_blob_size(pool) = " + std::to_string(blob.size()) + " bytes, got " + std::to_string(small.size()),
        [&] { export_slot(src, 0, small.data(), small.size()); });                                   // X11
    test::expect_error("out: non-null memory", [&] { export_slot(src, 0, nullptr, blob.size()); });  // X11
    test::expect_error("blob: non-null data", [&] { import_slot(dst, 1, nullptr, blob.size()); });   // X12

    // Pools with a 16-bit recurrent state: their blobs say so and round-trip; an f32-state pool
    // refuses them, and they refuse f32-state blobs.
    for (const DType state : {DType::bf16, DType::f16}) {
        if (!(test::backend().capabilities().state_dtypes & (1u << unsigned(state)))) continue;
        PoolConfig pc = pool_config(c, 2, 2);
        pc.state_dtype = state;
        GDNPool narrow_src(be, pc), narrow_dst(be, pc);
        test::run_rows(c, layer.layer(), narrow_src, ForwardMode::extend, {0}, {20}, 0);
        const std::vector<uint8_t> b16 = export_slot(narrow_src, 0);
        CHECK(read_slot_blob(b16.data(), b16.size()).state_dtype == state);
        CHECK(b16.size() ==
              kSlotBlobHeaderBytes + 2 * (narrow_src.recurrent_slot_bytes() + narrow_src.conv_slot_bytes()));
        import_slot(narrow_dst, 1, b16);
        CHECK(export_slot(narrow_dst, 1) == b16);
        expect_refused(SlotBlobProblem::dtype_mismatch,
                       std::string("blob: recurrent state dtype ") + dtype_name(state) + ", the pool stores f32",
                       [&] { import_slot(dst, 1, b16); });  // X8
        expect_refused(SlotBlobProblem::dtype_mismatch,
                       std::string("blob: recurrent state dtype f32, the pool stores ") + dtype_name(state),
                       [&] { import_slot(narrow_dst, 0, blob); });  // X8
    }

    CHECK(dst.snapshot() == before);  // nothing refused wrote anything
    import_slot(dst, 1, blob);        // and the good blob goes in
    CHECK(dst.read_recurrent(1, 1) == src.read_recurrent(1, 0));
}

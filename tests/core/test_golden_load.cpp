// load_golden on crafted files: every size it derives from the metadata and cu_seqlens is checked
// arithmetic, and every derived shape is compared with the tensor actually read, so a file cannot
// make `gdn check` or `gdn conformance` index past the data it holds. Row IDs (G1, G2, ...) are
// those of docs/errors.md.
#include <catch2/catch.hpp>

#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "gdn/error.hpp"
#include "gdn/harness.hpp"
#include "gdn/safetensors.hpp"

using namespace gdn;

namespace {

struct Entry {
    std::string dtype;  // "F32", "I64", ...
    std::vector<int64_t> shape;
};

// A golden file of H=1, HV=4, Dk=Dv=8 (conv_dim 48), Kc=4, f32, with `rows` token rows and the
// cu_seqlens given; every tensor is zero-filled at the shape `shapes` says (defaults: consistent
// with `rows` and one request per cu_seqlens step).
struct GoldenFile {
    std::map<std::string, std::string> meta{{"num_k_heads", "1"}, {"num_v_heads", "4"}, {"head_k_dim", "8"},
                                            {"head_v_dim", "8"},  {"conv_kernel", "4"}, {"activation_dtype", "f32"},
                                            {"mode", "extend"}};
    std::vector<int64_t> cu{0, 3, 5};
    std::string cu_dtype = "I64";
    std::map<std::string, Entry> shapes;
    struct Integers {
        std::string dtype;            // "I64" or "I32"
        std::vector<int64_t> values;  // rank 1
    };
    std::map<std::string, Integers> integers;  // serving fields: accepted, checkpoint_cu, checkpoint_pos

    explicit GoldenFile(int64_t rows = 5, int64_t requests = 2) {
        const int64_t C = 48;
        shapes["mixed_qkv"] = {"F32", {rows, C}};
        shapes["a"] = shapes["b"] = {"F32", {rows, 4}};
        shapes["conv_weight"] = {"F32", {C, 4}};
        shapes["A_log"] = shapes["dt_bias"] = {"F32", {4}};
        shapes["conv_state_in"] = shapes["conv_state_out"] = {"F32", {requests, C, 3}};
        shapes["recurrent_state_in"] = shapes["recurrent_state_out"] = {"F32", {requests, 4, 8, 8}};
        shapes["out"] = {"F32", {rows, 32}};
    }

    std::vector<uint8_t> bytes() const {
        std::string header = "{\"__metadata__\":{";
        bool first = true;
        for (const auto& [k, v] : meta) {
            header += std::string(first ? "" : ",") + "\"" + k + "\":\"" + v + "\"";
            first = false;
        }
        header += "}";
        std::vector<uint8_t> payload;
        auto add = [&](const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape,
                       const std::vector<uint8_t>& data) {
            header += ",\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":[";
            for (std::size_t i = 0; i < shape.size(); ++i) header += (i ? "," : "") + std::to_string(shape[i]);
            header += "],\"data_offsets\":[" + std::to_string(payload.size()) + "," +
                      std::to_string(payload.size() + data.size()) + "]}";
            payload.insert(payload.end(), data.begin(), data.end());
        };
        for (const auto& [name, e] : shapes) {
            int64_t n = 1;
            for (int64_t d : e.shape) n *= d;
            add(name, e.dtype, e.shape, std::vector<uint8_t>(std::size_t(n) * 4, 0));
        }
        for (const auto& [name, t] : integers) {
            std::vector<uint8_t> data;
            for (int64_t v : t.values) {
                const int32_t x = int32_t(v);
                uint8_t e[8];
                std::memcpy(e, t.dtype == "I64" ? static_cast<const void*>(&v) : &x, t.dtype == "I64" ? 8 : 4);
                data.insert(data.end(), e, e + (t.dtype == "I64" ? 8 : 4));
            }
            add(name, t.dtype, {int64_t(t.values.size())}, data);
        }
        std::vector<uint8_t> cu_bytes;
        for (int64_t v : cu) {
            if (cu_dtype == "I64") {
                uint8_t b[8];
                std::memcpy(b, &v, 8);
                cu_bytes.insert(cu_bytes.end(), b, b + 8);
            } else {  // I32 or F32: four bytes each
                int32_t x = int32_t(v);
                float f = float(v);
                uint8_t b[4];
                std::memcpy(b, cu_dtype == "I32" ? static_cast<const void*>(&x) : &f, 4);
                cu_bytes.insert(cu_bytes.end(), b, b + 4);
            }
        }
        add("cu_seqlens", cu_dtype, {int64_t(cu.size())}, cu_bytes);
        header += "}";
        std::vector<uint8_t> f(8);
        for (int i = 0; i < 8; ++i) f[std::size_t(i)] = uint8_t(uint64_t(header.size()) >> (8 * i));
        f.insert(f.end(), header.begin(), header.end());
        f.insert(f.end(), payload.begin(), payload.end());
        return f;
    }

    Case load() const {
        const auto b = bytes();
        return load_golden(SafetensorsFile::parse(b.data(), b.size(), "g.safetensors"), "g.safetensors");
    }
};

void expect_refused(const GoldenFile& g, const std::string& fragment) {
    try {
        (void)g.load();
        FAIL("loaded; expected an error mentioning '" << fragment << "'");
    } catch (const Error& e) {
        INFO(e.what());
        CHECK(e.status() == GDN_ERR_INVALID_ARGUMENT);
        CHECK(std::string(e.what()).find("g.safetensors: " + fragment) != std::string::npos);
    }
}

// The crafted file with serving-state fields (ABI 1.2): a verify of both requests (lengths 3 and
// 2) accepting 1 and 2 tokens, and a checkpoint in each, after token 2 and token 1.
GoldenFile serving_file() {
    GoldenFile g;
    g.meta["state_dtype"] = "bf16";
    g.meta["mode"] = "verify";
    g.integers["accepted"] = {"I64", {1, 2}};
    g.integers["checkpoint_cu"] = {"I64", {0, 1, 2}};
    g.integers["checkpoint_pos"] = {"I32", {2, 1}};
    g.shapes["checkpoint_recurrent"] = {"F32", {2, 4, 8, 8}};
    g.shapes["checkpoint_conv"] = {"F32", {2, 48, 3}};
    return g;
}

}  // namespace

TEST_CASE("a consistent crafted file loads", "[golden][load]") {
    const Case c = GoldenFile().load();
    CHECK(c.name == "g.safetensors");
    CHECK(c.problem.num_tokens() == 5);
    CHECK(c.problem.num_requests() == 2);
    CHECK(c.problem.conv_dim() == 48);
    CHECK(c.expected->out.size() == 5 * 32);
    GoldenFile i32;
    i32.cu_dtype = "I32";
    CHECK(i32.load().problem.cu_seqlens == std::vector<int64_t>{0, 3, 5});
}

TEST_CASE("G1: a token count near 2^62 whose products wrap around is refused", "[errors][golden][load]") {
    // T = 2^62 + 1024: T*conv_dim, T*HV and T*HV*Dv all wrap around 2^64 to the element counts of
    // 1024 rows (conv_dim 48, HV 4, HV*Dv 32 are multiples of 4). This file used to load, and
    // `gdn check` then indexed 2^62 rows: SIGSEGV.
    GoldenFile g(1024, 1);
    g.cu = {0, (int64_t(1) << 62) + 1024};
    expect_refused(g, "tensor 'mixed_qkv' has shape [1024, 48], expected [4611686018427388928, 48]");
    // The same with the rows in the last request only, and the total at the largest int64.
    GoldenFile h(1024, 2);
    h.cu = {0, 0, std::numeric_limits<int64_t>::max()};
    expect_refused(h, "tensor 'mixed_qkv' has shape [1024, 48], expected [9223372036854775807, 48]");
    // A shape that agrees with the rows but not with the requests.
    GoldenFile r(5, 3);
    expect_refused(r, "tensor 'conv_state_in' has shape [3, 48, 3], expected [2, 48, 3]");
    GoldenFile o;
    o.shapes["out"] = {"F32", {32, 5}};  // the right element count, the wrong shape
    expect_refused(o, "tensor 'out' has shape [32, 5], expected [5, 32]");
}

TEST_CASE("G2: metadata outside what a layer takes", "[errors][golden][load]") {
    auto with = [](const std::string& key, const std::string& value) {
        GoldenFile g;
        g.meta[key] = value;
        return g;
    };
    expect_refused(with("num_k_heads", "0"), "metadata 'num_k_heads' must be >= 1, got 0");
    expect_refused(with("head_v_dim", "-8"), "metadata 'head_v_dim' must be >= 1, got -8");
    expect_refused(with("conv_kernel", "1"), "metadata 'conv_kernel' must be in 2..31, got 1");
    expect_refused(with("conv_kernel", "4294967300"), "metadata 'conv_kernel' must be an integer, got '4294967300'");
}

TEST_CASE("G2-G4: geometry, activation dtype and cu_seqlens", "[errors][golden][load]") {
    GoldenFile ratio;
    ratio.meta["num_k_heads"] = "3";
    expect_refused(ratio, "metadata 'num_v_heads' must be a multiple of num_k_heads (3), got 4");  // G2
    GoldenFile huge;  // 2*H*Dk + HV*Dv above 2^63: conv_dim itself would wrap
    huge.meta["num_k_heads"] = huge.meta["num_v_heads"] = huge.meta["head_k_dim"] = huge.meta["head_v_dim"] =
        "2147483647";
    expect_refused(huge, "conv_dim = 2*num_k_heads*head_k_dim + num_v_heads*head_v_dim overflows int64");  // G2
    GoldenFile act;
    act.meta["activation_dtype"] = "i32";
    expect_refused(act, "metadata 'activation_dtype' must be f32, bf16 or f16, got 'i32'");  // G3
    GoldenFile f32_cu;
    f32_cu.cu_dtype = "F32";
    expect_refused(f32_cu, "tensor 'cu_seqlens' must be I64 or I32, got f32");  // G4
    GoldenFile none(0, 0);
    none.cu = {};
    expect_refused(none, "tensor 'cu_seqlens' must have shape [B+1] with B >= 0, got [0]");  // G4
    GoldenFile start;
    start.cu = {1, 3, 5};
    expect_refused(start, "cu_seqlens must start at 0, got 1");  // G4
    GoldenFile down(5, 3);
    down.cu = {0, 5, 3, 5};
    expect_refused(down, "cu_seqlens must be non-decreasing, but entry 2 (3) < entry 1 (5)");  // G4
    GoldenFile neg(5, 2);
    neg.cu = {0, std::numeric_limits<int64_t>::min(), 5};
    expect_refused(neg, "cu_seqlens must be non-decreasing, but entry 1 (-9223372036854775808) < entry 0 (0)");  // G4
}

TEST_CASE("a consistent serving-state file loads", "[golden][load]") {
    const Case c = serving_file().load();
    CHECK(c.state_dtype == DType::bf16);
    CHECK(c.accepted == std::vector<int64_t>{1, 2});
    CHECK(c.checkpoint_cu == std::vector<int64_t>{0, 1, 2});
    CHECK(c.checkpoint_pos == std::vector<int64_t>{2, 1});
    REQUIRE(c.expected_checkpoints);
    CHECK(c.expected_checkpoints->recurrent.size() == 2 * 4 * 8 * 8);
    CHECK(c.expected_checkpoints->conv.size() == 2 * 48 * 3);
}

TEST_CASE("G5: a serving-state dtype outside f32, bf16 and f16", "[errors][golden][load]") {
    GoldenFile g = serving_file();
    g.meta["state_dtype"] = "i64";
    expect_refused(g, "metadata 'state_dtype' must be f32, bf16 or f16, got 'i64'");
    g.meta["state_dtype"] = "q8";  // not a dtype at all: still named as the field
    expect_refused(g, "metadata 'state_dtype' must be f32, bf16 or f16, got 'q8'");
}

TEST_CASE("G6: accepted counts not integers, not one per request, or outside the request", "[errors][golden][load]") {
    GoldenFile floats = serving_file();  // through double, 1e30 would not convert to int64 at all
    floats.integers.erase("accepted");
    floats.shapes["accepted"] = {"F32", {2}};
    expect_refused(floats, "tensor 'accepted' must be I64 or I32, got f32");
    GoldenFile three = serving_file();
    three.integers["accepted"] = {"I64", {1, 2, 0}};
    expect_refused(three, "tensor 'accepted' must have shape [B] = [2], got [3]");
    GoldenFile huge = serving_file();  // exactly, not rounded through double to 2^62
    huge.integers["accepted"] = {"I64", {(int64_t(1) << 62) + 1, 0}};
    expect_refused(huge, "accepted[0] must be in 0..3 (the request's length), got 4611686018427387905");
    GoldenFile neg = serving_file();
    neg.integers["accepted"] = {"I32", {1, -1}};
    expect_refused(neg, "accepted[1] must be in 0..2 (the request's length), got -1");
}

TEST_CASE("G7: checkpoints whose counts, positions or states do not fit the case", "[errors][golden][load]") {
    GoldenFile floats = serving_file();
    floats.integers.erase("checkpoint_pos");
    floats.shapes["checkpoint_pos"] = {"F32", {2}};
    expect_refused(floats, "tensor 'checkpoint_pos' must be I64 or I32, got f32");
    GoldenFile cu_shape = serving_file();
    cu_shape.integers["checkpoint_cu"] = {"I64", {0, 2}};
    expect_refused(cu_shape, "tensor 'checkpoint_cu' must have shape [B+1] = [3], got [2]");
    GoldenFile ends = serving_file();
    ends.integers["checkpoint_cu"] = {"I64", {0, 1, 3}};
    expect_refused(ends, "checkpoint_cu must run from 0 to the number of checkpoints (2), got 0 .. 3");
    GoldenFile down = serving_file();
    down.integers["checkpoint_cu"] = {"I64", {0, std::numeric_limits<int64_t>::max(), 2}};
    expect_refused(down, "checkpoint_cu must be non-decreasing, but entry 2 (2) < entry 1 (9223372036854775807)");
    GoldenFile late = serving_file();
    late.integers["checkpoint_pos"] = {"I64", {4, 1}};
    expect_refused(late,
                   "checkpoint_pos[0] (request 0) must be above the request's previous checkpoint (0) and at most "
                   "its length (3), got 4");
    GoldenFile zero = serving_file();
    zero.integers["checkpoint_pos"] = {"I64", {2, 0}};
    expect_refused(zero,
                   "checkpoint_pos[1] (request 1) must be above the request's previous checkpoint (0) and at "
                   "most its length (2), got 0");
    GoldenFile rec = serving_file();  // the right element count, the wrong shape
    rec.shapes["checkpoint_recurrent"] = {"F32", {4, 2, 8, 8}};
    expect_refused(rec,
                   "tensor 'checkpoint_recurrent' must have shape [N, HV, Dv, Dk] = [2, 4, 8, 8], got [4, 2, 8, 8]");
    GoldenFile conv = serving_file();
    conv.shapes["checkpoint_conv"] = {"F32", {2, 48, 2}};
    expect_refused(conv, "tensor 'checkpoint_conv' must have shape [N, conv_dim, Kc-1] = [2, 48, 3], got [2, 48, 2]");
}

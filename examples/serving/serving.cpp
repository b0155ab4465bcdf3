// How a serving engine drives gdn's state: engine-owned state memory, prefix caching, speculative
// decoding, prefill/decode transfer between processes, and a fixed-shape decode step. Built and
// run by ctest (examples/serving/CMakeLists.txt); docs/serving.md quotes the parts between the
// "doc:" markers, and ctest checks that the quotes match this file.
//
//   serving_example all               every part in one process
//   serving_example prefill DIR       prefill a request, write its state blob and the expected
//                                     continuation to DIR
//   serving_example decode DIR        import the blob into a fresh pool in this process, decode,
//                                     and check the outputs bit for bit against the expected ones
//
// The backend: GDN_BACKEND when set (an explicit choice, refused if it lacks a feature used here),
// else the highest-priority backend that declares every serving feature the example uses.
//
// The model: two GDN layers (Qwen3-Next's structure at a small size) whose weights and token
// projections come from a seeded generator, so that two processes build the same model.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "gdn/forward_batch.hpp"
#include "gdn/layer.hpp"
#include "gdn/pool.hpp"
#include "gdn/registry.hpp"
#include "gdn/slot_transfer.hpp"

using namespace gdn;

namespace {

constexpr int kLayers = 2, kH = 2, kHV = 4, kDk = 32, kDv = 32, kKc = 4;
constexpr int64_t kConvDim = 2LL * kH * kDk + int64_t(kHV) * kDv;
constexpr DType kAct = DType::bf16;

void check(bool ok, const std::string& what) {
    if (!ok) throw std::runtime_error("check failed: " + what);
}

// bf16 values of a normal distribution, scaled.
std::vector<uint16_t> random_bf16(std::mt19937_64& rng, std::size_t n, float scale) {
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<uint16_t> v(n);
    for (auto& x : v) x = float_to_bf16(normal(rng));
    return v;
}

Tensor upload(const Backend& be, DType t, std::vector<int64_t> shape, const void* host) {
    Tensor d(be, t, std::move(shape));
    d.upload(host);
    return d;
}

// One GDN layer's weights on the device and the layer over them.
struct Layer {
    Tensor conv_weight, A_log, dt_bias;
    std::unique_ptr<RadixLinearAttention> attn;
    Layer(const Backend& be, int index, std::mt19937_64& rng) {
        const auto w = random_bf16(rng, std::size_t(kConvDim * kKc), 0.4f);
        std::vector<float> a_log(kHV), bias(kHV);
        for (int h = 0; h < kHV; ++h) {
            a_log[std::size_t(h)] = -1.0f - 0.25f * float(h);
            bias[std::size_t(h)] = 0.1f * float(h);
        }
        conv_weight = upload(be, kAct, {kConvDim, kKc}, w.data());
        A_log = upload(be, DType::f32, {kHV}, a_log.data());
        dt_bias = upload(be, DType::f32, {kHV}, bias.data());
        attn = std::make_unique<RadixLinearAttention>(/*layer_id=*/index * 4 + 3, /*gdn_layer_idx=*/index, kH, kHV, kDk,
                                                      kDv, conv_weight.view(), A_log.view(), dt_bias.view());
    }
};

// The token projections (mixed_qkv, a, b) of every layer for `tokens` tokens: what the model's
// input projections would produce.
struct Inputs {
    std::vector<Tensor> qkv, a, b;  // per layer
    Inputs(const Backend& be, std::mt19937_64& rng, int64_t tokens) {
        for (int l = 0; l < kLayers; ++l) {
            qkv.push_back(
                upload(be, kAct, {tokens, kConvDim}, random_bf16(rng, std::size_t(tokens * kConvDim), 1.0f).data()));
            a.push_back(upload(be, kAct, {tokens, kHV}, random_bf16(rng, std::size_t(tokens * kHV), 1.0f).data()));
            b.push_back(upload(be, kAct, {tokens, kHV}, random_bf16(rng, std::size_t(tokens * kHV), 1.0f).data()));
        }
    }
    // Rows [from, from + n) of layer l's inputs, as views (no copy).
    TensorView rows(const std::vector<Tensor>& m, int l, int64_t from, int64_t n) const {
        const TensorView& v = m[std::size_t(l)].view();
        char* base = static_cast<char*>(v.data()) + std::size_t(from * v.size(1)) * dtype_size(v.dtype());
        return TensorView(base, v.dtype(), {n, v.size(1)}, v.device());
    }
};

struct Model {
    Backend backend;
    std::vector<Layer> layers;
    explicit Model(const Backend& be) : backend(be) {
        std::mt19937_64 rng(2026);
        layers.reserve(kLayers);
        for (int l = 0; l < kLayers; ++l) layers.emplace_back(be, l, rng);
    }
    // One forward step of every GDN layer over `batch`, token rows [from, from + T) of `in`
    // (rows of request r follow those of request r-1). Returns every layer's output bytes.
    std::vector<uint8_t> step(ForwardBatch& batch, const Inputs& in, int64_t from) const {
        std::vector<uint8_t> all;
        const int64_t T = batch.num_tokens();
        for (int l = 0; l < kLayers; ++l) {
            Tensor out = layers[std::size_t(l)].attn->forward(batch, in.rows(in.qkv, l, from, T),
                                                              in.rows(in.a, l, from, T), in.rows(in.b, l, from, T));
            batch.stream().synchronize();
            if (!batch.writes_output()) continue;  // a commit outputs nothing
            const auto bytes = out.to_host<uint8_t>();
            all.insert(all.end(), bytes.begin(), bytes.end());
        }
        return all;
    }
};

PoolConfig pool_config(int64_t slots) {
    PoolConfig pc;
    pc.num_layers = kLayers;
    pc.num_slots = slots;
    pc.num_k_heads = kH;
    pc.num_v_heads = kHV;
    pc.head_k_dim = kDk;
    pc.head_v_dim = kDv;
    pc.conv_kernel = kKc;
    pc.activation_dtype = kAct;
    return pc;
}

// ---- engine-owned state memory -------------------------------------------------------------

// doc:engine-memory begin
// The engine's own state cache, allocated by the engine on gdn's backend in gdn's layout:
// [layers, slots + 1, HV, Dv, Dk] recurrent state and [layers, slots + 1, conv_dim, Kc - 1] conv
// state, of the sizes engine_memory_sizes gives.
struct EngineStateCache {
    Backend backend;
    std::size_t recurrent_bytes, conv_bytes;
    void *recurrent, *conv;
    EngineStateCache(const Backend& be, const PoolConfig& pc)
        : backend(be), recurrent_bytes(engine_memory_sizes(pc).recurrent_bytes),
          conv_bytes(engine_memory_sizes(pc).conv_bytes), recurrent(be.allocate(recurrent_bytes)),
          conv(be.allocate(conv_bytes)) {}
    ~EngineStateCache() {  // the engine frees its memory; gdn never does
        backend.deallocate(recurrent);
        backend.deallocate(conv);
    }
};

// gdn works in place on the engine's memory: no copy in, no copy out.
GDNPool pool_over(const EngineStateCache& cache, const PoolConfig& pc) {
    return GDNPool(cache.backend, pc,
                   EngineMemory{cache.backend, cache.recurrent, cache.recurrent_bytes, cache.conv, cache.conv_bytes});
}
// doc:engine-memory end

// ---- prefix caching ------------------------------------------------------------------------

void prefix_caching(const Model& m, GDNPool& pool) {
    std::mt19937_64 rng(7);
    const int64_t prefix = 48, suffix = 16;
    Inputs in(m.backend, rng, prefix + suffix);
    const int64_t first = pool.alloc_slot(), cached = pool.alloc_slot(), second = pool.alloc_slot();

    // doc:prefix-cache begin
    // Request 1 prefills the shared prefix; a checkpoint writes the state after its last prefix
    // token to `cached` (checkpoints at every page boundary work the same way).
    ForwardBatch prefill = ForwardBatch::extend(pool, {first}, {prefix});
    prefill.set_checkpoints({{Checkpoint{prefix, cached}}});
    m.step(prefill, in, 0);

    // Request 2 has the same prefix: it reads the snapshot and writes its own slot (the snapshot
    // stays as it is, nothing is copied) while it prefills only its suffix.
    ForwardBatch rest = ForwardBatch::extend(pool, {cached}, {suffix});
    rest.set_write_slots({second});
    const auto second_out = m.step(rest, in, prefix);
    // doc:prefix-cache end

    // The same suffix on request 1 (which ran the prefix itself) gives the same bytes.
    ForwardBatch same = ForwardBatch::extend(pool, {first}, {suffix});
    check(m.step(same, in, prefix) == second_out, "prefix cache: the forked request continues like the original");
    for (int64_t s : {first, cached, second}) pool.free_slot(s);
    std::printf("prefix caching: a %lld-token prefix reused, suffix outputs bit-identical\n", (long long)prefix);
}

// ---- speculative decoding ------------------------------------------------------------------

void speculative_decoding(const Model& m, GDNPool& pool) {
    std::mt19937_64 rng(11);
    const int64_t drafts = 4, accepted = 2;
    Inputs in(m.backend, rng, drafts);
    const int64_t slot = pool.alloc_slot(), oracle = pool.alloc_slot();
    pool.copy_slot(slot, oracle);

    // doc:speculative begin
    // Verify: every draft token runs and has an output; no state is written.
    ForwardBatch verify = ForwardBatch::verify(pool, {slot}, {drafts});
    const auto draft_out = m.step(verify, in, 0);  // the model accepts some of the drafts
    // Commit, from the same inputs: the state advances by the accepted tokens only (no output).
    ForwardBatch commit = ForwardBatch::commit(pool, {slot}, {drafts}, {accepted});
    m.step(commit, in, 0);
    // doc:speculative end

    ForwardBatch plain = ForwardBatch::extend(pool, {oracle}, {accepted});
    m.step(plain, in, 0);
    for (int l = 0; l < kLayers; ++l)
        check(pool.read_recurrent(l, slot) == pool.read_recurrent(l, oracle) &&
                  pool.read_conv_bytes(l, slot) == pool.read_conv_bytes(l, oracle),
              "speculative: the committed state is the state after the accepted tokens");
    for (int64_t s : {slot, oracle}) pool.free_slot(s);
    std::printf("speculative decoding: %lld drafts verified, %lld committed, state exact\n", (long long)drafts,
                (long long)accepted);
}

// ---- a fixed-shape decode step ---------------------------------------------------------------

void decode_steps(const Model& m, GDNPool& pool) {
    std::mt19937_64 rng(13);
    constexpr int64_t batch_size = 4, steps = 3;
    Inputs in(m.backend, rng, batch_size * steps);
    const int64_t a = pool.alloc_slot(), b = pool.alloc_slot();
    const int64_t pad = pool.padding_slot();
    Tensor out(m.backend, kAct, {batch_size, int64_t(kHV) * kDv});

    // doc:decode-step begin
    // One batch object of a fixed size for every step: padded rows point at the padding slot
    // (never read or written, output rows zero). Between steps only the slots change: the
    // device copy of the slot list is updated in place, the shapes and pointers stay, so the
    // same calls can be captured once in a device graph and replayed.
    ForwardBatch step = ForwardBatch::decode(pool, {a, b, pad, pad});
    for (int64_t t = 0; t < steps; ++t) {
        if (t == 1) step.update_slots({a, pad, b, pad});  // the batch's rows were rearranged
        for (int l = 0; l < kLayers; ++l)
            m.layers[std::size_t(l)].attn->forward(step, in.rows(in.qkv, l, t * batch_size, batch_size),
                                                   in.rows(in.a, l, t * batch_size, batch_size),
                                                   in.rows(in.b, l, t * batch_size, batch_size), out.view());
    }
    step.stream().synchronize();
    // doc:decode-step end
    pool.free_slot(a);
    pool.free_slot(b);
    std::printf("decode: %lld fixed-shape steps of %lld rows, padding rows included\n", (long long)steps,
                (long long)batch_size);
}

// ---- prefill/decode transfer -----------------------------------------------------------------

constexpr int64_t kPrefill = 40, kDecode = 6;

void write_file(const std::filesystem::path& p, const std::vector<uint8_t>& bytes) {
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    check(bool(f), "write " + p.string());
}
std::vector<uint8_t> read_file(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    check(bool(f), "read " + p.string());
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Decode steps of one request in `slot`, the outputs of every step appended.
std::vector<uint8_t> decode(const Model& m, GDNPool& pool, int64_t slot, const Inputs& in) {
    std::vector<uint8_t> all;
    ForwardBatch step = ForwardBatch::decode(pool, {slot});
    for (int64_t t = 0; t < kDecode; ++t) {
        const auto out = m.step(step, in, kPrefill + t);
        all.insert(all.end(), out.begin(), out.end());
    }
    return all;
}

// The prefill side: prefill, export the slot, and (for the check) decode on here too.
void prefill_side(const Model& m, const std::filesystem::path& dir) {
    std::mt19937_64 rng(17);
    Inputs in(m.backend, rng, kPrefill + kDecode);
    GDNPool pool(m.backend, pool_config(4));
    const int64_t slot = pool.alloc_slot();
    ForwardBatch prefill = ForwardBatch::extend(pool, {slot}, {kPrefill});
    m.step(prefill, in, 0);

    // doc:transfer-export begin
    // Prefill server: the request's state, every layer, as one self-describing blob.
    const std::vector<uint8_t> blob = export_slot(pool, slot);
    // ... sent to the decode server (here: a file) ...
    // doc:transfer-export end
    std::filesystem::create_directories(dir);
    write_file(dir / "request.gdnslot", blob);
    write_file(dir / "expected_decode.bin", decode(m, pool, slot, in));
    std::printf("prefill: %lld tokens, state blob of %zu bytes written\n", (long long)kPrefill, blob.size());
}

// The decode side, possibly another process on another backend: import, decode, compare.
void decode_side(const Model& m, const std::filesystem::path& dir) {
    std::mt19937_64 rng(17);
    Inputs in(m.backend, rng, kPrefill + kDecode);
    EngineStateCache cache(m.backend, pool_config(8));
    GDNPool pool = pool_over(cache, pool_config(8));
    const std::vector<uint8_t> blob = read_file(dir / "request.gdnslot");

    // doc:transfer-import begin
    // Decode server: a slot of its own pool; the blob is checked (dims, dtypes, checksum)
    // before anything is written, and a refusal says why (SlotBlobError::problem()).
    const int64_t slot = pool.alloc_slot();
    try {
        import_slot(pool, slot, blob);
    } catch (const SlotBlobError& e) {
        std::fprintf(stderr, "transfer refused (%s): %s\n", slot_blob_problem_name(e.problem()), e.what());
        throw;
    }
    // doc:transfer-import end
    check(decode(m, pool, slot, in) == read_file(dir / "expected_decode.bin"),
          "transfer: the imported request decodes bit-identically");
    std::printf("decode: imported a %zu-byte blob, %lld decode steps bit-identical to the prefill side's\n",
                blob.size(), (long long)kDecode);
}

// The serving features this example uses (gdn_capabilities.features bits).
constexpr uint32_t kFeaturesUsed =
    GDN_FEATURE_WRITE_SLOTS | GDN_FEATURE_NO_OUTPUT | GDN_FEATURE_CHECKPOINTS | GDN_FEATURE_ACCEPTED;

Backend open_serving_backend() {
    if (const char* env = std::getenv("GDN_BACKEND"); env && *env) return Registry::global().open_default();
    for (const Backend& b : Registry::global().available())
        if ((b.capabilities().features & kFeaturesUsed) == kFeaturesUsed) return b;
    throw std::runtime_error(
        "no available backend declares write slots, no-output calls, checkpoints and "
        "accepted counts (`gdn list` shows what each backend declares)");
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "all";
    try {
        const Backend backend = open_serving_backend();
        std::printf("backend: %s\n", backend.name().c_str());
        const Model model(backend);
        if (mode == "prefill" && argc == 3) {
            prefill_side(model, argv[2]);
        } else if (mode == "decode" && argc == 3) {
            decode_side(model, argv[2]);
        } else if (mode == "all") {
            const PoolConfig pc = pool_config(6);
            EngineStateCache cache(backend, pc);
            GDNPool pool = pool_over(cache, pc);
            prefix_caching(model, pool);
            speculative_decoding(model, pool);
            decode_steps(model, pool);
            const auto dir = std::filesystem::temp_directory_path() / ("gdn_serving_" + std::to_string(::getpid()));
            std::filesystem::create_directories(dir);
            prefill_side(model, dir);
            decode_side(model, dir);
            std::filesystem::remove_all(dir);
        } else {
            std::fprintf(stderr, "usage: serving_example [all | prefill DIR | decode DIR]\n");
            return 2;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "serving_example: %s\n", e.what());
        return 1;
    }
    return 0;
}

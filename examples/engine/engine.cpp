// A small serving engine on gdn, start to finish: it opens a backend by name, sizes and allocates
// the state pool, builds two GDN layers from their weights, and serves requests through prefill
// (extend), decode steps, a mixed batch, a finished request whose slot is freed and reused by a
// new one. Every output row and, at the end, every live request's state is checked against gdn's
// fp64 reference run on the same inputs; the exit code says whether they matched.
//
//   cmake -S examples/engine -B build-engine -DCMAKE_PREFIX_PATH=<gdn prefix>
//   cmake --build build-engine && ./build-engine/gdn_engine_example [BACKEND]
//
// BACKEND: a name (cpu, cuda, cuda:1, ...); default: GDN_BACKEND, else the best available.
// Exit code 0: everything matched; 1: a mismatch (printed); 2: an error (printed).
// README.md quotes the parts between the "doc:" markers; ctest checks that the quotes match.
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "gdn/error.hpp"
#include "gdn/forward_batch.hpp"
#include "gdn/layer.hpp"
#include "gdn/pool.hpp"
#include "gdn/reference.hpp"
#include "gdn/registry.hpp"

namespace {

// The model: Qwen3-Next's GDN head structure (GVA ratio 2), shrunk.
constexpr int kLayers = 2, kH = 2, kHV = 4, kDk = 32, kDv = 32, kKc = 4;
constexpr int64_t kConvDim = 2LL * kH * kDk + int64_t(kHV) * kDv;
constexpr gdn::DType kAct = gdn::DType::bf16;
constexpr double kTolerance = 5e-3;  // relative L2 for bf16 activations (docs/plugin-guide.md)

// Host values rounded to `t`, and their bytes in `t`, so that gdn and the reference see the same numbers.
struct HostTensor {
    std::vector<double> values;
    std::vector<uint8_t> bytes;
    HostTensor(gdn::DType t, std::vector<double> v) : values(std::move(v)), bytes(values.size() * gdn::dtype_size(t)) {
        for (std::size_t i = 0; i < values.size(); ++i) {
            values[i] = gdn::round_to(t, values[i]);
            gdn::store_from_double(bytes.data(), t, i, values[i]);
        }
    }
};

std::vector<double> normal(std::mt19937_64& rng, std::size_t n, double mean, double scale) {
    std::normal_distribution<double> d(mean, scale);
    std::vector<double> v(n);
    for (double& x : v) x = d(rng);
    return v;
}

gdn::Tensor upload(const gdn::Backend& be, gdn::DType t, std::vector<int64_t> shape, const HostTensor& h) {
    gdn::Tensor d(be, t, std::move(shape));
    d.upload(h.bytes.data());
    return d;
}

std::vector<double> download(const gdn::Tensor& t) {
    const auto bytes = t.to_host<uint8_t>();
    std::vector<double> v(std::size_t(t.numel()));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = gdn::load_as_double(bytes.data(), t.dtype(), i);
    return v;
}

// One GDN layer: its weights on the device (the layer reads them in place) and on the host (for
// the reference).
struct Layer {
    HostTensor conv_w, a_log, dt_b;
    gdn::Tensor conv_weight, A_log, dt_bias;
    std::unique_ptr<gdn::RadixLinearAttention> attn;

    Layer(const gdn::Backend& be, int gdn_layer_idx, std::mt19937_64& rng)
        : conv_w(kAct, normal(rng, std::size_t(kConvDim * kKc), 0.0, 0.4)),
          a_log(gdn::DType::f32, normal(rng, kHV, -1.0, 0.3)), dt_b(gdn::DType::f32, normal(rng, kHV, 0.0, 0.1)) {
        // doc:readme-layer begin
        conv_weight = upload(be, kAct, {kConvDim, kKc}, conv_w);  // conv1d.weight [conv_dim, 1, Kc] squeezed
        A_log = upload(be, gdn::DType::f32, {kHV}, a_log);        // f32 whatever the activation dtype
        dt_bias = upload(be, gdn::DType::f32, {kHV}, dt_b);
        attn = std::make_unique<gdn::RadixLinearAttention>(/*layer_id=*/2 * gdn_layer_idx + 1, gdn_layer_idx, kH, kHV,
                                                           kDk, kDv, conv_weight, A_log, dt_bias);
        // doc:readme-layer end
    }
};

// One layer's inputs for a step of T tokens: mixed_qkv [T, conv_dim] with columns [q | k | v], a
// and b [T, HV] (docs/model-mapping.md), on the host (for the reference) and on the device.
struct Projections {
    HostTensor qkv, a, b;
    gdn::Tensor d_qkv, d_a, d_b;
};

// A request being served: its pool slot and, per layer, the state the reference carries.
struct Request {
    int64_t slot = -1;
    std::vector<std::vector<double>> conv, recurrent;  // per layer
};

class Engine {
public:
    explicit Engine(const gdn::Backend& be, const gdn::PoolConfig& pc) : backend_(be), pool_(be, pc), rng_(2026) {
        layers_.reserve(kLayers);
        for (int l = 0; l < kLayers; ++l) layers_.emplace_back(be, l, rng_);
    }

    gdn::GDNPool& pool() { return pool_; }

    // A new request: a fresh (zeroed) slot.
    int64_t admit(const std::string& name) {
        Request r;
        // doc:readme-slots begin
        r.slot = pool_.alloc_slot();  // zeroed states in every layer; Error when all slots are in use
        // doc:readme-slots end
        r.conv.assign(kLayers, std::vector<double>(std::size_t(kConvDim * (kKc - 1)), 0.0));
        r.recurrent.assign(kLayers, std::vector<double>(std::size_t(kHV * kDv * kDk), 0.0));
        requests_[name] = r;
        return r.slot;
    }
    // A finished request: its slot goes back to the pool.
    void finish(const std::string& name) {
        // doc:readme-free begin
        pool_.free_slot(requests_.at(name).slot);  // the next alloc_slot may hand it out again
        // doc:readme-free end
        requests_.erase(name);
    }

    // One forward step of every layer over the requests (name, new tokens). Returns the largest
    // relative L2 error of a layer's output against the reference.
    double step(gdn::ForwardMode mode, const std::vector<std::pair<std::string, int64_t>>& batch_requests) {
        std::vector<int64_t> slots, lens;
        for (const auto& [name, n] : batch_requests) {
            slots.push_back(requests_.at(name).slot);
            lens.push_back(n);
        }
        // doc:readme-step begin
        gdn::ForwardBatch batch(mode, pool_, slots, lens);  // one per model step, shared by every GDN layer
        std::vector<Projections> in;
        std::vector<gdn::Tensor> out;
        for (int l = 0; l < kLayers; ++l) {
            const Projections& p = in.emplace_back(projections(batch.num_tokens()));  // this layer's in_proj outputs
            out.push_back(layers_[std::size_t(l)].attn->forward(batch, p.d_qkv, p.d_a, p.d_b));  // [T, HV*Dv]
        }
        batch.stream().synchronize();
        // doc:readme-step end
        double worst = 0;
        for (int l = 0; l < kLayers; ++l)
            worst = std::max(worst, gdn::reference::relative_l2(download(out[std::size_t(l)]),
                                                                reference(l, batch, in[std::size_t(l)])));
        return worst;
    }

    // Every live request's states in the pool against the reference's.
    double state_error() const {
        double worst = 0;
        for (const auto& [name, r] : requests_)
            for (int l = 0; l < kLayers; ++l) {
                const std::vector<float> rec = pool_.read_recurrent(l, r.slot);
                worst = std::max(worst, gdn::reference::relative_l2(std::vector<double>(rec.begin(), rec.end()),
                                                                    r.recurrent[std::size_t(l)]));
                const std::vector<uint8_t> conv = pool_.read_conv_bytes(l, r.slot);
                for (std::size_t i = 0; i < r.conv[std::size_t(l)].size(); ++i)
                    if (gdn::load_as_double(conv.data(), kAct, i) != gdn::round_to(kAct, r.conv[std::size_t(l)][i]))
                        worst = std::max(worst, 1.0);  // the conv state is exact
            }
        return worst;
    }

private:
    // Random token projections stand in for the model's in_proj outputs.
    Projections projections(int64_t T) {
        Projections p{HostTensor(kAct, normal(rng_, std::size_t(T * kConvDim), 0.0, 1.0)),
                      HostTensor(kAct, normal(rng_, std::size_t(T * kHV), 0.0, 1.0)),
                      HostTensor(kAct, normal(rng_, std::size_t(T * kHV), 0.0, 1.0)),
                      {},
                      {},
                      {}};
        p.d_qkv = upload(backend_, kAct, {T, kConvDim}, p.qkv);
        p.d_a = upload(backend_, kAct, {T, kHV}, p.a);
        p.d_b = upload(backend_, kAct, {T, kHV}, p.b);
        return p;
    }

    // The fp64 reference of layer l over the batch, request by request, carrying each request's state.
    std::vector<double> reference(int l, const gdn::ForwardBatch& batch, const Projections& in) {
        const Layer& layer = layers_[std::size_t(l)];
        const HostTensor &qkv = in.qkv, &a = in.a, &b = in.b;
        std::vector<double> out;
        const auto& cu = batch.cu_seqlens();
        for (std::size_t r = 0; r < batch.req_pool_indices().size(); ++r) {
            Request* req = nullptr;
            for (auto& [name, candidate] : requests_)
                if (candidate.slot == batch.req_pool_indices()[r]) req = &candidate;
            gdn::reference::Problem p;
            p.num_k_heads = kH;
            p.num_v_heads = kHV;
            p.head_k_dim = kDk;
            p.head_v_dim = kDv;
            p.conv_kernel = kKc;
            p.conv_weight = layer.conv_w.values;
            p.A_log = layer.a_log.values;
            p.dt_bias = layer.dt_b.values;
            const int64_t t0 = cu[r], t1 = cu[r + 1];
            p.cu_seqlens = {0, t1 - t0};
            p.mixed_qkv.assign(qkv.values.begin() + t0 * kConvDim, qkv.values.begin() + t1 * kConvDim);
            p.a.assign(a.values.begin() + t0 * kHV, a.values.begin() + t1 * kHV);
            p.b.assign(b.values.begin() + t0 * kHV, b.values.begin() + t1 * kHV);
            p.conv_state = req->conv[std::size_t(l)];
            p.recurrent_state = req->recurrent[std::size_t(l)];
            const std::vector<double> o = gdn::reference::forward(p);
            out.insert(out.end(), o.begin(), o.end());
            // The pool keeps the conv state in the activation dtype.
            for (double& x : p.conv_state) x = gdn::round_to(kAct, x);
            req->conv[std::size_t(l)] = p.conv_state;
            req->recurrent[std::size_t(l)] = p.recurrent_state;
        }
        return out;
    }

    gdn::Backend backend_;
    gdn::GDNPool pool_;
    std::mt19937_64 rng_;
    std::vector<Layer> layers_;
    std::map<std::string, Request> requests_;
};

int run(const char* backend_name) {
    // doc:readme-pool begin
    gdn::Backend be = backend_name ? gdn::Registry::global().open(backend_name)  // "cpu", "cuda:1", ...
                                   : gdn::Registry::global().open_default();     // GDN_BACKEND, else the best
    gdn::PoolConfig pc;  // the states of every GDN layer of the model, for every request slot
    pc.num_layers = kLayers;
    pc.num_slots = 8;
    pc.num_k_heads = kH;
    pc.num_v_heads = kHV;
    pc.head_k_dim = kDk;
    pc.head_v_dim = kDv;
    pc.conv_kernel = kKc;
    pc.activation_dtype = kAct;
    std::printf("pool: %zu bytes on %s\n", gdn::GDNPool::bytes_required(pc), be.name().c_str());  // before allocating
    // doc:readme-pool end
    Engine engine(be, pc);
    bool ok = true;
    auto expect = [&](const char* what, double err) {
        const bool pass = err <= kTolerance;
        std::printf("%-52s rel L2 %.2e  %s\n", what, err, pass ? "ok" : "MISMATCH");
        ok = ok && pass;
    };

    // Prefill three requests of different lengths (one shorter than the conv window).
    engine.admit("A");
    const int64_t b_slot = engine.admit("B");
    engine.admit("C");
    expect("extend: A 37 tokens, B 2, C 130", engine.step(gdn::ForwardMode::extend, {{"A", 37}, {"B", 2}, {"C", 130}}));
    for (int i = 0; i < 3; ++i)
        expect("decode: A, B, C", engine.step(gdn::ForwardMode::decode, {{"A", 1}, {"B", 1}, {"C", 1}}));
    // B finishes; D arrives and gets B's slot back, zeroed.
    engine.finish("B");
    const int64_t d_slot = engine.admit("D");
    std::printf("D is admitted in slot %lld, B's until it finished\n", (long long)d_slot);
    if (d_slot != b_slot) {
        std::printf("MISMATCH: D did not get the freed slot %lld\n", (long long)b_slot);
        ok = false;
    }
    expect("mixed: A decodes, D prefills 20, C decodes",
           engine.step(gdn::ForwardMode::mixed, {{"A", 1}, {"D", 20}, {"C", 1}}));
    expect("decode: D, A", engine.step(gdn::ForwardMode::decode, {{"D", 1}, {"A", 1}}));
    expect("extend: C continues with 65 tokens", engine.step(gdn::ForwardMode::extend, {{"C", 65}}));
    expect("states of A, C, D in the pool", engine.state_error());
    engine.finish("A");
    engine.finish("C");
    engine.finish("D");
    std::printf("%s\n", ok ? "engine example: every output and state matched the fp64 reference"
                           : "engine example: MISMATCH against the fp64 reference");
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc > 1 ? argv[1] : nullptr);
    } catch (const gdn::Error& e) {
        std::fprintf(stderr, "engine example: error (%s): %s\n", gdn::status_name(e.status()), e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "engine example: error: %s\n", e.what());
        return 2;
    }
}

// Fuzz target: argument validation of the forward path through the C++ API, against the CPU
// backend. The input is decoded into a layer (heads, head dims, conv width, dtype, A_log and
// dt_bias values), a pool (its own geometry, possibly not the layer's), a batch (mode, slots,
// lengths or cumulative lengths) and the views passed to forward (rank, shape, strides, dtype,
// null data), each a small perturbation of a valid call, so that valid calls happen too.
//
// Properties:
//   - the only exception the API throws is gdn::Error;
//   - a call that throws leaves the pool bit-identical;
//   - a call that succeeds wrote finite outputs (inputs are finite and small);
//   - an out placed inside mixed_qkv's buffer is accepted only where it shares no byte with a row
//     of mixed_qkv (the gaps of a row-strided view are free to use);
//   - every byte the backend touches lies inside memory the caller declared (each view gets a
//     buffer of exactly the extent its shape and strides describe: ASan sees any overreach).
// Sizes stay tiny (T <= 16, dims <= 24) so that a run makes thousands of calls per second.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "gdn/error.hpp"
#include "gdn/forward_batch.hpp"
#include "gdn/layer.hpp"
#include "gdn/pool.hpp"
#include "gdn/registry.hpp"

using namespace gdn;

namespace {

class Bytes {
public:
    Bytes(const uint8_t* d, size_t n) : d_(d), n_(n) {}
    uint8_t u8() { return i_ < n_ ? d_[i_++] : 0; }
    // 0..n-1
    int pick(int n) { return int(u8() % unsigned(n)); }
    bool chance(int one_in) { return pick(one_in) == 0; }
    // A value near `v`: mostly v itself, sometimes off by a little, rarely extreme.
    int64_t near(int64_t v) {
        switch (pick(16)) {
            case 0: return int64_t(uint64_t(v) + 1);  // wrapping: v may already be extreme
            case 1: return int64_t(uint64_t(v) - 1);
            case 2: return 0;
            case 3: return int64_t(0 - uint64_t(v));
            case 4: return int64_t(uint64_t(v) * 2);
            case 5: return int64_t(u8()) - 64;
            case 6: return std::numeric_limits<int64_t>::max() - int64_t(u8());
            case 7: return std::numeric_limits<int64_t>::min() + int64_t(u8());
            default: return v;
        }
    }
    float value() {  // a finite activation or, rarely, a non-finite parameter
        switch (pick(40)) {
            case 0: return std::numeric_limits<float>::quiet_NaN();
            case 1: return std::numeric_limits<float>::infinity();
            default: return float(int(u8()) - 128) / 128.0f;
        }
    }

private:
    const uint8_t* d_;
    size_t n_;
    size_t i_ = 0;
};

const Backend& cpu() {
    static const Registry reg({GDN_FUZZ_CPU_PLUGIN});
    static const Backend be = reg.open("cpu");
    return be;
}

DType dtype_from(int k) {
    static constexpr DType all[] = {DType::f32, DType::bf16, DType::f16, DType::i32, DType::i64};
    return all[k % 5];
}

// Host memory for a view: exactly the elements its shape and strides reach (nothing when a
// dimension is 0), filled with small finite values of its dtype.
struct Buffer {
    std::vector<uint8_t> bytes;
    std::optional<TensorView> view;
};

// Packed shape `want`, perturbed. Returns false when the view would describe more memory than a
// caller could own (a lie about memory is not something the host can check).
bool make_view(Bytes& in, Buffer& buf, DType dtype, std::vector<int64_t> shape, bool row_strided) {
    if (in.chance(8)) dtype = dtype_from(in.pick(5));
    if (in.chance(8)) {  // another rank
        if (in.chance(2) && !shape.empty())
            shape.pop_back();
        else
            shape.push_back(1 + in.pick(3));
    }
    for (auto& d : shape)
        if (in.chance(10)) d = in.near(d);
    std::vector<int64_t> strides = packed_strides(shape);
    if (row_strided && !strides.empty() && in.chance(3))  // wrapping: a packed stride may be near INT64_MAX
        strides[0] = int64_t(uint64_t(strides[0]) + uint64_t(in.pick(5)));
    if (in.chance(10) && !strides.empty()) {
        auto& s = strides[std::size_t(in.pick(int(strides.size())))];
        s = in.near(s);
    }
    // The extent the view describes, in elements; refuse absurd ones. One dimension reaching past
    // 2^20 elements already makes the view absurd, so each span is checked before it is summed
    // (shape and stride may both be near 2^63: their sum of products would overflow even __int128).
    constexpr __int128 limit = 1 << 20;
    bool empty = false;
    __int128 hi = 0, lo = 0;
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] <= 0) empty = true;
        if (shape[i] <= 0) continue;
        const __int128 span = __int128(shape[i] - 1) * strides[i];  // |span| < 2^126: no overflow
        if (span > limit || span < -limit) return false;
        (span >= 0 ? hi : lo) += span;
    }
    const __int128 elems = empty ? 0 : hi - lo + 1;
    if (elems > limit || lo < -limit) return false;
    buf.bytes.assign(std::size_t(elems) * dtype_size(dtype), 0);
    for (std::size_t i = 0; i < std::size_t(elems); ++i)
        store_from_double(buf.bytes.data(), dtype, i,
                          is_activation_dtype(dtype) ? double(in.u8() % 17) / 16.0 - 0.5 : 0.0);
    void* data = in.chance(20) || buf.bytes.empty()
                     ? nullptr
                     : buf.bytes.data() - std::ptrdiff_t(lo) * std::ptrdiff_t(dtype_size(dtype));
    try {
        buf.view = TensorView(data, dtype, shape, strides, in.chance(2) ? cpu() : Backend());
    } catch (const Error&) {
        buf.view = TensorView();  // rank or stride count refused: pass an empty view instead
    }
    return true;
}

bool all_finite(const Tensor& t) {
    std::vector<uint8_t> host(t.bytes());
    t.download(host.data());
    for (int64_t i = 0; i < t.numel(); ++i)
        if (!std::isfinite(load_as_double(host.data(), t.dtype(), std::size_t(i)))) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Bytes in(data, size);
    const Backend& be = cpu();

    // The layer.
    const int H = 1 + in.pick(3), ratio = 1 + in.pick(3);
    int HV = H * ratio;
    if (in.chance(16)) HV = in.pick(8);
    const int Dk = 8 * (1 + in.pick(3)) + (in.chance(8) ? in.pick(5) - 2 : 0);
    const int Dv = 8 * (1 + in.pick(3)) + (in.chance(8) ? in.pick(5) - 2 : 0);
    const int Kc = 2 + in.pick(3) + (in.chance(16) ? in.pick(5) - 2 : 0);
    const DType act = in.chance(16) ? dtype_from(in.pick(5)) : dtype_from(in.pick(3));
    const int layer_idx = in.chance(8) ? in.pick(4) - 1 : 0;
    const int64_t conv_dim = 2LL * H * Dk + int64_t(HV) * Dv;

    Buffer w, A, dt;
    if (!make_view(in, w, act, {conv_dim, Kc}, false)) return 0;
    if (!make_view(in, A, DType::f32, {HV}, false)) return 0;
    if (!make_view(in, dt, DType::f32, {HV}, false)) return 0;
    // Gate parameters: small finite values, or now and then not finite.
    for (Buffer* p : {&A, &dt})
        if (p->view && p->view->dtype() == DType::f32 && p->view->data())
            for (std::size_t i = 0; i < p->bytes.size() / 4; ++i) {
                const float v = in.value();
                std::memcpy(p->bytes.data() + 4 * i, &v, 4);
            }
    std::optional<RadixLinearAttention> layer;
    try {
        layer.emplace(0, layer_idx, H, HV, Dk, Dv, *w.view, *A.view, *dt.view);
    } catch (const Error&) {
        return 0;
    }

    // The pool: the layer's geometry, perhaps with one thing changed.
    PoolConfig pc;
    pc.num_layers = 1 + in.pick(2);
    pc.num_slots = 1 + in.pick(6);
    pc.num_k_heads = H;
    pc.num_v_heads = HV;
    pc.head_k_dim = Dk;
    pc.head_v_dim = Dv;
    pc.conv_kernel = Kc;
    pc.activation_dtype = act;
    // Who numbers the slots, from the input's last bytes (read without moving the stream, so that
    // the corpus decodes as before): the engine, or the pool with every slot allocated and
    // perhaps one freed again.
    const bool pool_slots = size >= 2 && data[size - 1] % 4 == 1;
    pc.engine_managed_slots = !pool_slots;
    switch (in.pick(24)) {
        case 0: pc.num_k_heads = int(in.near(H)); break;
        case 1: pc.num_v_heads = int(in.near(HV)); break;
        case 2: pc.head_k_dim = int(in.near(Dk)); break;
        case 3: pc.head_v_dim = int(in.near(Dv)); break;
        case 4: pc.conv_kernel = int(in.near(Kc)); break;
        case 5: pc.activation_dtype = dtype_from(in.pick(5)); break;
        case 6: pc.num_slots = in.near(pc.num_slots); break;
        case 7: pc.num_layers = int(in.near(pc.num_layers)); break;
        default: break;
    }
    {
        // Pools that are legal but too big for a fuzzing process are skipped; sizes whose byte
        // count overflows are kept: the pool must refuse them.
        // per_slot stays below 2^98 (int fields); the product with num_slots (an int64) and
        // num_layers may not fit even __int128, and such a size is one the pool must refuse.
        const __int128 per_slot =
            __int128(pc.num_v_heads) * pc.head_v_dim * pc.head_k_dim * 4 +
            (2 * __int128(pc.num_k_heads) * pc.head_k_dim + __int128(pc.num_v_heads) * pc.head_v_dim) *
                (pc.conv_kernel - 1) * 4;
        __int128 total = 0;
        const bool overflows = __builtin_mul_overflow(per_slot, __int128(pc.num_slots) + 1, &total) ||
                               __builtin_mul_overflow(total, __int128(pc.num_layers), &total);
        if (!overflows && total > (__int128(1) << 28) && total < (__int128(1) << 64)) return 0;
    }
    std::optional<GDNPool> pool;
    try {
        pool.emplace(be, pc);
    } catch (const Error&) {
        return 0;
    }
    if (!pc.engine_managed_slots) {
        for (int64_t s = 0; s < pool->num_slots(); ++s) (void)pool->alloc_slot();
        if (data[size - 2] % 2 == 1) pool->free_slot(int64_t(data[size - 2] / 2) % pool->num_slots());
    }
    for (int64_t s = 0; s < pool->num_slots(); ++s) {  // a distinct state in every slot
        std::vector<float> st(pool->recurrent_slot_bytes() / 4);
        for (std::size_t i = 0; i < st.size(); ++i) st[i] = float((i + std::size_t(s)) % 9) / 8.0f;
        pool->write_recurrent(0, s, st);
    }
    const std::vector<uint8_t> before = pool->snapshot();

    // The batch.
    const int B = in.pick(5);
    std::vector<int64_t> slots, lens;
    for (int r = 0; r < B; ++r) {
        int64_t s = in.pick(int(pool->num_slots()) + 1);  // the last one is the padding slot
        if (in.chance(12)) s = in.near(s);
        slots.push_back(s);
        int64_t l = in.pick(5);
        if (in.chance(12)) l = in.near(l);
        lens.push_back(l);
    }
    const int mode_pick = in.pick(10);
    const ForwardMode mode = mode_pick < 4   ? ForwardMode::extend
                             : mode_pick < 7 ? ForwardMode::decode
                             : mode_pick < 9 ? ForwardMode::mixed
                                             : ForwardMode(3 + in.pick(3));
    std::optional<ForwardBatch> batch;
    try {
        if (in.chance(4)) {
            std::vector<int64_t> cu{in.chance(10) ? in.near(0) : 0};
            for (int64_t l : lens)  // wrapping: the first entry may be near INT64_MAX
                cu.push_back(int64_t(uint64_t(cu.back()) + uint64_t(l > 0 && l < 100 ? l : in.pick(3))));
            if (in.chance(6) && !cu.empty()) cu.pop_back();
            batch.emplace(ForwardBatch::from_cu_seqlens(mode, *pool, slots, cu));
        } else {
            batch.emplace(mode, *pool, slots,
                          mode == ForwardMode::decode && in.chance(2) ? std::vector<int64_t>{} : lens);
        }
    } catch (const Error&) {
        if (pool->snapshot() != before) std::abort();
        return 0;
    }
    const int64_t T = batch->num_tokens();
    if (T > 16) return 0;

    // The views.
    Buffer q, a, b, out;
    if (!make_view(in, q, act, {T, conv_dim}, true)) return 0;
    if (!make_view(in, a, act, {T, HV}, true)) return 0;
    if (!make_view(in, b, act, {T, HV}, true)) return 0;
    if (!make_view(in, out, act, {T, int64_t(HV) * Dv}, false)) return 0;
    const bool own_out = in.chance(2);
    std::optional<Stream> stream;
    if (in.chance(4)) {
        stream.emplace(be, 1);
        batch->set_stream(&*stream);
    }
    // Now and then out lies inside mixed_qkv's buffer, at some offset (never once the input is
    // used up, so that older corpus inputs decode as before).
    std::optional<std::size_t> out_in_q;  // byte offset in q.bytes
    const std::size_t out_bytes = std::size_t(T) * std::size_t(HV) * std::size_t(Dv) * dtype_size(act);
    if (!own_out && in.pick(4) == 1 && out_bytes > 0 && q.bytes.size() >= out_bytes) {
        out_in_q = std::size_t(in.u8()) % (q.bytes.size() - out_bytes + 1);
        out.view = TensorView(q.bytes.data() + *out_in_q, act, {T, int64_t(HV) * Dv}, in.chance(2) ? be : Backend());
    }
    try {
        if (own_out) {
            const Tensor o = layer->forward(*batch, *q.view, *a.view, *b.view);
            batch->stream().synchronize();
            if (!all_finite(o)) std::abort();
        } else {
            layer->forward(*batch, *q.view, *a.view, *b.view, *out.view);
            if (out_in_q) {  // accepted: out must miss every row of mixed_qkv (validated: last stride 1)
                const auto base = static_cast<const uint8_t*>(q.view->data()) - q.bytes.data();
                const int64_t es = int64_t(dtype_size(act));
                for (int64_t t = 0; t < T; ++t) {
                    const int64_t row0 = base + t * q.view->stride(0) * es, row1 = row0 + conv_dim * es;
                    if (row0 < int64_t(*out_in_q + out_bytes) && row1 > int64_t(*out_in_q)) std::abort();
                }
            }
            batch->stream().synchronize();
        }
    } catch (const Error&) {
        if (pool->snapshot() != before) std::abort();
    }
    return 0;
}

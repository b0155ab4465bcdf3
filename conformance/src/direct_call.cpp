#include "direct_call.hpp"

#include <algorithm>
#include <cstring>
#include <functional>

#include "gdn/error.hpp"

namespace gdn::conformance::detail {

namespace {

constexpr std::size_t kGuardBytes = 256;  // keeps the data as aligned as the allocation
constexpr int64_t kRowPad = 32;           // extra elements per input row (a wider projection)
constexpr int64_t kSlotGap = 64;          // extra elements between state slots

// Deterministic noise bytes: the pattern of guard bands and gaps.
std::vector<uint8_t> pattern(std::size_t n, uint64_t seed) {
    std::vector<uint8_t> v(n);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    for (auto& b : v) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        b = uint8_t(s >> 56);
    }
    return v;
}

// A device buffer [guard | body | guard] whose whole image is known on the host.
class Guarded {
public:
    Guarded(const Backend& backend, const char* name, std::vector<uint8_t> body, uint64_t seed)
        : name_(name), body_size_(body.size()) {
        image_ = pattern(kGuardBytes, seed);
        image_.insert(image_.end(), body.begin(), body.end());
        const auto tail = pattern(kGuardBytes, seed + 1);
        image_.insert(image_.end(), tail.begin(), tail.end());
        buffer_ = DeviceBuffer(backend, image_.size());
        buffer_.upload(image_.data(), image_.size());
    }
    void* data() const { return static_cast<uint8_t*>(buffer_.data()) + kGuardBytes; }
    const char* name() const { return name_; }
    const std::vector<uint8_t>& before() const { return image_; }
    std::vector<uint8_t> after() const {
        std::vector<uint8_t> v(image_.size());
        buffer_.download(v.data(), v.size());
        return v;
    }
    std::size_t body_size() const { return body_size_; }

private:
    const char* name_;
    std::size_t body_size_;
    std::vector<uint8_t> image_;
    DeviceBuffer buffer_;
};

gdn_tensor tensor(void* data, DType t, std::vector<int64_t> shape, std::vector<int64_t> strides) {
    gdn_tensor g{};
    g.data = data;
    g.dtype = int32_t(t);
    g.rank = int32_t(shape.size());
    for (std::size_t d = 0; d < shape.size(); ++d) {
        g.shape[d] = shape[d];
        g.strides[d] = strides[d];
    }
    return g;
}

// Values as `t` into a row-strided image: `rows` rows of `width` values, `stride` elements apart;
// the padding between rows is pattern.
std::vector<uint8_t> strided_image(DType t, const std::vector<double>& values, int64_t rows, int64_t width,
                                   int64_t stride, uint64_t seed) {
    const std::size_t es = dtype_size(t);
    std::vector<uint8_t> img = pattern(std::size_t(std::max<int64_t>(rows * stride, 1)) * es, seed);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < width; ++i)
            store_from_double(img.data(), t, std::size_t(r * stride + i), values[std::size_t(r * width + i)]);
    return img;
}

std::vector<uint8_t> packed_image(DType t, const std::vector<double>& values) {
    std::vector<uint8_t> img(std::max<std::size_t>(values.size(), 1) * dtype_size(t));
    for (std::size_t i = 0; i < values.size(); ++i) store_from_double(img.data(), t, i, values[i]);
    return img;
}

// Describes changed bytes of a buffer outside the ranges the plugin may write.
void compare(const Guarded& g, const std::vector<uint8_t>& after, const std::vector<char>& writable,
             const std::function<std::string(std::size_t)>& where, std::vector<std::string>& violations) {
    const auto& before = g.before();
    std::size_t changed = 0, first = 0;
    for (std::size_t i = 0; i < before.size(); ++i) {
        const bool in_body = i >= kGuardBytes && i < kGuardBytes + g.body_size();
        if (in_body && writable[i - kGuardBytes]) continue;
        if (after[i] != before[i]) {
            if (!changed) first = i;
            ++changed;
        }
    }
    if (!changed) return;
    std::string at;
    if (first < kGuardBytes)
        at = "the guard band before it";
    else if (first >= kGuardBytes + g.body_size())
        at = "the guard band after it";
    else
        at = where(first - kGuardBytes);
    violations.push_back(std::string(g.name()) + ": " + std::to_string(changed) +
                         " byte(s) written where nothing may be, first in " + at);
}

}  // namespace

DirectResult direct_call(const Backend& backend, const Case& c, const std::vector<bool>& padding_in,
                         const std::function<void(gdn_forward_args&)>& edit) {
    const reference::Problem& p = c.problem;
    const DType act = c.activation_dtype;
    const int64_t T = p.num_tokens(), B = p.num_requests(), C = p.conv_dim(), Kc = p.conv_kernel;
    const int64_t HV = p.num_v_heads, Dv = p.head_v_dim, Dk = p.head_k_dim;
    const std::size_t es = dtype_size(act);
    std::vector<bool> padding = padding_in;
    padding.resize(std::size_t(B), false);

    // Pool geometry: scattered slots from the top, a padding slot after them.
    const int64_t num_slots = 2 * B + 3, total = num_slots + 1, pad_slot = num_slots;
    const int64_t rec_n = HV * Dv * Dk, conv_n = C * (Kc - 1);
    const int64_t rec_stride = rec_n + kSlotGap, conv_stride = conv_n + kSlotGap;
    std::vector<int64_t> slots(static_cast<std::size_t>(B));
    for (int64_t r = 0; r < B; ++r) slots[std::size_t(r)] = padding[std::size_t(r)] ? pad_slot : num_slots - 1 - 2 * r;

    // States: pattern everywhere, the live requests' states in their slots.
    std::vector<uint8_t> rec_img = pattern(std::size_t(total * rec_stride) * 4, 11);
    std::vector<uint8_t> conv_img = pattern(std::size_t(total * conv_stride) * es, 12);
    for (int64_t r = 0; r < B; ++r) {
        if (padding[std::size_t(r)]) continue;
        const int64_t s = slots[std::size_t(r)];
        for (int64_t i = 0; i < rec_n; ++i)
            store_from_double(rec_img.data(), DType::f32, std::size_t(s * rec_stride + i),
                              p.recurrent_state[std::size_t(r * rec_n + i)]);
        for (int64_t i = 0; i < conv_n; ++i)
            store_from_double(conv_img.data(), act, std::size_t(s * conv_stride + i),
                              p.conv_state[std::size_t(r * conv_n + i)]);
    }
    std::vector<double> cu(p.cu_seqlens.begin(), p.cu_seqlens.end()), sl(slots.begin(), slots.end());

    Guarded qkv(backend, "mixed_qkv", strided_image(act, p.mixed_qkv, T, C, C + kRowPad, 1), 1);
    Guarded a(backend, "a", strided_image(act, p.a, T, HV, HV + kRowPad, 2), 3);
    Guarded b(backend, "b", strided_image(act, p.b, T, HV, HV + kRowPad, 4), 5);
    Guarded w(backend, "conv_weight", packed_image(act, p.conv_weight), 7);
    Guarded A_log(backend, "A_log", packed_image(DType::f32, p.A_log), 9);
    Guarded dt_bias(backend, "dt_bias", packed_image(DType::f32, p.dt_bias), 13);
    Guarded cu_dev(backend, "cu_seqlens", packed_image(DType::i64, cu), 15);
    Guarded slots_dev(backend, "slots", packed_image(DType::i64, sl), 17);
    Guarded rec(backend, "recurrent_state", rec_img, 19);
    Guarded conv(backend, "conv_state", conv_img, 21);
    // NaN in every activation dtype: an element the plugin forgets to write stays NaN.
    Guarded out(backend, "out", std::vector<uint8_t>(std::size_t(std::max<int64_t>(T * HV * Dv, 1)) * es, 0xFF), 23);

    gdn_forward_args args{};
    args.struct_size = sizeof args;
    args.mode = int32_t(c.mode);
    args.num_k_heads = p.num_k_heads;
    args.num_v_heads = p.num_v_heads;
    args.head_k_dim = p.head_k_dim;
    args.head_v_dim = p.head_v_dim;
    args.conv_kernel = p.conv_kernel;
    args.activation_dtype = int32_t(act);
    args.num_tokens = T;
    args.num_requests = B;
    args.padding_slot = pad_slot;
    args.mixed_qkv = tensor(qkv.data(), act, {T, C}, {C + kRowPad, 1});
    args.a = tensor(a.data(), act, {T, HV}, {HV + kRowPad, 1});
    args.b = tensor(b.data(), act, {T, HV}, {HV + kRowPad, 1});
    args.conv_weight = tensor(w.data(), act, {C, Kc}, {Kc, 1});
    args.A_log = tensor(A_log.data(), DType::f32, {HV}, {1});
    args.dt_bias = tensor(dt_bias.data(), DType::f32, {HV}, {1});
    args.cu_seqlens = tensor(cu_dev.data(), DType::i64, {B + 1}, {1});
    args.slots = tensor(slots_dev.data(), DType::i64, {B}, {1});
    args.recurrent_state = tensor(rec.data(), DType::f32, {total, HV, Dv, Dk}, {rec_stride, Dv * Dk, Dk, 1});
    args.conv_state = tensor(conv.data(), act, {total, C, Kc - 1}, {conv_stride, Kc - 1, 1});
    args.out = tensor(out.data(), act, {T, HV * Dv}, {HV * Dv, 1});
    args.host_cu_seqlens = p.cu_seqlens.data();
    args.host_slots = slots.data();
    if (edit) edit(args);

    DirectResult res;
    Stream& stream = backend.default_stream();
    {
        char text[1024] = {0};
        gdn_errbuf err{text, sizeof text};
        res.status = backend.table().forward_gdn(stream.handle(), &args, err);
        text[sizeof text - 1] = '\0';
        res.message = text;
    }
    stream.synchronize();

    // Inputs: nothing may change, anywhere.
    std::vector<std::string>& v = res.violations;
    for (const Guarded* in : {&qkv, &a, &b, &w, &A_log, &dt_bias, &cu_dev, &slots_dev})
        compare(
            *in, in->after(), std::vector<char>(in->body_size(), 0),
            [](std::size_t off) { return "its data (byte " + std::to_string(off) + ")"; }, v);

    // Output: the body may be written, the guards not.
    const std::vector<uint8_t> out_after = out.after();
    compare(
        out, out_after, std::vector<char>(out.body_size(), 1), [](std::size_t) { return std::string(); }, v);
    res.out_bytes.assign(out_after.begin() + kGuardBytes,
                         out_after.begin() + std::ptrdiff_t(kGuardBytes + std::size_t(T * HV * Dv) * es));
    res.out_unchanged = std::equal(res.out_bytes.begin(), res.out_bytes.end(), out.before().begin() + kGuardBytes);
    res.out.resize(std::size_t(T * HV * Dv));
    for (std::size_t i = 0; i < res.out.size(); ++i) res.out[i] = load_as_double(res.out_bytes.data(), act, i);

    // States: only the live requests' slots may change.
    auto check_states = [&](const Guarded& g, int64_t slot_stride, int64_t slot_n, std::size_t elem) {
        const std::vector<uint8_t> after = g.after();
        std::vector<char> writable(g.body_size(), 0);
        for (int64_t r = 0; r < B; ++r) {
            if (padding[std::size_t(r)]) continue;
            const std::size_t off = std::size_t(slots[std::size_t(r)] * slot_stride) * elem;
            std::fill_n(writable.begin() + std::ptrdiff_t(off), std::size_t(slot_n) * elem, 1);
            const auto first = after.begin() + std::ptrdiff_t(kGuardBytes + off);
            res.state_bytes.insert(res.state_bytes.end(), first, first + std::ptrdiff_t(std::size_t(slot_n) * elem));
            if (!std::equal(first, first + std::ptrdiff_t(std::size_t(slot_n) * elem),
                            g.before().begin() + std::ptrdiff_t(kGuardBytes + off)))
                res.live_states_unchanged = false;
        }
        compare(
            g, after, writable,
            [&](std::size_t off) {
                const int64_t slot = int64_t(off / elem) / slot_stride, within = int64_t(off / elem) % slot_stride;
                if (within >= slot_n) return "the gap after slot " + std::to_string(slot);
                if (slot == pad_slot) return std::string("the padding slot");
                return "slot " + std::to_string(slot) + ", which no request of the call names";
            },
            v);
        return after;
    };
    const std::vector<uint8_t> rec_after = check_states(rec, rec_stride, rec_n, 4);
    const std::vector<uint8_t> conv_after = check_states(conv, conv_stride, conv_n, es);
    for (int64_t r = 0; r < B; ++r) {
        if (padding[std::size_t(r)]) continue;
        const int64_t s = slots[std::size_t(r)];
        for (int64_t i = 0; i < rec_n; ++i)
            res.recurrent.push_back(
                load_as_double(rec_after.data() + kGuardBytes, DType::f32, std::size_t(s * rec_stride + i)));
        for (int64_t i = 0; i < conv_n; ++i)
            res.conv.push_back(load_as_double(conv_after.data() + kGuardBytes, act, std::size_t(s * conv_stride + i)));
    }
    return res;
}

}  // namespace gdn::conformance::detail

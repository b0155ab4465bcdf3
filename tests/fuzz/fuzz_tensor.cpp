// Fuzz target: the size and offset arithmetic of tensors and buffers. The input is a sequence of
// operations, each with values near the edges (0, negative, near 2^31, 2^62, 2^63, 2^64):
//   - a packed or strided TensorView of rank 0..8 over a small host buffer;
//   - a Tensor on the CPU backend (allocated only when it is small);
//   - DeviceBuffer upload/download at an offset and size on a small CPU buffer.
//
// Properties:
//   - the only exception is gdn::Error;
//   - an accepted view has rank <= GDN_MAX_RANK, no negative dimension, a packed byte count and a
//     last-element offset below 2^63 (computed here in 128 bits), and to_c() gives back its shape
//     and strides;
//   - an accepted Tensor has exactly numel * dtype size bytes;
//   - an upload/download is accepted exactly when offset + size <= the buffer's size (in 128
//     bits), and one that is accepted stays inside the buffer and the host memory (ASan).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "gdn/error.hpp"
#include "gdn/registry.hpp"
#include "gdn/tensor.hpp"

using namespace gdn;

namespace {

using u128 = unsigned __int128;

class Bytes {
public:
    Bytes(const uint8_t* d, size_t n) : d_(d), n_(n) {}
    bool more() const { return i_ < n_; }
    uint8_t u8() { return i_ < n_ ? d_[i_++] : 0; }
    int pick(int n) { return int(u8() % unsigned(n)); }
    // A value near an edge: small, near 2^31, 2^32, 2^62, 2^63, 2^64, or negative.
    int64_t edge() {
        const int64_t small = int64_t(u8()) - 16;
        switch (pick(10)) {
            case 0: return small;
            case 1: return (int64_t(1) << 31) + small;
            case 2: return (int64_t(1) << 32) + small;
            case 3: return (int64_t(1) << 62) + small;
            case 4: return std::numeric_limits<int64_t>::max() - int64_t(u8());
            case 5: return std::numeric_limits<int64_t>::min() + int64_t(u8());
            case 6: return int64_t(1) << pick(63);
            case 7: return -int64_t(u8());
            default: return int64_t(u8() % 9);
        }
    }
    uint64_t edge_size() { return pick(3) == 0 ? ~uint64_t(0) - u8() : uint64_t(edge()); }

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

// The byte count of a packed shape and the offset of a view's last element, in 128 bits; false
// when either reaches 2^63 or a dimension is negative (what TensorView must refuse).
bool fits(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, DType dtype) {
    const u128 limit = u128(std::numeric_limits<int64_t>::max());
    u128 bytes = dtype_size(dtype);
    for (int64_t d : shape) {
        if (d < 0) return false;
        bytes *= u128(d == 0 ? 1 : d);  // a zero dimension hides nothing
        if (bytes > limit) return false;
    }
    bool empty = false;
    for (int64_t d : shape) empty |= d == 0;
    if (empty) return true;
    u128 last = 0;
    for (std::size_t i = 0; i < shape.size(); ++i) {
        const int64_t s = strides[i];
        last += u128(uint64_t(shape[i] - 1)) * u128(s < 0 ? 0 - uint64_t(s) : uint64_t(s));
        if ((last + 1) * dtype_size(dtype) > limit) return false;
    }
    return true;
}

void one_view(Bytes& in) {
    const DType dtype = dtype_from(in.pick(5));
    const int rank = in.pick(9);
    std::vector<int64_t> shape(static_cast<std::size_t>(rank)), strides;
    for (auto& d : shape) d = in.edge();
    const bool strided = in.pick(2) == 1;
    if (strided) {
        strides.resize(std::size_t(rank + (in.pick(8) == 0 ? 1 : 0)));
        for (auto& s : strides) s = in.edge();
    }
    static char host[64];
    std::optional<TensorView> v;
    try {
        v = strided ? TensorView(host, dtype, shape, strides) : TensorView(host, dtype, shape);
    } catch (const Error&) {
        // Refused: it must have been refusable.
        if (rank <= GDN_MAX_RANK && (!strided || strides.size() == shape.size()) &&
            fits(shape, strided ? strides : packed_strides(shape), dtype))
            std::abort();
        return;
    }
    if (rank > GDN_MAX_RANK || v->shape() != shape) std::abort();
    if (!fits(shape, v->strides(), dtype)) std::abort();
    if (!strided && v->strides() != packed_strides(shape)) std::abort();
    const gdn_tensor c = v->to_c();
    if (c.rank != rank) std::abort();
    for (int i = 0; i < rank; ++i)
        if (c.shape[i] != shape[std::size_t(i)] || c.strides[i] != v->strides()[std::size_t(i)]) std::abort();
}

void one_tensor(Bytes& in) {
    const DType dtype = dtype_from(in.pick(5));
    std::vector<int64_t> shape(static_cast<std::size_t>(in.pick(4)));
    for (auto& d : shape) d = in.pick(3) == 0 ? in.edge() : int64_t(in.u8() % 17);
    if (!fits(shape, packed_strides(shape), dtype)) {
        try {
            Tensor t(cpu(), dtype, shape);
        } catch (const Error&) {
            return;
        }
        std::abort();  // a shape whose size wraps was allocated
    }
    u128 bytes = dtype_size(dtype);
    for (int64_t d : shape) bytes *= u128(d);
    if (bytes > (1u << 16)) return;  // valid but large: not allocated here
    Tensor t(cpu(), dtype, shape);
    if (u128(t.bytes()) != bytes || u128(uint64_t(t.numel())) * dtype_size(dtype) != bytes) std::abort();
    std::vector<uint8_t> host(t.bytes() + 1, 0x5a);
    t.upload(host.data());
    t.download(host.data());
}

void one_copy(Bytes& in) {
    const std::size_t size = 1 + in.u8();
    DeviceBuffer small(cpu(), size);
    std::vector<uint8_t> host(size, 0x33);
    const uint64_t bytes = in.pick(2) ? in.edge_size() : in.u8() % (size + 2);
    const uint64_t offset = in.pick(2) ? in.edge_size() : in.u8() % (size + 2);
    const bool ok = u128(bytes) + u128(offset) <= u128(size);
    const bool up = in.pick(2) == 0;
    try {
        if (up)
            small.upload(host.data(), bytes, offset);
        else
            small.download(host.data(), bytes, offset);
    } catch (const Error&) {
        if (ok) std::abort();
        return;
    }
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Bytes in(data, size);
    for (int ops = 0; ops < 16 && in.more(); ++ops) {
        try {
            switch (in.pick(3)) {
                case 0: one_view(in); break;
                case 1: one_tensor(in); break;
                default: one_copy(in); break;
            }
        } catch (const Error&) {
            std::abort();  // each operation catches the errors it expects
        }
    }
    return 0;
}

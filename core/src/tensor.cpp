#include "gdn/tensor.hpp"

#include <limits>

#include "gdn/error.hpp"

namespace gdn {

// Products in unsigned arithmetic: the shape of a view comes from the caller, and one whose
// element count overflows int64 must give meaningless numbers (which no check accepts: shapes
// are compared with the expected ones first), not undefined behaviour.
std::vector<int64_t> packed_strides(const std::vector<int64_t>& shape) {
    std::vector<int64_t> s(shape.size());
    uint64_t acc = 1;
    for (std::size_t i = shape.size(); i-- > 0;) {
        s[i] = int64_t(acc);
        acc *= uint64_t(shape[i]);
    }
    return s;
}

int64_t numel_of(const std::vector<int64_t>& shape) {
    uint64_t n = 1;
    for (int64_t d : shape) n *= uint64_t(d);
    return int64_t(n);
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// A shape a view or tensor may have: at most GDN_MAX_RANK dimensions (the C struct's arrays),
// none negative, and a byte count whose packed strides and byte offsets fit in int64 (a size that
// wrapped around would pass for a small one and be written in full). Zero dimensions count as 1
// here, so that a huge shape cannot hide behind an empty one. Returns the byte count.
uint64_t check_shape(const std::vector<int64_t>& shape, DType dtype) {
    if (shape.size() > GDN_MAX_RANK)
        invalid_argument("shape", "rank at most " + str(GDN_MAX_RANK) + ", got rank " + str(int64_t(shape.size())) +
                                      " " + shape_to_string(shape));
    const uint64_t limit = uint64_t(std::numeric_limits<int64_t>::max());
    uint64_t bytes = dtype_size(dtype), numel = 1;
    for (std::size_t i = 0; i < shape.size(); ++i) {
        const std::string name = "shape[" + std::to_string(i) + "]";
        if (shape[i] < 0) invalid_argument(name, "a size >= 0, got " + str(shape[i]) + " in " + shape_to_string(shape));
        const uint64_t d = shape[i] == 0 ? 1 : uint64_t(shape[i]);
        if (bytes > limit / d)
            invalid_argument(name, "a size that keeps " + shape_to_string(shape) + " " + dtype_name(dtype) +
                                       " below 2^63 bytes, got " + str(shape[i]));
        bytes *= d;
        numel *= uint64_t(shape[i]);
    }
    return numel * dtype_size(dtype);
}

// The byte offset of the last element a strided view reaches must fit in int64 as well.
void check_extent(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, DType dtype) {
    const unsigned __int128 limit = uint64_t(std::numeric_limits<int64_t>::max());
    // A view with a zero dimension has no element, whatever its other dimensions and strides.
    for (const int64_t d : shape)
        if (d == 0) return;
    unsigned __int128 last = 0;  // offset of the last element, in elements
    for (std::size_t i = 0; i < shape.size(); ++i) {
        const int64_t s = strides[i];
        const uint64_t step = s < 0 ? 0 - uint64_t(s) : uint64_t(s);
        last += (unsigned __int128)(uint64_t(shape[i] - 1)) * step;  // < 2^126 per dimension
        if ((last + 1) * dtype_size(dtype) > limit)
            invalid_argument("strides[" + std::to_string(i) + "]",
                             "strides that keep the view " + shape_to_string(shape) + " " + dtype_name(dtype) +
                                 " below 2^63 bytes, got strides " + shape_to_string(strides));
    }
}

}  // namespace

TensorView::TensorView(void* data, DType dtype, std::vector<int64_t> shape, Backend device)
    : data_(data), dtype_(dtype), shape_(std::move(shape)), device_(std::move(device)) {
    (void)check_shape(shape_, dtype_);
    strides_ = packed_strides(shape_);
}

TensorView::TensorView(void* data, DType dtype, std::vector<int64_t> shape, std::vector<int64_t> strides,
                       Backend device)
    : data_(data), dtype_(dtype), shape_(std::move(shape)), strides_(std::move(strides)), device_(std::move(device)) {
    (void)check_shape(shape_, dtype_);
    if (shape_.size() != strides_.size())
        invalid_argument("strides", "one stride per dimension (" + std::to_string(shape_.size()) + "), got " +
                                        std::to_string(strides_.size()));
    check_extent(shape_, strides_, dtype_);
}

int64_t TensorView::numel() const { return numel_of(shape_); }

bool TensorView::is_packed() const { return strides_ == packed_strides(shape_); }

std::string TensorView::shape_string() const { return shape_to_string(shape_); }

gdn_tensor TensorView::to_c() const {
    gdn_tensor t{};
    t.data = data_;
    t.dtype = static_cast<int32_t>(dtype_);
    t.rank = rank();
    for (int i = 0; i < rank(); ++i) {
        t.shape[i] = shape_[std::size_t(i)];
        t.strides[i] = strides_[std::size_t(i)];
    }
    return t;
}

Tensor::Tensor(const Backend& backend, DType dtype, std::vector<int64_t> shape)
    : buffer_(backend, std::size_t(check_shape(shape, dtype))),
      view_(buffer_.data(), dtype, std::move(shape), backend) {}

void Tensor::upload(const void* host) { buffer_.upload(host, buffer_.size()); }
void Tensor::download(void* host) const { buffer_.download(host, buffer_.size()); }

}  // namespace gdn

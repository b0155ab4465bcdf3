#include "gdn/tensor.hpp"

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

TensorView::TensorView(void* data, DType dtype, std::vector<int64_t> shape, Backend device)
    : data_(data), dtype_(dtype), shape_(std::move(shape)), device_(std::move(device)) {
    strides_ = packed_strides(shape_);
}

TensorView::TensorView(void* data, DType dtype, std::vector<int64_t> shape,
                       std::vector<int64_t> strides, Backend device)
    : data_(data), dtype_(dtype), shape_(std::move(shape)), strides_(std::move(strides)),
      device_(std::move(device)) {
    if (shape_.size() != strides_.size())
        invalid_argument("strides", "one stride per dimension (" + std::to_string(shape_.size()) +
                                        "), got " + std::to_string(strides_.size()));
    if (shape_.size() > GDN_MAX_RANK)
        invalid_argument("shape", "rank at most " + std::to_string(GDN_MAX_RANK));
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
    : buffer_(backend, std::size_t(numel_of(shape)) * dtype_size(dtype)),
      view_(buffer_.data(), dtype, std::move(shape), backend) {}

void Tensor::upload(const void* host) { buffer_.upload(host, buffer_.size()); }
void Tensor::download(void* host) const { buffer_.download(host, buffer_.size()); }

}  // namespace gdn

// TensorView: a non-owning, strided view of memory on some backend's device (or the host).
// Tensor: a TensorView plus the DeviceBuffer that owns its memory.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "gdn/backend.hpp"
#include "gdn/dtype.hpp"
#include "gdn/export.hpp"
#include "gdn/plugin.h"

namespace gdn {

class GDN_API TensorView {
public:
    TensorView() = default;
    // Packed (row-major) view.
    TensorView(void* data, DType dtype, std::vector<int64_t> shape, Backend device = {});
    // Strided view; strides in elements.
    TensorView(void* data, DType dtype, std::vector<int64_t> shape, std::vector<int64_t> strides, Backend device = {});

    void* data() const { return data_; }
    DType dtype() const { return dtype_; }
    int rank() const { return static_cast<int>(shape_.size()); }
    const std::vector<int64_t>& shape() const { return shape_; }
    const std::vector<int64_t>& strides() const { return strides_; }
    int64_t size(int dim) const { return shape_.at(static_cast<std::size_t>(dim)); }
    int64_t stride(int dim) const { return strides_.at(static_cast<std::size_t>(dim)); }
    int64_t numel() const;
    // The backend whose device holds the data; invalid Backend means plain host memory.
    const Backend& device() const { return device_; }

    bool is_packed() const;
    // "[4, 8]" — used in error messages.
    std::string shape_string() const;

    // The C form passed across the plugin boundary.
    gdn_tensor to_c() const;

private:
    void* data_ = nullptr;
    DType dtype_ = DType::f32;
    std::vector<int64_t> shape_;
    std::vector<int64_t> strides_;
    Backend device_;
};

// Packed strides for a shape.
GDN_API std::vector<int64_t> packed_strides(const std::vector<int64_t>& shape);
GDN_API int64_t numel_of(const std::vector<int64_t>& shape);
GDN_API std::string shape_to_string(const std::vector<int64_t>& shape);

// Owning packed tensor on a backend's device.
class GDN_API Tensor {
public:
    Tensor() = default;
    Tensor(const Backend& backend, DType dtype, std::vector<int64_t> shape);

    const TensorView& view() const { return view_; }
    operator const TensorView&() const { return view_; }
    void* data() const { return view_.data(); }
    DType dtype() const { return view_.dtype(); }
    const std::vector<int64_t>& shape() const { return view_.shape(); }
    int64_t numel() const { return view_.numel(); }
    std::size_t bytes() const { return buffer_.size(); }

    // Copies between the device and host memory of exactly bytes() bytes (synchronous).
    void upload(const void* host);
    void download(void* host) const;
    template <class T>
    std::vector<T> to_host() const {
        std::vector<T> v(bytes() / sizeof(T));
        download(v.data());
        return v;
    }

private:
    DeviceBuffer buffer_;
    TensorView view_;
};

}  // namespace gdn

// Per-worker scratch memory. One buffer per worker thread of a stream, grown (never shrunk) to
// the largest layout a call needed, so that steady-state calls, decode above all, allocate
// nothing on the heap.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace gdn_cpu {

class Scratch {
public:
    Scratch() = default;
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    ~Scratch() { std::free(data_); }

    // At least `floats` floats, 64-byte aligned. The contents are undefined.
    float* get(std::size_t floats) {
        if (floats > capacity_) {
            std::free(data_);
            data_ = nullptr;
            capacity_ = 0;
            const std::size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
            data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
            if (!data_) throw std::bad_alloc();
            capacity_ = floats;
        }
        return data_;
    }

private:
    float* data_ = nullptr;
    std::size_t capacity_ = 0;
};

}  // namespace gdn_cpu

// ForwardBatch: what one forward step of the model runs over — which requests (pool slots),
// how many new tokens each has, on which backend, stream and pool.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "gdn/backend.hpp"
#include "gdn/export.hpp"
#include "gdn/pool.hpp"
#include "gdn/tensor.hpp"

namespace gdn {

enum class ForwardMode {
    extend = GDN_MODE_EXTEND,  // prefill, packed varlen; lengths >= 0
    decode = GDN_MODE_DECODE,  // one token per request
    mixed = GDN_MODE_MIXED,    // some requests extend, some decode
};
GDN_API const char* mode_name(ForwardMode m);

class GDN_API ForwardBatch {
public:
    // `req_pool_indices[r]` is request r's slot in `pool` (the pool's padding slot marks a padded
    // row); `extend_seq_lens[r]` its number of new tokens (ignored for decode: 1 each).
    // Checks everything here, before any layer runs: slots in range, no slot twice, lengths.
    ForwardBatch(ForwardMode mode, GDNPool& pool, std::vector<int64_t> req_pool_indices,
                 std::vector<int64_t> extend_seq_lens = {});

    static ForwardBatch extend(GDNPool& pool, std::vector<int64_t> slots, std::vector<int64_t> lens) {
        return ForwardBatch(ForwardMode::extend, pool, std::move(slots), std::move(lens));
    }
    static ForwardBatch decode(GDNPool& pool, std::vector<int64_t> slots) {
        return ForwardBatch(ForwardMode::decode, pool, std::move(slots));
    }
    static ForwardBatch mixed(GDNPool& pool, std::vector<int64_t> slots, std::vector<int64_t> lens) {
        return ForwardBatch(ForwardMode::mixed, pool, std::move(slots), std::move(lens));
    }
    // From cumulative lengths [B+1] instead of lengths.
    static ForwardBatch from_cu_seqlens(ForwardMode mode, GDNPool& pool, std::vector<int64_t> slots,
                                        const std::vector<int64_t>& cu_seqlens);

    ForwardMode mode() const { return mode_; }
    // Throw Error when the pool was destroyed before this batch.
    GDNPool& pool() const {
        if (pool_lifetime_.expired()) pool_destroyed();
        return *pool_;
    }
    const Backend& backend() const { return pool().backend(); }
    int64_t num_requests() const { return int64_t(slots_.size()); }
    int64_t num_tokens() const { return cu_seqlens_.back(); }
    const std::vector<int64_t>& req_pool_indices() const { return slots_; }
    const std::vector<int64_t>& cu_seqlens() const { return cu_seqlens_; }

    // The stream the layers run on (the backend's default unless set).
    Stream& stream() const { return stream_ ? *stream_ : backend().default_stream(); }
    void set_stream(Stream* stream);

    // Replaces the slots of the same number of requests, reusing the device copy (so a captured
    // decode graph replays over the new slots). Checked like the constructor.
    void update_slots(const std::vector<int64_t>& req_pool_indices);

    // The device copies of cu_seqlens [B+1] and slots [B] (i64), uploaded at construction.
    TensorView device_cu_seqlens() const;
    TensorView device_slots() const;

private:
    void check_slots(const std::vector<int64_t>& slots) const;
    [[noreturn]] static void pool_destroyed();
    void upload_indices();

    ForwardMode mode_;
    GDNPool* pool_;
    std::weak_ptr<const void> pool_lifetime_;
    Stream* stream_ = nullptr;
    std::vector<int64_t> slots_;
    std::vector<int64_t> cu_seqlens_;
    DeviceBuffer device_indices_;  // cu_seqlens then slots
};

}  // namespace gdn

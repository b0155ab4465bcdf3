#include "gdn/forward_batch.hpp"

#include <limits>
#include <string>
#include <vector>

#include "gdn/error.hpp"

namespace gdn {

const char* mode_name(ForwardMode m) {
    switch (m) {
        case ForwardMode::extend: return "extend";
        case ForwardMode::decode: return "decode";
        case ForwardMode::mixed: return "mixed";
    }
    return "?";
}

ForwardBatch::ForwardBatch(ForwardMode mode, GDNPool& pool, std::vector<int64_t> req_pool_indices,
                           std::vector<int64_t> extend_seq_lens)
    : mode_(mode), pool_(&pool), pool_lifetime_(pool.lifetime()), slots_(std::move(req_pool_indices)) {
    if (mode != ForwardMode::extend && mode != ForwardMode::decode && mode != ForwardMode::mixed)
        invalid_argument("mode", "extend, decode or mixed");
    const std::size_t B = slots_.size();
    if (mode == ForwardMode::decode) {
        if (!extend_seq_lens.empty() && extend_seq_lens != std::vector<int64_t>(B, 1))
            invalid_argument("extend_seq_lens", "empty or all 1 in decode mode");
        extend_seq_lens.assign(B, 1);
    } else if (extend_seq_lens.size() != B) {
        invalid_argument("extend_seq_lens", "one length per request (" + std::to_string(B) + "), got " +
                                                std::to_string(extend_seq_lens.size()));
    }
    cu_seqlens_.assign(B + 1, 0);
    for (std::size_t r = 0; r < B; ++r) {
        if (extend_seq_lens[r] < 0)
            invalid_argument("extend_seq_lens[" + std::to_string(r) + "]",
                             "a length >= 0, got " + std::to_string(extend_seq_lens[r]));
        if (extend_seq_lens[r] > std::numeric_limits<int64_t>::max() - cu_seqlens_[r])
            invalid_argument("extend_seq_lens", "lengths whose sum fits in int64");
        cu_seqlens_[r + 1] = cu_seqlens_[r] + extend_seq_lens[r];
    }
    check_slots(slots_);
    upload_indices();
}

ForwardBatch ForwardBatch::from_cu_seqlens(ForwardMode mode, GDNPool& pool, std::vector<int64_t> slots,
                                           const std::vector<int64_t>& cu_seqlens) {
    if (cu_seqlens.size() != slots.size() + 1)
        invalid_argument("cu_seqlens", "B+1 = " + std::to_string(slots.size() + 1) + " entries, got " +
                                           std::to_string(cu_seqlens.size()));
    if (cu_seqlens.front() != 0) invalid_argument("cu_seqlens[0]", "0, got " + std::to_string(cu_seqlens.front()));
    std::vector<int64_t> lens(slots.size());
    for (std::size_t r = 0; r < lens.size(); ++r) {
        if (cu_seqlens[r + 1] < cu_seqlens[r])
            invalid_argument("cu_seqlens", "non-decreasing, but entry " + std::to_string(r + 1) + " (" +
                                               std::to_string(cu_seqlens[r + 1]) + ") < entry " +
                                               std::to_string(r) + " (" + std::to_string(cu_seqlens[r]) + ")");
        lens[r] = cu_seqlens[r + 1] - cu_seqlens[r];  // cannot overflow: both >= 0, in order
    }
    return ForwardBatch(mode, pool, std::move(slots), std::move(lens));
}

void ForwardBatch::check_slots(const std::vector<int64_t>& slots) const {
    const int64_t pad = pool().padding_slot();
    std::vector<char> seen(std::size_t(pad + 1), 0);
    for (std::size_t r = 0; r < slots.size(); ++r) {
        const int64_t s = slots[r];
        const std::string name = "req_pool_indices[" + std::to_string(r) + "]";
        if (s < 0 || s > pad)
            invalid_argument(name, "a slot in 0.." + std::to_string(pad - 1) + " or the padding slot " +
                                       std::to_string(pad) + ", got " + std::to_string(s));
        if (s == pad) continue;  // padding rows may repeat
        if (seen[std::size_t(s)])
            invalid_argument(name, "a slot not used by another request of the batch, but slot " +
                                       std::to_string(s) + " appears twice");
        seen[std::size_t(s)] = 1;
    }
}

void ForwardBatch::pool_destroyed() {
    throw Error(GDN_ERR_INVALID_ARGUMENT, "batch: its GDNPool was destroyed; a ForwardBatch must not outlive its pool");
}

void ForwardBatch::set_stream(Stream* stream) {
    if (stream && stream->backend().plugin_ptr() != backend().plugin_ptr())
        invalid_argument("stream", "a stream of backend " + backend().name());
    stream_ = stream;
}

void ForwardBatch::update_slots(const std::vector<int64_t>& req_pool_indices) {
    if (req_pool_indices.size() != slots_.size())
        invalid_argument("req_pool_indices", std::to_string(slots_.size()) + " slots (the batch size), got " +
                                                 std::to_string(req_pool_indices.size()));
    check_slots(req_pool_indices);
    slots_ = req_pool_indices;
    device_indices_.upload(slots_.data(), slots_.size() * sizeof(int64_t), cu_seqlens_.size() * sizeof(int64_t));
}

void ForwardBatch::upload_indices() {
    const std::size_t n = cu_seqlens_.size() + slots_.size();
    device_indices_ = DeviceBuffer(backend(), n * sizeof(int64_t));
    std::vector<int64_t> host(cu_seqlens_);
    host.insert(host.end(), slots_.begin(), slots_.end());
    device_indices_.upload(host.data(), n * sizeof(int64_t));
}

TensorView ForwardBatch::device_cu_seqlens() const {
    return TensorView(device_indices_.data(), DType::i64, {int64_t(cu_seqlens_.size())}, backend());
}

TensorView ForwardBatch::device_slots() const {
    auto* base = static_cast<int64_t*>(device_indices_.data()) + cu_seqlens_.size();
    return TensorView(base, DType::i64, {int64_t(slots_.size())}, backend());
}

}  // namespace gdn

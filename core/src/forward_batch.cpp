#include "gdn/forward_batch.hpp"

#include <limits>
#include <string>
#include <vector>

#include "gdn/error.hpp"

namespace gdn {

namespace {

[[noreturn]] void free_slot_named(const std::string& name, int64_t slot) {
    invalid_argument(name, "a slot allocated with alloc_slot (or a pool with engine_managed_slots), but slot " +
                               std::to_string(slot) + " is free");
}

}  // namespace

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
                                               std::to_string(cu_seqlens[r + 1]) + ") < entry " + std::to_string(r) +
                                               " (" + std::to_string(cu_seqlens[r]) + ")");
        lens[r] = cu_seqlens[r + 1] - cu_seqlens[r];  // cannot overflow: both >= 0, in order
    }
    return ForwardBatch(mode, pool, std::move(slots), std::move(lens));
}

ForwardBatch ForwardBatch::verify(GDNPool& pool, std::vector<int64_t> slots, std::vector<int64_t> draft_lens) {
    for (std::size_t r = 0; r < draft_lens.size(); ++r)
        if (draft_lens[r] < 1 || draft_lens[r] > kMaxDraftTokens)
            invalid_argument(
                "draft_lens[" + std::to_string(r) + "]",
                "1.." + std::to_string(kMaxDraftTokens) + " draft tokens, got " + std::to_string(draft_lens[r]));
    const std::size_t B = slots.size();
    ForwardBatch batch(ForwardMode::extend, pool, std::move(slots), std::move(draft_lens));
    batch.set_write_slots(std::vector<int64_t>(B, kNoStateWrite));
    return batch;
}

ForwardBatch ForwardBatch::commit(GDNPool& pool, std::vector<int64_t> slots, std::vector<int64_t> draft_lens,
                                  std::vector<int64_t> accepted) {
    for (std::size_t r = 0; r < draft_lens.size(); ++r)
        if (draft_lens[r] < 1 || draft_lens[r] > kMaxDraftTokens)
            invalid_argument(
                "draft_lens[" + std::to_string(r) + "]",
                "1.." + std::to_string(kMaxDraftTokens) + " draft tokens, got " + std::to_string(draft_lens[r]));
    if (accepted.size() != slots.size())
        invalid_argument("accepted", "one count per request (" + std::to_string(slots.size()) + "), got " +
                                         std::to_string(accepted.size()));
    for (std::size_t r = 0; r < accepted.size() && r < draft_lens.size(); ++r)
        if (accepted[r] < 0 || accepted[r] > draft_lens[r])
            invalid_argument(
                "accepted[" + std::to_string(r) + "]",
                "0.." + std::to_string(draft_lens[r]) + " (its draft tokens), got " + std::to_string(accepted[r]));
    ForwardBatch batch(ForwardMode::extend, pool, std::move(slots), std::move(draft_lens));
    batch.accepted_ = std::move(accepted);
    batch.upload_indices();
    return batch;
}

void ForwardBatch::set_write_slots(std::vector<int64_t> write_slots) {
    check_write_slots(slots_, write_slots);
    const std::vector<int64_t>& writes = write_slots;
    check_checkpoint_slots(slots_, writes, checkpoint_slots_);
    write_slots_ = std::move(write_slots);
    upload_indices();
}

int64_t ForwardBatch::state_length(std::size_t r) const {
    return accepted_.empty() ? cu_seqlens_[r + 1] - cu_seqlens_[r] : accepted_[r];
}

void ForwardBatch::set_checkpoints(const std::vector<std::vector<Checkpoint>>& per_request) {
    if (per_request.size() != slots_.size())
        invalid_argument("checkpoints", "one list per request (" + std::to_string(slots_.size()) + "), got " +
                                            std::to_string(per_request.size()));
    std::vector<int64_t> cu{0}, pos, ck_slots;
    for (std::size_t r = 0; r < per_request.size(); ++r) {
        const int64_t L = state_length(r);
        int64_t last = 0;
        for (std::size_t i = 0; i < per_request[r].size(); ++i) {
            const Checkpoint& c = per_request[r][i];
            const std::string name = "checkpoints[" + std::to_string(r) + "][" + std::to_string(i) + "]";
            if (c.tokens <= last || c.tokens > L)
                invalid_argument(name + ".tokens", "a token count in " + std::to_string(last + 1) + ".." +
                                                       std::to_string(L) + " (increasing, at most the request's " +
                                                       std::to_string(L) + " tokens), got " + std::to_string(c.tokens));
            if (slots_[r] == pool().padding_slot()) invalid_argument(name, "no checkpoint for a padding request");
            last = c.tokens;
            pos.push_back(c.tokens);
            ck_slots.push_back(c.slot);
        }
        cu.push_back(int64_t(pos.size()));
    }
    check_checkpoint_slots(slots_, write_slots(), ck_slots);
    if (pos.empty()) cu.clear();
    checkpoint_cu_ = std::move(cu);
    checkpoint_pos_ = std::move(pos);
    checkpoint_slots_ = std::move(ck_slots);
    upload_indices();
}

void ForwardBatch::check_write_slots(const std::vector<int64_t>& slots, const std::vector<int64_t>& writes) const {
    if (writes.size() != slots.size())
        invalid_argument("write_slots", "one slot per request (" + std::to_string(slots.size()) + "), got " +
                                            std::to_string(writes.size()));
    const int64_t pad = pool().padding_slot();
    std::vector<int64_t> reader(std::size_t(pad + 1), -1), writer(std::size_t(pad + 1), -1);
    for (std::size_t r = 0; r < slots.size(); ++r)
        if (slots[r] != pad) reader[std::size_t(slots[r])] = int64_t(r);
    for (std::size_t r = 0; r < writes.size(); ++r) {
        const int64_t w = writes[r];
        const std::string name = "write_slots[" + std::to_string(r) + "]";
        if (slots[r] == pad) {
            if (w != kNoStateWrite && w != pad)
                invalid_argument(name, "kNoStateWrite (-1) or the padding slot " + std::to_string(pad) +
                                           " for a padding request, got " + std::to_string(w));
            continue;
        }
        if (w == kNoStateWrite) continue;
        if (w < 0 || w >= pad)
            invalid_argument(
                name, "a slot in 0.." + std::to_string(pad - 1) + " or kNoStateWrite (-1), got " + std::to_string(w));
        const int64_t q = reader[std::size_t(w)];
        if (q >= 0 && q != int64_t(r))
            invalid_argument(name, "a slot no other request of the call reads, but request " + std::to_string(q) +
                                       " reads slot " + std::to_string(w));
        if (writer[std::size_t(w)] >= 0)
            invalid_argument(name, "a slot no other request writes, but request " +
                                       std::to_string(writer[std::size_t(w)]) + " writes slot " + std::to_string(w) +
                                       " too");
        writer[std::size_t(w)] = int64_t(r);
    }
    if (const int64_t r = pool().first_free(writes); r >= 0)
        free_slot_named("write_slots[" + std::to_string(r) + "]", writes[std::size_t(r)]);
}

void ForwardBatch::check_checkpoint_slots(const std::vector<int64_t>& slots, const std::vector<int64_t>& writes,
                                          const std::vector<int64_t>& ck_slots) const {
    const int64_t pad = pool().padding_slot();
    std::vector<char> used(std::size_t(pad + 1), 0);  // 1 read, 2 written, 3 another checkpoint
    for (std::size_t r = 0; r < writes.size(); ++r)
        if (writes[r] >= 0 && writes[r] < pad) used[std::size_t(writes[r])] = 2;
    for (std::size_t r = 0; r < slots.size(); ++r)  // a slot read and written is named as read
        if (slots[r] != pad) used[std::size_t(slots[r])] = 1;
    for (std::size_t i = 0; i < ck_slots.size(); ++i) {
        const int64_t s = ck_slots[i];
        const std::string name = "checkpoint slot " + std::to_string(i);
        if (s < 0 || s >= pad)
            invalid_argument(name, "a slot in 0.." + std::to_string(pad - 1) + ", got " + std::to_string(s));
        const char u = used[std::size_t(s)];
        if (u)
            invalid_argument(name, "a slot the call does not otherwise use, but slot " + std::to_string(s) + " is " +
                                       (u == 1   ? "a request's read slot"
                                        : u == 2 ? "a request's write slot"
                                                 : "another checkpoint's slot"));
        used[std::size_t(s)] = 3;
    }
    if (const int64_t i = pool().first_free(ck_slots); i >= 0)
        free_slot_named("checkpoint slot " + std::to_string(i), ck_slots[std::size_t(i)]);
}

void ForwardBatch::check_allocated() const {
    pool().check_allocated("req_pool_indices", slots_);
    if (const int64_t r = pool().first_free(write_slots_); r >= 0)
        free_slot_named("write_slots[" + std::to_string(r) + "]", write_slots_[std::size_t(r)]);
    if (const int64_t i = pool().first_free(checkpoint_slots_); i >= 0)
        free_slot_named("checkpoint slot " + std::to_string(i), checkpoint_slots_[std::size_t(i)]);
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
            invalid_argument(name, "a slot not used by another request of the batch, but slot " + std::to_string(s) +
                                       " appears twice");
        seen[std::size_t(s)] = 1;
    }
    pool().check_allocated("req_pool_indices", slots);
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
    if (!write_slots_.empty()) check_write_slots(req_pool_indices, write_slots_);
    check_checkpoint_slots(req_pool_indices, write_slots_.empty() ? req_pool_indices : write_slots_, checkpoint_slots_);
    slots_ = req_pool_indices;
    device_indices_.upload(slots_.data(), slots_.size() * sizeof(int64_t), cu_seqlens_.size() * sizeof(int64_t));
}

void ForwardBatch::upload_indices() {
    std::vector<int64_t> host(cu_seqlens_);
    for (const auto* v : {&slots_, &write_slots_, &accepted_, &checkpoint_cu_, &checkpoint_pos_, &checkpoint_slots_})
        host.insert(host.end(), v->begin(), v->end());
    device_indices_ = DeviceBuffer(backend(), host.size() * sizeof(int64_t));
    device_indices_.upload(host.data(), host.size() * sizeof(int64_t));
}

TensorView ForwardBatch::device_part(std::size_t offset, std::size_t count) const {
    if (count == 0) return TensorView();
    auto* base = static_cast<int64_t*>(device_indices_.data()) + offset;
    return TensorView(base, DType::i64, {int64_t(count)}, backend());
}

TensorView ForwardBatch::device_write_slots() const {
    return device_part(cu_seqlens_.size() + slots_.size(), write_slots_.size());
}
TensorView ForwardBatch::device_accepted() const {
    return device_part(cu_seqlens_.size() + slots_.size() + write_slots_.size(), accepted_.size());
}
TensorView ForwardBatch::device_checkpoint_cu() const {
    return device_part(cu_seqlens_.size() + slots_.size() + write_slots_.size() + accepted_.size(),
                       checkpoint_cu_.size());
}
TensorView ForwardBatch::device_checkpoint_pos() const {
    return device_part(
        cu_seqlens_.size() + slots_.size() + write_slots_.size() + accepted_.size() + checkpoint_cu_.size(),
        checkpoint_pos_.size());
}
TensorView ForwardBatch::device_checkpoint_slots() const {
    return device_part(cu_seqlens_.size() + slots_.size() + write_slots_.size() + accepted_.size() +
                           checkpoint_cu_.size() + checkpoint_pos_.size(),
                       checkpoint_slots_.size());
}

TensorView ForwardBatch::device_cu_seqlens() const {
    return TensorView(device_indices_.data(), DType::i64, {int64_t(cu_seqlens_.size())}, backend());
}

TensorView ForwardBatch::device_slots() const {
    auto* base = static_cast<int64_t*>(device_indices_.data()) + cu_seqlens_.size();
    return TensorView(base, DType::i64, {int64_t(slots_.size())}, backend());
}

}  // namespace gdn

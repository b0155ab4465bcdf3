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
// How many modes there are, in code order; tables of modes check themselves against these.
inline constexpr ForwardMode kForwardModes[] = {ForwardMode::extend, ForwardMode::decode, ForwardMode::mixed};
inline constexpr int kForwardModeCount = int(sizeof(kForwardModes) / sizeof(kForwardModes[0]));
static_assert(GDN_MODE_MIXED + 1 == kForwardModeCount, "ForwardMode mirrors gdn_mode: one enumerator per value");

GDN_API const char* mode_name(ForwardMode m);

// A write slot that means "no state write": the request's new state is computed and dropped
// (speculative decoding's verify), its read slot stays bit-identical.
inline constexpr int64_t kNoStateWrite = GDN_SLOT_NONE;
// Draft tokens per request that verify() and commit() take.
inline constexpr int64_t kMaxDraftTokens = 16;

// A snapshot inside an extend (ABI 1.2, GDN_FEATURE_CHECKPOINTS): the recurrent and conv state
// after the request's first `tokens` tokens are written to `slot` (prefix caching at page
// boundaries; per-token states for speculative decoding).
struct Checkpoint {
    int64_t tokens;
    int64_t slot;
};

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

    // Speculative decoding, step 1: every draft token of every request runs (1..16 per request)
    // and has an output; no state is written. The layer call's inputs are the drafts' rows.
    static ForwardBatch verify(GDNPool& pool, std::vector<int64_t> slots, std::vector<int64_t> draft_lens);
    // Step 2, with the same inputs as verify: each request's state advances by its first
    // `accepted[r]` draft tokens (0 keeps it); no output is written (call the layer without `out`).
    static ForwardBatch commit(GDNPool& pool, std::vector<int64_t> slots, std::vector<int64_t> draft_lens,
                               std::vector<int64_t> accepted);

    // ---- serving options (ABI 1.2); each checked here, before any layer runs -------------------
    // Request r reads its state from req_pool_indices[r] and writes the new state to
    // write_slots[r] instead (kNoStateWrite: nowhere). A write slot is never another request's
    // read or write slot; a padding request's is kNoStateWrite or the padding slot. Like read
    // slots, write slots must be allocated unless the pool's slots are engine-managed.
    void set_write_slots(std::vector<int64_t> write_slots);
    // Per request, its checkpoints (token counts increasing, in 1..its length; slots that no
    // request of the batch reads or writes, each once, not the padding slot, allocated unless
    // the pool's slots are engine-managed).
    void set_checkpoints(const std::vector<std::vector<Checkpoint>>& per_request);

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
    // Where each request's new state goes (its read slot unless set_write_slots said otherwise).
    const std::vector<int64_t>& write_slots() const { return write_slots_.empty() ? slots_ : write_slots_; }
    bool has_write_slots() const { return !write_slots_.empty(); }
    // Commit batches only: the tokens of each request that advance its state; empty otherwise.
    const std::vector<int64_t>& accepted() const { return accepted_; }
    // Flattened checkpoints: request r's are [checkpoint_cu[r], checkpoint_cu[r+1]) of the others.
    int64_t num_checkpoints() const { return int64_t(checkpoint_pos_.size()); }
    const std::vector<int64_t>& checkpoint_cu() const { return checkpoint_cu_; }
    const std::vector<int64_t>& checkpoint_pos() const { return checkpoint_pos_; }
    const std::vector<int64_t>& checkpoint_slots() const { return checkpoint_slots_; }
    // False for a commit batch: the layer writes no output.
    bool writes_output() const { return accepted_.empty(); }

    // The stream the layers run on (the backend's default unless set).
    Stream& stream() const { return stream_ ? *stream_ : backend().default_stream(); }
    void set_stream(Stream* stream);

    // Replaces the slots of the same number of requests, reusing the device copy (so a captured
    // decode graph replays over the new slots). Checked like the constructor.
    void update_slots(const std::vector<int64_t>& req_pool_indices);
    // Throws Error naming the argument when a read, write or checkpoint slot of the batch is free
    // in the pool (freed after the batch was made), unless the pool's slots are engine-managed.
    void check_allocated() const;

    // The device copies of cu_seqlens [B+1] and slots [B] (i64), uploaded at construction, and of
    // the serving options (empty views when unset).
    TensorView device_cu_seqlens() const;
    TensorView device_slots() const;
    TensorView device_write_slots() const;
    TensorView device_accepted() const;
    TensorView device_checkpoint_cu() const;
    TensorView device_checkpoint_pos() const;
    TensorView device_checkpoint_slots() const;

private:
    void check_slots(const std::vector<int64_t>& slots) const;
    void check_write_slots(const std::vector<int64_t>& slots, const std::vector<int64_t>& write_slots) const;
    void check_checkpoint_slots(const std::vector<int64_t>& slots, const std::vector<int64_t>& writes,
                                const std::vector<int64_t>& checkpoint_slots) const;
    int64_t state_length(std::size_t r) const;
    TensorView device_part(std::size_t offset, std::size_t count) const;
    [[noreturn]] static void pool_destroyed();
    void upload_indices();

    ForwardMode mode_;
    GDNPool* pool_;
    std::weak_ptr<const void> pool_lifetime_;
    Stream* stream_ = nullptr;
    std::vector<int64_t> slots_;
    std::vector<int64_t> cu_seqlens_;
    std::vector<int64_t> write_slots_;                                        // empty: the read slots
    std::vector<int64_t> accepted_;                                           // commit only
    std::vector<int64_t> checkpoint_cu_, checkpoint_pos_, checkpoint_slots_;  // empty: none
    DeviceBuffer device_indices_;  // cu_seqlens, slots, write slots, accepted, checkpoint cu/pos/slots
};

}  // namespace gdn

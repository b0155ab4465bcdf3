#include "validate.hpp"

#include <cinttypes>
#include <cmath>

#include "errors.hpp"
#include "forward.hpp"

namespace gdn_cpu {

namespace {

const char* dtype_name(int32_t d) {
    switch (d) {
        case GDN_DTYPE_F32: return "f32";
        case GDN_DTYPE_BF16: return "bf16";
        case GDN_DTYPE_F16: return "f16";
        case GDN_DTYPE_I32: return "i32";
        case GDN_DTYPE_I64: return "i64";
        default: return "unknown";
    }
}

// dtype, rank, shape (-1: any) and strides. Dimensions from `packed_from` on must be packed;
// those before it may be wider (row strides of views, slot strides of a pool). The stride of a
// dimension of size 0 or 1 is never used, so it is not checked.
gdn_status check_tensor(const gdn_tensor& t, const char* name, int32_t dtype, std::initializer_list<int64_t> shape,
                        int packed_from, bool need_data, gdn_errbuf err) {
    const int rank = int(shape.size());
    if (t.dtype != dtype)
        return fail(err, GDN_ERR_INVALID_ARGUMENT, "%s: dtype %s, expected %s", name, dtype_name(t.dtype),
                    dtype_name(dtype));
    if (t.rank != rank) return fail(err, GDN_ERR_INVALID_ARGUMENT, "%s: rank %d, expected %d", name, t.rank, rank);
    int i = 0;
    for (int64_t want : shape) {
        if (t.shape[i] < 0 || (want >= 0 && t.shape[i] != want))
            return fail(err, GDN_ERR_INVALID_ARGUMENT, "%s: shape[%d] is %" PRId64 ", expected %" PRId64, name, i,
                        t.shape[i], want);
        ++i;
    }
    int64_t packed = 1;
    for (int d = rank - 1; d >= 0; --d) {
        const bool exact = d >= packed_from;
        if (t.shape[d] > 1 && (exact ? t.strides[d] != packed : t.strides[d] < packed))
            return fail(err, GDN_ERR_INVALID_ARGUMENT, "%s: strides[%d] is %" PRId64 ", expected %s%" PRId64, name, d,
                        t.strides[d], exact ? "" : ">= ", packed);
        if (t.shape[d] > 1) packed = t.strides[d] * t.shape[d];
    }
    if (need_data && !t.data) return fail(err, GDN_ERR_INVALID_ARGUMENT, "%s: data is NULL", name);
    return GDN_OK;
}

}  // namespace

gdn_status validate(const gdn_forward_args& a, Problem& p, gdn_errbuf err) {
    // Any host from ABI 1.0 on: the 1.2 fields are read only from a struct that has them.
    if (a.struct_size < GDN_FORWARD_ARGS_MIN_SIZE_V1_0)
        return fail(err, GDN_ERR_INVALID_ARGUMENT, "gdn_forward_args.struct_size: %u is smaller than ABI 1.0's %zu",
                    a.struct_size, GDN_FORWARD_ARGS_MIN_SIZE_V1_0);
    if (const char* field = gdn_forward_args_unsupported(&a, kStateDtypes, kFeatures))
        return fail(err, GDN_ERR_UNSUPPORTED, "%s: not supported by the cpu backend", field);
    if (a.mode < GDN_MODE_EXTEND || a.mode > GDN_MODE_MIXED)
        return fail(err, GDN_ERR_INVALID_ARGUMENT, "mode: %d is not extend (0), decode (1) or mixed (2)", a.mode);
    if (a.activation_dtype != GDN_DTYPE_F32 && a.activation_dtype != GDN_DTYPE_BF16 &&
        a.activation_dtype != GDN_DTYPE_F16)
        return fail(err, GDN_ERR_UNSUPPORTED, "activation_dtype: %s is not f32, bf16 or f16",
                    dtype_name(a.activation_dtype));
    if (a.num_k_heads < 1) return fail(err, GDN_ERR_INVALID_ARGUMENT, "num_k_heads: %d is not positive", a.num_k_heads);
    if (a.num_v_heads < 1 || a.num_v_heads % a.num_k_heads != 0)
        return fail(err, GDN_ERR_INVALID_ARGUMENT, "num_v_heads: %d is not a positive multiple of num_k_heads (%d)",
                    a.num_v_heads, a.num_k_heads);
    const int ratio = a.num_v_heads / a.num_k_heads;
    if (ratio > kMaxGvaRatio)
        return fail(err, GDN_ERR_UNSUPPORTED, "num_v_heads / num_k_heads: %d is outside 1..%d", ratio, kMaxGvaRatio);
    if (a.head_k_dim < kMinHeadDim || a.head_k_dim > kMaxHeadDim)
        return fail(err, GDN_ERR_UNSUPPORTED, "head_k_dim: %d is outside %d..%d", a.head_k_dim, kMinHeadDim,
                    kMaxHeadDim);
    if (a.head_v_dim < kMinHeadDim || a.head_v_dim > kMaxHeadDim)
        return fail(err, GDN_ERR_UNSUPPORTED, "head_v_dim: %d is outside %d..%d", a.head_v_dim, kMinHeadDim,
                    kMaxHeadDim);
    if (a.conv_kernel < kMinConvKernel || a.conv_kernel > kMaxConvKernel)
        return fail(err, GDN_ERR_UNSUPPORTED, "conv_kernel: %d is outside %d..%d", a.conv_kernel, kMinConvKernel,
                    kMaxConvKernel);
    if (a.num_tokens < 0)
        return fail(err, GDN_ERR_INVALID_ARGUMENT, "num_tokens: %" PRId64 " is negative", a.num_tokens);
    if (a.num_requests < 0)
        return fail(err, GDN_ERR_INVALID_ARGUMENT, "num_requests: %" PRId64 " is negative", a.num_requests);
    // An empty batch (an idle step: no requests, no tokens) has no slots to point at.
    if (!a.host_cu_seqlens) return fail(err, GDN_ERR_INVALID_ARGUMENT, "host_cu_seqlens is NULL");
    if (!a.host_slots && a.num_requests > 0) return fail(err, GDN_ERR_INVALID_ARGUMENT, "host_slots is NULL");

    const int64_t T = a.num_tokens, B = a.num_requests, H = a.num_k_heads, HV = a.num_v_heads;
    const int64_t Dk = a.head_k_dim, Dv = a.head_v_dim, Kc = a.conv_kernel;
    const int64_t conv_dim = 2 * H * Dk + HV * Dv;
    const int32_t act = a.activation_dtype;
    const bool rows = T > 0;

    gdn_status s;
    if ((s = check_tensor(a.mixed_qkv, "mixed_qkv", act, {T, conv_dim}, 1, rows, err))) return s;
    if ((s = check_tensor(a.a, "a", act, {T, HV}, 1, rows, err))) return s;
    if ((s = check_tensor(a.b, "b", act, {T, HV}, 1, rows, err))) return s;
    if ((s = check_tensor(a.conv_weight, "conv_weight", act, {conv_dim, Kc}, 0, rows, err))) return s;
    if ((s = check_tensor(a.A_log, "A_log", GDN_DTYPE_F32, {HV}, 0, rows, err))) return s;
    if ((s = check_tensor(a.dt_bias, "dt_bias", GDN_DTYPE_F32, {HV}, 0, rows, err))) return s;
    const bool v1_2 = a.struct_size >= GDN_FORWARD_ARGS_MIN_SIZE_V1_2;
    const int32_t state = v1_2 ? a.state_dtype : int32_t(GDN_DTYPE_F32);
    const bool has_out = !v1_2 || a.out.data || !rows;
    if ((s = check_tensor(a.recurrent_state, "recurrent_state", state, {-1, HV, Dv, Dk}, 1, false, err))) return s;
    if ((s = check_tensor(a.conv_state, "conv_state", act, {-1, conv_dim, Kc - 1}, 1, false, err))) return s;
    if (has_out && (s = check_tensor(a.out, "out", act, {T, HV * Dv}, 0, rows, err))) return s;

    const int64_t* cu = a.host_cu_seqlens;
    if (cu[0] != 0) return fail(err, GDN_ERR_INVALID_ARGUMENT, "cu_seqlens[0]: %" PRId64 ", expected 0", cu[0]);
    for (int64_t r = 0; r < B; ++r)
        if (cu[r + 1] < cu[r])
            return fail(err, GDN_ERR_INVALID_ARGUMENT,
                        "cu_seqlens[%" PRId64 "]: %" PRId64 " is below cu_seqlens[%" PRId64 "]", r + 1, cu[r + 1], r);
    if (cu[B] != T)
        return fail(err, GDN_ERR_INVALID_ARGUMENT, "cu_seqlens[%" PRId64 "]: %" PRId64 ", expected num_tokens %" PRId64,
                    B, cu[B], T);
    const int64_t rslots = a.recurrent_state.shape[0], cslots = a.conv_state.shape[0];
    for (int64_t r = 0; r < B; ++r) {
        const int64_t slot = a.host_slots[r];
        if (slot == a.padding_slot) continue;
        if (slot < 0 || slot >= rslots || slot >= cslots)
            return fail(err, GDN_ERR_INVALID_ARGUMENT,
                        "slots[%" PRId64 "]: %" PRId64 " is outside the pool (0..%" PRId64 ")", r, slot,
                        (rslots < cslots ? rslots : cslots) - 1);
        if (!a.recurrent_state.data || !a.conv_state.data)
            return fail(err, GDN_ERR_INVALID_ARGUMENT, "%s: data is NULL",
                        a.recurrent_state.data ? "conv_state" : "recurrent_state");
    }

    // ABI 1.2 indices: ranges, so that no index reaches outside the pool or the rows (the host
    // has checked the rest: conflicts between slots, increasing positions).
    p.write_slots = p.accepted = p.ck_cu = p.ck_pos = p.ck_slots = nullptr;
    if (v1_2) {
        const int64_t nslots = rslots < cslots ? rslots : cslots;
        if (a.write_slots.data) {
            if (!a.host_write_slots) return fail(err, GDN_ERR_INVALID_ARGUMENT, "host_write_slots is NULL");
            for (int64_t r = 0; r < B; ++r) {
                const int64_t w = a.host_write_slots[r];
                if (w != GDN_SLOT_NONE && w != a.padding_slot && (w < 0 || w >= nslots))
                    return fail(err, GDN_ERR_INVALID_ARGUMENT,
                                "write_slots[%" PRId64 "]: %" PRId64 " is outside the pool", r, w);
            }
            p.write_slots = a.host_write_slots;
        }
        if (a.accepted.data) {
            if (!a.host_accepted) return fail(err, GDN_ERR_INVALID_ARGUMENT, "host_accepted is NULL");
            if (a.out.data) return fail(err, GDN_ERR_INVALID_ARGUMENT, "out: must be absent with accepted");
            for (int64_t r = 0; r < B; ++r)
                if (a.host_accepted[r] < 0 || a.host_accepted[r] > cu[r + 1] - cu[r])
                    return fail(err, GDN_ERR_INVALID_ARGUMENT,
                                "accepted[%" PRId64 "]: %" PRId64 " is outside 0..%" PRId64, r, a.host_accepted[r],
                                cu[r + 1] - cu[r]);
            p.accepted = a.host_accepted;
        }
        if (a.num_checkpoints > 0) {
            if (!a.host_checkpoint_cu || !a.host_checkpoint_pos || !a.host_checkpoint_slots)
                return fail(err, GDN_ERR_INVALID_ARGUMENT, "host_checkpoint_*: NULL");
            const int64_t* ck = a.host_checkpoint_cu;
            if (ck[0] != 0 || ck[B] != a.num_checkpoints)
                return fail(err, GDN_ERR_INVALID_ARGUMENT, "checkpoint_cu: must run from 0 to num_checkpoints");
            for (int64_t r = 0; r < B; ++r) {
                if (ck[r + 1] < ck[r])
                    return fail(err, GDN_ERR_INVALID_ARGUMENT, "checkpoint_cu[%" PRId64 "]: decreasing", r + 1);
                const int64_t len = a.host_accepted ? a.host_accepted[r] : cu[r + 1] - cu[r];
                int64_t last = 0;
                for (int64_t i = ck[r]; i < ck[r + 1]; ++i) {
                    const int64_t pos = a.host_checkpoint_pos[i], slot = a.host_checkpoint_slots[i];
                    if (pos <= last || pos > len)
                        return fail(err, GDN_ERR_INVALID_ARGUMENT,
                                    "checkpoint_pos[%" PRId64 "]: %" PRId64 " is not in %" PRId64 "..%" PRId64, i, pos,
                                    last + 1, len);
                    if (slot < 0 || slot >= nslots || slot == a.padding_slot)
                        return fail(err, GDN_ERR_INVALID_ARGUMENT,
                                    "checkpoint_slots[%" PRId64 "]: %" PRId64 " is outside the pool", i, slot);
                    last = pos;
                }
            }
            p.ck_cu = ck, p.ck_pos = a.host_checkpoint_pos, p.ck_slots = a.host_checkpoint_slots;
        }
    }

    p.H = int(H), p.HV = int(HV), p.Dk = int(Dk), p.Dv = int(Dv), p.Kc = int(Kc);
    p.ratio = ratio, p.conv_dim = int(conv_dim);
    p.T = T, p.B = B, p.padding_slot = a.padding_slot;
    p.act = gdn_dtype(act);
    p.qkv = a.mixed_qkv.data, p.qkv_ld = a.mixed_qkv.strides[0];
    p.a = a.a.data, p.a_ld = a.a.strides[0];
    p.b = a.b.data, p.b_ld = a.b.strides[0];
    p.conv_w = a.conv_weight.data;
    p.A_log = static_cast<const float*>(a.A_log.data);
    p.dt_bias = static_cast<const float*>(a.dt_bias.data);
    p.cu = cu, p.slots = a.host_slots;
    p.rstate = a.recurrent_state.data, p.rstate_stride = a.recurrent_state.strides[0];
    p.state = gdn_dtype(state);
    p.cstate = a.conv_state.data, p.cstate_stride = a.conv_state.strides[0];
    p.out = has_out ? a.out.data : nullptr;
    p.state_copies = p.state != GDN_DTYPE_F32 || p.write_slots || p.ck_cu;
    return GDN_OK;
}

}  // namespace gdn_cpu

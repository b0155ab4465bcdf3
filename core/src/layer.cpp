#include "gdn/layer.hpp"

#include <cmath>
#include <string>

#include "gdn/error.hpp"

namespace gdn {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// Same plugin and device, or host memory for a backend that can read it.
bool on_device(const TensorView& t, const Backend& backend) {
    if (!t.device().valid()) return backend.host_accessible();
    return t.device().plugin_ptr() == backend.plugin_ptr() && t.device().device() == backend.device();
}

// Rank, shape, dtype, null data, device and layout of one argument. `row_strided`: the first
// stride may be larger than packed (a view into a wider projection); everything else is packed.
void expect_tensor(const char* name, const TensorView& t, DType dtype, const std::vector<int64_t>& shape,
                   const Backend& backend, bool row_strided = false) {
    const std::string n = name;
    if (t.rank() != int(shape.size()))
        invalid_argument(n, "rank " + str(int64_t(shape.size())) + " " + shape_to_string(shape) + ", got rank " +
                                str(t.rank()) + " " + t.shape_string());
    if (t.shape() != shape) invalid_argument(n, "shape " + shape_to_string(shape) + ", got " + t.shape_string());
    if (t.dtype() != dtype)
        invalid_argument(n, std::string("dtype ") + dtype_name(dtype) + ", got " + dtype_name(t.dtype()));
    if (t.data() == nullptr && t.numel() > 0) invalid_argument(n, "non-null data");
    if (!on_device(t, backend))
        invalid_argument(n, "memory on backend " + backend.name() + ", got " +
                                (t.device().valid() ? "memory on " + t.device().name() : std::string("host memory")));
    const auto packed = packed_strides(shape);
    for (int d = 0; d < t.rank(); ++d) {
        if (t.size(d) <= 1) continue;  // the stride of a size-1 dimension is never used
        const bool ok = (d == 0 && row_strided) ? t.stride(0) >= packed[0] : t.stride(d) == packed[std::size_t(d)];
        if (!ok)
            invalid_argument(n, "stride " + str(packed[std::size_t(d)]) + (d == 0 && row_strided ? " or more" : "") +
                                    " in dimension " + str(d) + ", got strides " + shape_to_string(t.strides()));
    }
}

// The bytes a view covers: `rows` rows of `row_bytes` each, `stride_bytes` apart (one row for a
// packed view). Views here have passed expect_tensor: rows never overlap one another, every
// dimension but the first is packed, and the extent fits in int64 (TensorView checks it).
struct Region {
    const char* name;
    unsigned __int128 begin = 0;
    unsigned __int128 row_bytes = 0, stride_bytes = 0, rows = 0;
};

Region region(const char* name, const TensorView& t, bool row_strided) {
    Region r{name};
    if (t.numel() == 0) return r;  // no bytes at all
    const auto es = unsigned(dtype_size(t.dtype()));
    r.begin = reinterpret_cast<uintptr_t>(t.data());
    if (row_strided && t.rank() >= 1 && t.size(0) > 1) {
        r.rows = uint64_t(t.size(0));
        r.row_bytes = uint64_t(t.numel() / t.size(0)) * es;
        r.stride_bytes = uint64_t(t.stride(0)) * es;
    } else {
        r.rows = 1;
        r.row_bytes = uint64_t(t.numel()) * es;
        r.stride_bytes = r.row_bytes;
    }
    return r;
}

// Whether a contiguous region [c.begin, c.begin + c.row_bytes) shares a byte with any row of v.
bool overlaps(const Region& c, const Region& v) {
    if (c.rows == 0 || v.rows == 0 || c.row_bytes == 0 || v.row_bytes == 0) return false;
    const unsigned __int128 x0 = c.begin, x1 = c.begin + c.row_bytes;
    // The first row of v that ends after x0, then whether it starts before x1.
    unsigned __int128 t = 0;
    if (x0 >= v.begin + v.row_bytes) t = (x0 - v.begin - v.row_bytes) / v.stride_bytes + 1;
    return t < v.rows && v.begin + t * v.stride_bytes < x1;
}

bool in_range(const gdn_size_range& r, int v) {
    return v >= r.min && v <= r.max && r.multiple > 0 && (v - r.min) % r.multiple == 0;
}

std::string range_string(const gdn_size_range& r) {
    return str(r.min) + ".." + str(r.max) + (r.multiple > 1 ? " in steps of " + str(r.multiple) : "");
}

void unsupported(const Backend& b, const std::string& what) {
    throw Error(GDN_ERR_UNSUPPORTED, "backend " + b.name() + " does not support " + what);
}

// Host copy of a small f32 parameter, wherever it lives.
std::vector<float> read_f32(const TensorView& t) {
    std::vector<float> v(std::size_t(t.numel()));
    if (!t.device().valid() || t.device().host_accessible()) {
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<const float*>(t.data())[i];
    } else {
        Stream& s = t.device().default_stream();
        s.copy(v.data(), t.data(), v.size() * sizeof(float), GDN_COPY_DEVICE_TO_HOST);
        s.synchronize();
    }
    return v;
}

}  // namespace

RadixLinearAttention::RadixLinearAttention(int layer_id, int gdn_layer_idx, int num_k_heads, int num_v_heads,
                                           int head_k_dim, int head_v_dim, TensorView conv_weight, TensorView A_log,
                                           TensorView dt_bias)
    : RadixLinearAttention(LayerConfig{layer_id, gdn_layer_idx, num_k_heads, num_v_heads, head_k_dim, head_v_dim},
                           std::move(conv_weight), std::move(A_log), std::move(dt_bias)) {}

RadixLinearAttention::RadixLinearAttention(const LayerConfig& config, TensorView conv_weight, TensorView A_log,
                                           TensorView dt_bias)
    : layer_id_(config.layer_id), gdn_layer_idx_(config.gdn_layer_idx), num_k_heads_(config.num_k_heads),
      num_v_heads_(config.num_v_heads), head_k_dim_(config.head_k_dim), head_v_dim_(config.head_v_dim),
      conv_weight_(std::move(conv_weight)), A_log_(std::move(A_log)), dt_bias_(std::move(dt_bias)) {
    const int gdn_layer_idx = gdn_layer_idx_, num_k_heads = num_k_heads_, num_v_heads = num_v_heads_;
    const int head_k_dim = head_k_dim_, head_v_dim = head_v_dim_;
    if (gdn_layer_idx < 0) invalid_argument("gdn_layer_idx", ">= 0, got " + str(gdn_layer_idx));
    if (num_k_heads < 1) invalid_argument("num_k_heads", ">= 1, got " + str(num_k_heads));
    if (num_v_heads < 1 || num_v_heads % num_k_heads != 0)
        invalid_argument("num_v_heads",
                         "a positive multiple of num_k_heads (" + str(num_k_heads) + "), got " + str(num_v_heads));
    if (head_k_dim < 1) invalid_argument("head_k_dim", ">= 1, got " + str(head_k_dim));
    if (head_v_dim < 1) invalid_argument("head_v_dim", ">= 1, got " + str(head_v_dim));
    const int64_t conv_dim = 2LL * num_k_heads * head_k_dim + int64_t(num_v_heads) * head_v_dim;
    // Kc <= 31: the capabilities describe conv widths as bits of a 32-bit mask, and conv_kernel()
    // is an int (a larger width would be truncated into one that some backend supports).
    if (conv_weight_.rank() != 2 || conv_weight_.size(0) != conv_dim || conv_weight_.size(1) < 2 ||
        conv_weight_.size(1) > 31)
        invalid_argument("conv_weight",
                         "shape [conv_dim = " + str(conv_dim) + ", Kc in 2..31], got " + conv_weight_.shape_string());
    if (!is_activation_dtype(conv_weight_.dtype()))
        invalid_argument("conv_weight", std::string("dtype f32, bf16 or f16, got ") + dtype_name(conv_weight_.dtype()));
    if (!conv_weight_.is_packed())
        invalid_argument("conv_weight", "packed strides, got " + shape_to_string(conv_weight_.strides()));
    if (!conv_weight_.data()) invalid_argument("conv_weight", "non-null data");
    for (const auto* p : {&A_log_, &dt_bias_}) {
        const char* name = p == &A_log_ ? "A_log" : "dt_bias";
        if (p->rank() != 1 || p->size(0) != num_v_heads)
            invalid_argument(name, "shape [HV = " + str(num_v_heads) + "], got " + p->shape_string());
        if (p->dtype() != DType::f32) invalid_argument(name, std::string("dtype f32, got ") + dtype_name(p->dtype()));
        if (!p->data()) invalid_argument(name, "non-null data");
        if (!p->is_packed()) invalid_argument(name, "packed strides");
        // Non-finite gate parameters would poison every state they touch: refuse them up front.
        const auto host = read_f32(*p);
        for (std::size_t i = 0; i < host.size(); ++i)
            if (!std::isfinite(host[i]))
                invalid_argument(std::string(name) + "[" + str(int64_t(i)) + "]",
                                 "a finite value, got " + std::to_string(host[i]));
    }
}

Tensor RadixLinearAttention::forward(ForwardBatch& batch, const TensorView& mixed_qkv, const TensorView& a,
                                     const TensorView& b) const {
    // The token count comes from the batch: check the input agrees before allocating for it.
    expect_tensor("mixed_qkv", mixed_qkv, activation_dtype(), {batch.num_tokens(), conv_dim()}, batch.backend(), true);
    if (!batch.writes_output()) {  // a commit: the state advances, nothing is output
        forward(batch, mixed_qkv, a, b, TensorView());
        return Tensor();
    }
    Tensor out(batch.backend(), activation_dtype(), {batch.num_tokens(), int64_t(num_v_heads_) * head_v_dim_});
    forward(batch, mixed_qkv, a, b, out.view());
    return out;
}

void RadixLinearAttention::forward(ForwardBatch& batch, const TensorView& mixed_qkv, const TensorView& a,
                                   const TensorView& b, const TensorView& out) const {
    const Backend& be = batch.backend();
    const GDNPool& pool = batch.pool();
    const PoolConfig& pc = pool.config();
    const DType act = activation_dtype();
    const int64_t T = batch.num_tokens(), HV = num_v_heads_, Kc = conv_kernel();

    // The pool must hold this layer with the same geometry.
    if (gdn_layer_idx_ >= pc.num_layers)
        invalid_argument("gdn_layer_idx",
                         "below the pool's num_layers (" + str(pc.num_layers) + "), got " + str(gdn_layer_idx_));
    if (pc.num_k_heads != num_k_heads_ || pc.num_v_heads != num_v_heads_ || pc.head_k_dim != head_k_dim_ ||
        pc.head_v_dim != head_v_dim_ || pc.conv_kernel != Kc || pc.activation_dtype != act)
        invalid_argument("pool", "H=" + str(num_k_heads_) + " HV=" + str(HV) + " Dk=" + str(head_k_dim_) +
                                     " Dv=" + str(head_v_dim_) + " Kc=" + str(Kc) + " " + dtype_name(act) +
                                     " like the layer, got H=" + str(pc.num_k_heads) + " HV=" + str(pc.num_v_heads) +
                                     " Dk=" + str(pc.head_k_dim) + " Dv=" + str(pc.head_v_dim) +
                                     " Kc=" + str(pc.conv_kernel) + " " + dtype_name(pc.activation_dtype));
    if (!on_device(conv_weight_, be) || !on_device(A_log_, be) || !on_device(dt_bias_, be))
        invalid_argument("layer weights", "memory on backend " + be.name());

    expect_tensor("mixed_qkv", mixed_qkv, act, {T, conv_dim()}, be, true);
    expect_tensor("a", a, act, {T, HV}, be, true);
    expect_tensor("b", b, act, {T, HV}, be, true);
    // No output tensor (an empty view): a commit, or a caller that wants only the state.
    const bool has_out = out.data() != nullptr || out.rank() != 0;
    if (!batch.writes_output() && has_out)
        invalid_argument("out", "no output tensor for a commit batch (it writes no output), got " + out.shape_string());
    if (has_out) expect_tensor("out", out, act, {T, HV * head_v_dim_}, be);
    batch.check_allocated();

    // What the call writes (out, this layer's states) must share no byte with what it reads, nor
    // out with any state of the pool (the slots of other layers and requests included): the
    // plugin would read what it has just written, or write where no request of the batch lives.
    const TensorView rec = pool.recurrent_state(gdn_layer_idx_), conv = pool.conv_state(gdn_layer_idx_);
    const std::vector<Region> inputs{region("mixed_qkv", mixed_qkv, true),
                                     region("a", a, true),
                                     region("b", b, true),
                                     region("conv_weight", conv_weight_, false),
                                     region("A_log", A_log_, false),
                                     region("dt_bias", dt_bias_, false),
                                     region("the batch's cu_seqlens", batch.device_cu_seqlens(), false),
                                     region("the batch's slots", batch.device_slots(), false)};
    const Region rec_layer = region("the pool's recurrent state", rec, false);
    const Region conv_layer = region("the pool's conv state", conv, false);
    Region rec_all = rec_layer, conv_all = conv_layer;  // every layer's state
    rec_all.begin -= rec_all.row_bytes * unsigned(gdn_layer_idx_);
    rec_all.row_bytes *= unsigned(pc.num_layers);
    conv_all.begin -= conv_all.row_bytes * unsigned(gdn_layer_idx_);
    conv_all.row_bytes *= unsigned(pc.num_layers);
    const Region out_r = has_out ? region("out", out, false) : Region{"out"};
    for (const Region* other : {&rec_all, &conv_all})
        if (overlaps(out_r, *other))
            invalid_argument(
                "out", std::string("memory apart from the inputs and the pool's states, got memory overlapping ") +
                           other->name);
    for (const Region& in : inputs) {
        if (overlaps(out_r, in))
            invalid_argument(
                "out",
                std::string("memory apart from the inputs and the pool's states, got memory overlapping ") + in.name);
        for (const Region* state : {&rec_layer, &conv_layer})
            if (overlaps(*state, in))
                invalid_argument(in.name, std::string("memory apart from the pool's states, got memory overlapping ") +
                                              state->name + " of layer " + str(gdn_layer_idx_));
    }

    // What the backend declared it can run; outside that it is "unsupported", never a guess.
    const gdn_capabilities& caps = be.capabilities();
    if (!(caps.activation_dtypes & (1u << unsigned(act))))
        unsupported(be, std::string("activation dtype ") + dtype_name(act));
    if (!in_range(caps.head_k_dim, head_k_dim_))
        unsupported(be, "head_k_dim " + str(head_k_dim_) + " (supported: " + range_string(caps.head_k_dim) + ")");
    if (!in_range(caps.head_v_dim, head_v_dim_))
        unsupported(be, "head_v_dim " + str(head_v_dim_) + " (supported: " + range_string(caps.head_v_dim) + ")");
    if (Kc >= 32 || !(caps.conv_kernels & (1u << unsigned(Kc)))) unsupported(be, "conv_kernel " + str(Kc));
    const int ratio = num_v_heads_ / num_k_heads_;
    if (ratio >= 32 || !(caps.gva_ratios & (1u << unsigned(ratio)))) unsupported(be, "GVA ratio " + str(ratio));
    if (!(caps.modes & (1u << unsigned(batch.mode())))) unsupported(be, std::string("mode ") + mode_name(batch.mode()));
    // ABI 1.2: a plugin of an older minor reads as zero here, so it is never passed these.
    const DType state = pc.state_dtype;
    if (state != DType::f32 && !(caps.state_dtypes & (1u << unsigned(state))))
        unsupported(be, std::string("recurrent state dtype ") + dtype_name(state));
    if (batch.has_write_slots() && !(caps.features & GDN_FEATURE_WRITE_SLOTS))
        unsupported(be, "write slots (a state written elsewhere than read, or not at all)");
    if (!has_out && T > 0 && !(caps.features & GDN_FEATURE_NO_OUTPUT)) unsupported(be, "a call without output");
    if (!batch.accepted().empty() && !(caps.features & GDN_FEATURE_ACCEPTED))
        unsupported(be, "accepted-token counts (speculative decoding's commit)");
    if (batch.num_checkpoints() > 0 && !(caps.features & GDN_FEATURE_CHECKPOINTS)) unsupported(be, "checkpoints");

    gdn_forward_args args{};
    args.struct_size = sizeof args;
    args.mode = int32_t(batch.mode());
    args.num_k_heads = num_k_heads_;
    args.num_v_heads = num_v_heads_;
    args.head_k_dim = head_k_dim_;
    args.head_v_dim = head_v_dim_;
    args.conv_kernel = int32_t(Kc);
    args.activation_dtype = int32_t(act);
    args.num_tokens = T;
    args.num_requests = batch.num_requests();
    args.padding_slot = pool.padding_slot();
    args.mixed_qkv = mixed_qkv.to_c();
    args.a = a.to_c();
    args.b = b.to_c();
    args.conv_weight = conv_weight_.to_c();
    args.A_log = A_log_.to_c();
    args.dt_bias = dt_bias_.to_c();
    args.cu_seqlens = batch.device_cu_seqlens().to_c();
    args.slots = batch.device_slots().to_c();
    args.recurrent_state = rec.to_c();
    args.conv_state = conv.to_c();
    args.out = has_out ? out.to_c() : gdn_tensor{};
    args.host_cu_seqlens = batch.cu_seqlens().data();
    // Never NULL (plugin.h), also for an empty batch (an idle step), whose vector may have no storage.
    static const int64_t no_slots[1] = {0};
    args.host_slots = batch.num_requests() > 0 ? batch.req_pool_indices().data() : no_slots;
    args.state_dtype = int32_t(state);
    if (batch.has_write_slots()) {
        args.write_slots = batch.device_write_slots().to_c();
        args.host_write_slots = batch.write_slots().data();
    }
    if (!batch.accepted().empty()) {
        args.accepted = batch.device_accepted().to_c();
        args.host_accepted = batch.accepted().data();
    }
    if (batch.num_checkpoints() > 0) {
        args.num_checkpoints = batch.num_checkpoints();
        args.checkpoint_cu = batch.device_checkpoint_cu().to_c();
        args.checkpoint_pos = batch.device_checkpoint_pos().to_c();
        args.checkpoint_slots = batch.device_checkpoint_slots().to_c();
        args.host_checkpoint_cu = batch.checkpoint_cu().data();
        args.host_checkpoint_pos = batch.checkpoint_pos().data();
        args.host_checkpoint_slots = batch.checkpoint_slots().data();
    }

    Stream& stream = batch.stream();
    const auto hold = stream.lock();
    check_call("forward_gdn", [&](gdn_errbuf e) { return be.table().forward_gdn(stream.handle(), &args, e); });
}

}  // namespace gdn

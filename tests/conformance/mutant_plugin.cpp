// A correct backend (the example plugin's layer) broken in exactly one way, selected by MUTANT:
// each mutant is a bug the conformance suite must catch, and a test checks that it does, with
// the right case and the right reason. NARROW is correct but declares f32 only; NATIVE_STREAMS
// is correct and offers native streams (its "native stream" is a host object standing for a
// runtime stream), which WRAP_IGNORES_NATIVE, WRAP_ACCEPTS_NULL and RELEASE_DESTROYS_NATIVE get
// wrong. GPU_LIKE is correct and declares what a GPU backend typically does (bf16 only, head dims
// 64 and 128, conv widths 2..4, GVA ratios 1..8); DECLARES_CONV5 declares conv width 5 as well
// and then refuses it.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "forward.hpp"      // examples/vendor-plugin/src
#include "numbers.hpp"      // examples/vendor-plugin/src: load, store
#include "test_plugin.hpp"  // tests/plugins

#define MUTANT_NONE 0
#define MUTANT_WRITES_PAST_OUT 1
#define MUTANT_TOUCHES_PADDING_SLOT 2
#define MUTANT_LEAVES_ROW_UNWRITTEN 3
#define MUTANT_OFF_BY_1E3 4
#define MUTANT_REFUSES_DECLARED_F16 5
#define MUTANT_NONDETERMINISTIC 6
#define MUTANT_ZERO_OUTPUT 7
#define MUTANT_NARROW 8
#define MUTANT_NATIVE_STREAMS 9            // correct, with ABI 1.1 native streams
#define MUTANT_WRAP_IGNORES_NATIVE 10      // native streams, but stream_wrap makes a stream of its own
#define MUTANT_GPU_LIKE 11                 // correct, with a narrow GPU-like declaration
#define MUTANT_DECLARES_CONV5 12           // declares conv width 5, which its layer refuses
#define MUTANT_WRAP_ACCEPTS_NULL 13        // native streams, but stream_wrap(NULL) makes a stream
#define MUTANT_RELEASE_DESTROYS_NATIVE 14  // native streams, but destroying a wrapper destroys the caller's stream
#define MUTANT_REFUSES_UNNAMED 15          // refuses what it does not declare without naming the argument
#define MUTANT_DECODE_FORGETS_STATE 16     // a decode step starts from a zero recurrent state
#define MUTANT_STRONG_DECAY_NAN 17         // NaN once a request's cumulative log decay is below -100
#define MUTANT_REFUSAL_WRITES 18           // declares head dims in steps of 16; a refused call has written the output

namespace {

std::size_t dtype_bytes(int32_t t) { return t == GDN_DTYPE_F32 ? 4 : 2; }

// Host memory with 256 bytes of slack, so that a mutant writing past a buffer damages nothing
// but what the suite watches.
gdn_status mem_alloc_slack(int32_t, size_t bytes, void** out, gdn_errbuf err) {
    *out = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    return *out ? GDN_OK : gdn_test::fail(err, GDN_ERR_OUT_OF_MEMORY, "aligned_alloc failed");
}

gdn_status capabilities(int32_t, gdn_capabilities* c, gdn_errbuf) {
    gdn_capabilities full{};
    full.activation_dtypes = (1u << GDN_DTYPE_F32) | (1u << GDN_DTYPE_BF16) | (1u << GDN_DTYPE_F16);
    full.head_k_dim = {myvendor::kMinHeadDim, myvendor::kMaxHeadDim, 1};
    full.head_v_dim = full.head_k_dim;
    for (int k = myvendor::kMinConvKernel; k <= myvendor::kMaxConvKernel; ++k) full.conv_kernels |= 1u << k;
    for (int r = 1; r <= myvendor::kMaxGvaRatio; ++r) full.gva_ratios |= 1u << r;
    full.modes = 7u;
    full.deterministic = 1;
    if (MUTANT == MUTANT_NARROW) full.activation_dtypes = 1u << GDN_DTYPE_F32;
    if (MUTANT == MUTANT_GPU_LIKE) {
        full.activation_dtypes = 1u << GDN_DTYPE_BF16;
        full.head_k_dim = {64, 128, 64};
        full.head_v_dim = full.head_k_dim;
        full.gva_ratios = 0;
        for (int r = 1; r <= 8; ++r) full.gva_ratios |= 1u << r;
    }
    if (MUTANT == MUTANT_DECLARES_CONV5) full.conv_kernels |= 1u << 5;
    if (MUTANT == MUTANT_REFUSAL_WRITES) full.head_k_dim = full.head_v_dim = {16, 256, 16};
    const size_t n = c->struct_size < sizeof full ? c->struct_size : sizeof full;
    full.struct_size = uint32_t(n);
    std::memcpy(c, &full, n);
    return GDN_OK;
}

// Native streams: a gdn stream holds the native handle it runs on; a created stream owns a fresh
// one, an int that says whether that runtime stream still exists. The layer itself runs
// synchronously, so the handle only has to be kept, given back and checked before a call.
struct NativeStreamImpl {
    void* native;
    bool owned;
};
constexpr int kNativeDestroyed = -1;
bool native_streams() {
    return MUTANT == MUTANT_NATIVE_STREAMS || MUTANT == MUTANT_WRAP_IGNORES_NATIVE ||
           MUTANT == MUTANT_WRAP_ACCEPTS_NULL || MUTANT == MUTANT_RELEASE_DESTROYS_NATIVE;
}

// What a kernel that divides by a request's cumulative decay would give: NaN in every output
// element from the token where the cumulative log decay of its value head falls below -100.
void strong_decay_nan(const gdn_forward_args& a) {
    const int32_t dt = a.activation_dtype;
    for (int64_t r = 0; r < a.num_requests; ++r) {
        if (a.host_slots[r] == a.padding_slot) continue;
        for (int hv = 0; hv < a.num_v_heads; ++hv) {
            const double A = std::exp(double(static_cast<const float*>(a.A_log.data)[hv]));
            const double bias = static_cast<const float*>(a.dt_bias.data)[hv];
            double cumulative = 0.0;
            for (int64_t t = a.host_cu_seqlens[r]; t < a.host_cu_seqlens[r + 1]; ++t) {
                const double x = double(myvendor::load(a.a.data, dt, t * a.a.strides[0] + hv)) + bias;
                cumulative -= A * (x > 20.0 ? x : std::log1p(std::exp(x)));
                if (cumulative < -100.0)
                    for (int i = 0; i < a.head_v_dim; ++i)
                        myvendor::store(a.out.data, dt, t * a.out.strides[0] + int64_t(hv) * a.head_v_dim + i, NAN);
            }
        }
    }
}

gdn_status forward(gdn_stream stream, const gdn_forward_args* a, gdn_errbuf err) {
    if (native_streams() && *static_cast<int*>(reinterpret_cast<NativeStreamImpl*>(stream)->native) == kNativeDestroyed)
        return gdn_test::fail(err, GDN_ERR_INVALID_ARGUMENT, "mutant: the stream's native stream was destroyed");
    gdn_status refused = myvendor::check_forward(*a, err);
    if (!refused && MUTANT == MUTANT_REFUSAL_WRITES &&
        (a->head_k_dim % 16 || a->head_k_dim > 256 || a->head_v_dim % 16 || a->head_v_dim > 256))
        refused =
            gdn_test::fail(err, GDN_ERR_UNSUPPORTED, "mutant: head_k_dim, head_v_dim: multiples of 16 in 16..256");
    if (gdn_status s = refused) {
        if (MUTANT == MUTANT_REFUSES_UNNAMED && err.text && err.capacity)
            std::snprintf(err.text, err.capacity, "mutant: unsupported");
        if (MUTANT == MUTANT_REFUSAL_WRITES && a->out.data && a->num_tokens > 0)
            std::memset(a->out.data, 0, dtype_bytes(a->activation_dtype));
        return s;
    }
    if (MUTANT == MUTANT_DECODE_FORGETS_STATE && a->mode == GDN_MODE_DECODE)
        for (int64_t r = 0; r < a->num_requests; ++r)
            if (a->host_slots[r] != a->padding_slot)
                std::memset(
                    static_cast<float*>(a->recurrent_state.data) + a->host_slots[r] * a->recurrent_state.strides[0], 0,
                    std::size_t(a->num_v_heads) * a->head_v_dim * a->head_k_dim * sizeof(float));
    if ((MUTANT == MUTANT_REFUSES_DECLARED_F16 && a->activation_dtype == GDN_DTYPE_F16) ||
        (MUTANT == MUTANT_NARROW && a->activation_dtype != GDN_DTYPE_F32))
        return gdn_test::fail(err, GDN_ERR_UNSUPPORTED, "mutant: this dtype is refused");
    myvendor::forward(*a);
    if (MUTANT == MUTANT_STRONG_DECAY_NAN) strong_decay_nan(*a);

    const int32_t dt = a->activation_dtype;
    const int64_t width = int64_t(a->num_v_heads) * a->head_v_dim, T = a->num_tokens;
    auto* out = static_cast<uint8_t*>(a->out.data);
    static int calls = 0;
    ++calls;
    switch (MUTANT) {
        case MUTANT_WRITES_PAST_OUT:
            std::memset(out + std::size_t(T * width) * dtype_bytes(dt), 0x5A, dtype_bytes(dt));
            break;
        case MUTANT_TOUCHES_PADDING_SLOT:
            if (a->padding_slot >= 0 && a->padding_slot < a->recurrent_state.shape[0])
                static_cast<float*>(a->recurrent_state.data)[a->padding_slot * a->recurrent_state.strides[0]] += 1.0f;
            break;
        case MUTANT_LEAVES_ROW_UNWRITTEN:
            if (T > 0)
                std::memset(out + std::size_t((T - 1) * width) * dtype_bytes(dt), 0xFF,
                            std::size_t(width) * dtype_bytes(dt));
            break;
        case MUTANT_OFF_BY_1E3:
            if (dt == GDN_DTYPE_F32)
                for (int64_t i = 0; i < T * width; ++i) reinterpret_cast<float*>(out)[i] *= 1.001f;
            break;
        case MUTANT_NONDETERMINISTIC:
            if (dt == GDN_DTYPE_F32 && T > 0) reinterpret_cast<float*>(out)[0] += 1e-7f * float(calls % 2);
            break;
        case MUTANT_ZERO_OUTPUT: std::memset(out, 0, std::size_t(T * width) * dtype_bytes(dt)); break;
        default: break;
    }
    return GDN_OK;
}

gdn_status native_stream_create(int32_t, const gdn_stream_options*, gdn_stream* out, gdn_errbuf) {
    *out = reinterpret_cast<gdn_stream>(new NativeStreamImpl{new int(0), true});
    return GDN_OK;
}
gdn_status native_stream_wrap(int32_t, void* native, gdn_stream* out, gdn_errbuf err) {
    *out = nullptr;
    if (!native && MUTANT == MUTANT_WRAP_ACCEPTS_NULL) {  // a stream of its own
        *out = reinterpret_cast<gdn_stream>(new NativeStreamImpl{new int(0), true});
        return GDN_OK;
    }
    if (!native) return gdn_test::fail(err, GDN_ERR_INVALID_ARGUMENT, "native: NULL");
    *out = MUTANT == MUTANT_WRAP_IGNORES_NATIVE ? reinterpret_cast<gdn_stream>(new NativeStreamImpl{new int(0), true})
                                                : reinterpret_cast<gdn_stream>(new NativeStreamImpl{native, false});
    return GDN_OK;
}
gdn_status native_stream_native(gdn_stream s, void** native, gdn_errbuf) {
    *native = reinterpret_cast<NativeStreamImpl*>(s)->native;
    return GDN_OK;
}
gdn_status native_stream_destroy(gdn_stream s, gdn_errbuf) {
    auto* impl = reinterpret_cast<NativeStreamImpl*>(s);
    if (impl->owned)
        delete static_cast<int*>(impl->native);
    else if (MUTANT == MUTANT_RELEASE_DESTROYS_NATIVE)
        *static_cast<int*>(impl->native) = kNativeDestroyed;
    delete impl;
    return GDN_OK;
}

}  // namespace

GDN_TEST_PLUGIN(gdn_plugin t = gdn_test::good_table(MUTANT_NAME, 1);
                t.description = "conformance test plugin: " MUTANT_NAME; t.device_capabilities = capabilities;
                t.mem_alloc = mem_alloc_slack; t.forward_gdn = forward; if (native_streams()) {
                    t.stream_create = native_stream_create;
                    t.stream_destroy = native_stream_destroy;
                    t.stream_wrap = native_stream_wrap;
                    t.stream_native = native_stream_native;
                } return t;)

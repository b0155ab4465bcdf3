// A plugin that really runs forward_gdn on host memory (a stand-in computation: every named
// slot's recurrent state += 1, output rows zero) and fails on purpose, one way per build:
//   FAULT_MODE 0  never fails ("stream_checker")
//   FAULT_MODE 1  fails in the middle of a batch after writing the first requests' state, like a
//                 device that dies mid-kernel ("fault_mid_batch")
//   FAULT_MODE 2  fails before writing anything, as plugin.h asks of every refusal ("fault_clean")
// A batch fails when it has at least two real requests; smaller batches succeed, so a test can
// show that the host and the pool keep working after a failure.
// Every stream call also checks that no other call is running on the same stream at that moment
// (plugin.h: calls on one stream are serialized by the host) and fails if one is.
#include <atomic>
#include <thread>

#include "test_plugin.hpp"

namespace {

struct Stream {
    std::atomic<int> busy{0};
};

// Holds a stream for the length of one call; a second holder at the same time is a host bug.
class Hold {
public:
    explicit Hold(gdn_stream s) : s_(reinterpret_cast<Stream*>(s)) {
        overlapped_ = s_->busy.fetch_add(1) != 0;
        for (int i = 0; i < 50; ++i) std::this_thread::yield();  // widen the window
    }
    ~Hold() { s_->busy.fetch_sub(1); }
    bool overlapped() const { return overlapped_; }

private:
    Stream* s_;
    bool overlapped_;
};

constexpr const char* overlap_message = "two calls at once on one stream: the host must serialize them (test)";

gdn_status caps(int32_t, gdn_capabilities* c, gdn_errbuf err) {
    if (c->struct_size < sizeof *c) return gdn_test::fail(err, GDN_ERR_INVALID_ARGUMENT, "caps too small");
    c->activation_dtypes = 1u << GDN_DTYPE_F32;
    c->head_k_dim = {1, 256, 1};
    c->head_v_dim = {1, 256, 1};
    c->conv_kernels = (1u << 2) | (1u << 3) | (1u << 4);
    c->gva_ratios = (1u << 1) | (1u << 2) | (1u << 4);
    c->modes = (1u << GDN_MODE_EXTEND) | (1u << GDN_MODE_DECODE) | (1u << GDN_MODE_MIXED);
    c->deterministic = 1;
    return GDN_OK;
}

gdn_status stream_create(int32_t, const gdn_stream_options*, gdn_stream* out, gdn_errbuf) {
    *out = reinterpret_cast<gdn_stream>(new Stream);
    return GDN_OK;
}
gdn_status stream_destroy(gdn_stream s, gdn_errbuf) {
    delete reinterpret_cast<Stream*>(s);
    return GDN_OK;
}
gdn_status stream_synchronize(gdn_stream s, gdn_errbuf err) {
    const Hold h(s);
    return h.overlapped() ? gdn_test::fail(err, GDN_ERR_RUNTIME, overlap_message) : GDN_OK;
}
gdn_status mem_copy(gdn_stream s, void* dst, const void* src, size_t bytes, int32_t, gdn_errbuf err) {
    const Hold h(s);
    if (h.overlapped()) return gdn_test::fail(err, GDN_ERR_RUNTIME, overlap_message);
    std::memmove(dst, src, bytes);
    return GDN_OK;
}
gdn_status mem_set(gdn_stream s, void* dst, int32_t value, size_t bytes, gdn_errbuf err) {
    const Hold h(s);
    if (h.overlapped()) return gdn_test::fail(err, GDN_ERR_RUNTIME, overlap_message);
    std::memset(dst, value, bytes);
    return GDN_OK;
}

gdn_status forward(gdn_stream s, const gdn_forward_args* a, gdn_errbuf err) {
    const Hold h(s);
    if (h.overlapped()) return gdn_test::fail(err, GDN_ERR_RUNTIME, overlap_message);
    const int64_t B = a->num_requests;
    int64_t real = 0;
    for (int64_t r = 0; r < B; ++r) real += a->host_slots[r] != a->padding_slot;
    const bool failing = FAULT_MODE != 0 && real >= 2;
    if (failing && FAULT_MODE == 2)
        return gdn_test::fail(err, GDN_ERR_RUNTIME, "device lost before the batch started (test fault)");
    const int64_t state_n = int64_t(a->num_v_heads) * a->head_v_dim * a->head_k_dim;
    for (int64_t r = 0; r < B; ++r) {
        if (failing && r == B / 2) {
            char text[160];
            std::snprintf(text, sizeof text,
                          "device lost in request %lld of %lld, after writing the ones before (test fault)",
                          static_cast<long long>(r), static_cast<long long>(B));
            return gdn_test::fail(err, GDN_ERR_RUNTIME, text);
        }
        const int64_t slot = a->host_slots[r];
        if (slot == a->padding_slot) continue;
        float* st = static_cast<float*>(a->recurrent_state.data) + slot * a->recurrent_state.strides[0];
        for (int64_t i = 0; i < state_n; ++i) st[i] += 1.0f;
    }
    std::memset(a->out.data, 0, size_t(a->num_tokens * a->out.shape[1]) * sizeof(float));
    return GDN_OK;
}

}  // namespace

GDN_TEST_PLUGIN(gdn_plugin t = gdn_test::good_table(FAULT_NAME, 1);
                t.description = "test plugin: runs forward on host memory; " FAULT_NAME; t.device_capabilities = caps;
                t.stream_create = stream_create; t.stream_destroy = stream_destroy;
                t.stream_synchronize = stream_synchronize; t.mem_copy = mem_copy; t.mem_set = mem_set;
                t.forward_gdn = forward; return t;)

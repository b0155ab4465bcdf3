// A plugin whose forward_gdn waits for another thread of the host process: it marks out[0, 0] with
// 1.0 when it starts, then waits until mixed_qkv[0, 0] becomes non-zero, written by another
// thread that saw the mark. A Python host that held the GIL across the call would keep that thread
// from running: the wait then ends after kWaitSeconds and the call fails, so a held GIL is a test
// failure, never a hang (python/tests/test_gil.py). f32 only; computes nothing else.
#include <chrono>
#include <thread>

#include "test_plugin.hpp"

namespace {

constexpr int kWaitSeconds = 10;

gdn_status probe_capabilities(int32_t, gdn_capabilities* c, gdn_errbuf err) {
    if (c->struct_size < sizeof *c) return gdn_test::fail(err, GDN_ERR_INVALID_ARGUMENT, "caps too small");
    c->activation_dtypes = 1u << GDN_DTYPE_F32;
    c->head_k_dim = {16, 256, 16};
    c->head_v_dim = {16, 256, 16};
    c->conv_kernels = 1u << 4;
    c->gva_ratios = 1u << 1;
    c->modes = (1u << GDN_MODE_EXTEND) | (1u << GDN_MODE_DECODE) | (1u << GDN_MODE_MIXED);
    return GDN_OK;
}

// The memory is the host's, written by another thread while this one reads it: atomic accesses.
float load(const void* p) {
    float v;
    __atomic_load(static_cast<const float*>(p), &v, __ATOMIC_ACQUIRE);
    return v;
}
void store(void* p, float v) { __atomic_store(static_cast<float*>(p), &v, __ATOMIC_RELEASE); }

gdn_status probe_forward(gdn_stream, const gdn_forward_args* args, gdn_errbuf err) {
    if (!args->out.data || !args->mixed_qkv.data)
        return gdn_test::fail(err, GDN_ERR_INVALID_ARGUMENT, "gil probe: needs mixed_qkv and out");
    store(args->out.data, 1.0f);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kWaitSeconds);
    while (load(args->mixed_qkv.data) == 0.0f) {
        if (std::chrono::steady_clock::now() > deadline)
            return gdn_test::fail(err, GDN_ERR_RUNTIME,
                                  "gil probe: mixed_qkv[0, 0] was not written by another thread within 10 s of "
                                  "out[0, 0] being marked");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return GDN_OK;
}

}  // namespace

GDN_TEST_PLUGIN(gdn_plugin t = gdn_test::good_table("gil_probe", 1);
                t.description = "test plugin: forward_gdn waits for another thread of the host";
                t.device_capabilities = probe_capabilities; t.forward_gdn = probe_forward; return t;)

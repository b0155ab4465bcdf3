/* A plugin written in C against the frozen ABI 1.1 header (plugin_v1_1.h): it refuses a
 * gdn_forward_args smaller than its own, as 1.1 plugins were written, and declares nothing of
 * ABI 1.2. A host of a later minor must run it and refuse it the 1.2 features itself.
 * Its "layer" is a marker, not the GDN function: every output element of row t (of a request
 * that is not padding) becomes t + 1 and element 0 of each named slot's recurrent state grows
 * by the request's token count, so that a test sees exactly which fields the plugin read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_v1_1.h"

static gdn_status say(gdn_errbuf err, gdn_status status, const char* message) {
    if (err.text && err.capacity) snprintf(err.text, err.capacity, "%s", message);
    return status;
}

static gdn_status init(gdn_errbuf err) {
    (void)err;
    return GDN_OK;
}
static void shutdown(void) {}

static gdn_status device_count(int32_t* count, gdn_errbuf err) {
    (void)err;
    *count = 1;
    return GDN_OK;
}

static gdn_status device_properties(int32_t device, gdn_device_properties* props, gdn_errbuf err) {
    gdn_device_properties p;
    size_t n = props->struct_size < sizeof p ? props->struct_size : sizeof p;
    if (device != 0) return say(err, GDN_ERR_INVALID_ARGUMENT, "only device 0");
    memset(&p, 0, sizeof p);
    p.struct_size = (uint32_t)n;
    p.kind = GDN_DEVICE_CPU;
    snprintf(p.name, sizeof p.name, "ABI 1.1 test device");
    p.compute_units = 1;
    p.warp_size = 1;
    p.host_accessible = 1;
    memcpy(props, &p, n);
    return GDN_OK;
}

static gdn_status device_capabilities(int32_t device, gdn_capabilities* caps, gdn_errbuf err) {
    gdn_capabilities c;
    size_t n = caps->struct_size < sizeof c ? caps->struct_size : sizeof c;
    if (device != 0) return say(err, GDN_ERR_INVALID_ARGUMENT, "only device 0");
    memset(&c, 0, sizeof c);
    c.struct_size = (uint32_t)n;
    c.activation_dtypes = 1u << GDN_DTYPE_F32;
    c.head_k_dim.min = 8;
    c.head_k_dim.max = 64;
    c.head_k_dim.multiple = 1;
    c.head_v_dim = c.head_k_dim;
    c.conv_kernels = 1u << 4;
    c.gva_ratios = (1u << 1) | (1u << 2);
    c.modes = (1u << GDN_MODE_EXTEND) | (1u << GDN_MODE_DECODE) | (1u << GDN_MODE_MIXED);
    c.deterministic = 1;
    memcpy(caps, &c, n);
    return GDN_OK;
}

static int stream_token;
static gdn_status stream_create(int32_t device, const gdn_stream_options* options, gdn_stream* out, gdn_errbuf err) {
    (void)device;
    (void)options;
    (void)err;
    *out = (gdn_stream)(void*)&stream_token;
    return GDN_OK;
}
static gdn_status stream_destroy(gdn_stream s, gdn_errbuf err) {
    (void)s;
    (void)err;
    return GDN_OK;
}
static gdn_status stream_synchronize(gdn_stream s, gdn_errbuf err) {
    (void)s;
    (void)err;
    return GDN_OK;
}

static gdn_status mem_alloc(int32_t device, size_t bytes, void** out, gdn_errbuf err) {
    (void)device;
    *out = aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    return *out ? GDN_OK : say(err, GDN_ERR_OUT_OF_MEMORY, "aligned_alloc failed");
}
static gdn_status mem_free(int32_t device, void* p, gdn_errbuf err) {
    (void)device;
    (void)err;
    free(p);
    return GDN_OK;
}
static gdn_status mem_copy(gdn_stream s, void* dst, const void* src, size_t bytes, int32_t kind, gdn_errbuf err) {
    (void)s;
    (void)kind;
    (void)err;
    memmove(dst, src, bytes);
    return GDN_OK;
}
static gdn_status mem_set(gdn_stream s, void* dst, int32_t value, size_t bytes, gdn_errbuf err) {
    (void)s;
    (void)err;
    memset(dst, value, bytes);
    return GDN_OK;
}

static gdn_status forward_gdn(gdn_stream s, const gdn_forward_args* a, gdn_errbuf err) {
    int64_t r, t, j;
    const int64_t width = (int64_t)a->num_v_heads * a->head_v_dim;
    (void)s;
    if (a->struct_size < sizeof(gdn_forward_args)) return say(err, GDN_ERR_INVALID_ARGUMENT, "args too small");
    if (a->activation_dtype != GDN_DTYPE_F32) return say(err, GDN_ERR_UNSUPPORTED, "f32 only");
    for (r = 0; r < a->num_requests; ++r) {
        const int64_t slot = a->host_slots[r];
        if (slot == a->padding_slot) continue;
        for (t = a->host_cu_seqlens[r]; t < a->host_cu_seqlens[r + 1]; ++t)
            for (j = 0; j < width; ++j) ((float*)a->out.data)[t * a->out.strides[0] + j] = (float)(t + 1);
        ((float*)a->recurrent_state.data)[slot * a->recurrent_state.strides[0]] +=
            (float)(a->host_cu_seqlens[r + 1] - a->host_cu_seqlens[r]);
    }
    return GDN_OK;
}

static const gdn_plugin table = {
    sizeof(gdn_plugin),
    GDN_ABI_MAJOR,
    GDN_ABI_MINOR,
    "abi_v1_1",
    "1.1.0",
    "plugin built against the frozen ABI 1.1 header",
    1,
    init,
    shutdown,
    device_count,
    device_properties,
    device_capabilities,
    stream_create,
    stream_destroy,
    stream_synchronize,
    mem_alloc,
    mem_free,
    mem_copy,
    mem_set,
    forward_gdn,
    NULL,
    NULL,
};

GDN_PLUGIN_EXPORT const gdn_plugin* gdn_plugin_entry(void);
const gdn_plugin* gdn_plugin_entry(void) { return &table; }

/* A plugin written in C against the frozen ABI 1.0 header (plugin_v1_0.h), as a vendor who
 * shipped years ago would have: every later gdn host must keep loading it. It has one CPU-like
 * device with host memory and declares no compute capabilities. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_v1_0.h"

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
    snprintf(p.name, sizeof p.name, "ABI 1.0 test device");
    p.compute_units = 1;
    p.warp_size = 1;
    p.host_accessible = 1;
    memcpy(props, &p, n); /* only the prefix both sides know */
    return GDN_OK;
}

static gdn_status device_capabilities(int32_t device, gdn_capabilities* caps, gdn_errbuf err) {
    gdn_capabilities c;
    size_t n = caps->struct_size < sizeof c ? caps->struct_size : sizeof c;
    if (device != 0) return say(err, GDN_ERR_INVALID_ARGUMENT, "only device 0");
    memset(&c, 0, sizeof c);
    c.struct_size = (uint32_t)n;
    c.head_k_dim.min = c.head_k_dim.max = c.head_k_dim.multiple = 1;
    c.head_v_dim = c.head_k_dim;
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
static gdn_status forward_gdn(gdn_stream s, const gdn_forward_args* args, gdn_errbuf err) {
    (void)s;
    (void)args;
    return say(err, GDN_ERR_UNSUPPORTED, "the ABI 1.0 test plugin computes nothing");
}

static const gdn_plugin table = {
    sizeof(gdn_plugin),
    GDN_ABI_MAJOR,
    GDN_ABI_MINOR,
    "abi_v1_0",
    "1.0.0",
    "plugin built against the frozen ABI 1.0 header",
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
};

GDN_PLUGIN_EXPORT const gdn_plugin* gdn_plugin_entry(void);
const gdn_plugin* gdn_plugin_entry(void) { return &table; }

// Shared boilerplate of the test plugins: a complete, trivially working plugin table that each
// test plugin copies and then breaks in exactly one way. One plugin is one translation unit, so
// everything here has internal linkage and the version script exports only gdn_plugin_entry.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "gdn/plugin.h"

namespace gdn_test {
namespace {

inline gdn_status fail(gdn_errbuf err, gdn_status status, const char* message) {
    if (err.text && err.capacity > 0) std::snprintf(err.text, err.capacity, "%s", message);
    return status;
}

inline gdn_status init_ok(gdn_errbuf) { return GDN_OK; }
inline void shutdown_noop() {}

inline gdn_status one_device(int32_t* count, gdn_errbuf) {
    *count = 1;
    return GDN_OK;
}

inline gdn_status properties(int32_t device, gdn_device_properties* p, gdn_errbuf err) {
    if (p->struct_size < sizeof *p) return fail(err, GDN_ERR_INVALID_ARGUMENT, "props too small");
    p->kind = GDN_DEVICE_CPU;
    std::snprintf(p->name, sizeof p->name, "test device %d", static_cast<int>(device));
    p->memory_bytes = 1u << 20;
    p->compute_units = 1;
    p->warp_size = 1;
    p->host_accessible = 1;
    return GDN_OK;
}

inline gdn_status capabilities(int32_t, gdn_capabilities* c, gdn_errbuf err) {
    if (c->struct_size < sizeof *c) return fail(err, GDN_ERR_INVALID_ARGUMENT, "caps too small");
    // Claims nothing, so a conformance run has nothing to hold it to.
    c->activation_dtypes = 0;
    c->conv_kernels = 0;
    c->gva_ratios = 0;
    c->modes = 0;
    return GDN_OK;
}

// Streams do nothing: every call completes synchronously.
int stream_token;
inline gdn_status stream_create(int32_t, const gdn_stream_options*, gdn_stream* out, gdn_errbuf) {
    *out = reinterpret_cast<gdn_stream>(&stream_token);
    return GDN_OK;
}
inline gdn_status stream_destroy(gdn_stream, gdn_errbuf) { return GDN_OK; }
inline gdn_status stream_synchronize(gdn_stream, gdn_errbuf) { return GDN_OK; }

inline gdn_status mem_alloc(int32_t, size_t bytes, void** out, gdn_errbuf err) {
    *out = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
    return *out ? GDN_OK : fail(err, GDN_ERR_OUT_OF_MEMORY, "aligned_alloc failed");
}
inline gdn_status mem_free(int32_t, void* p, gdn_errbuf) {
    std::free(p);
    return GDN_OK;
}
inline gdn_status mem_copy(gdn_stream, void* dst, const void* src, size_t bytes, int32_t, gdn_errbuf) {
    std::memcpy(dst, src, bytes);
    return GDN_OK;
}
inline gdn_status mem_set(gdn_stream, void* dst, int32_t value, size_t bytes, gdn_errbuf) {
    std::memset(dst, value, bytes);
    return GDN_OK;
}

inline gdn_status forward_unsupported(gdn_stream, const gdn_forward_args*, gdn_errbuf err) {
    return fail(err, GDN_ERR_UNSUPPORTED, "test plugin: forward_gdn runs nothing");
}

// A valid ABI 1.0 table with one CPU-like device; a test plugin changes what it tests.
inline gdn_plugin good_table(const char* name, int32_t priority) {
    gdn_plugin t{};
    t.struct_size = sizeof t;
    t.abi_major = GDN_ABI_MAJOR;
    t.abi_minor = GDN_ABI_MINOR;
    t.name = name;
    t.version = "0.0.1-test";
    t.description = "test plugin";
    t.priority = priority;
    t.init = init_ok;
    t.shutdown = shutdown_noop;
    t.device_count = one_device;
    t.device_properties = properties;
    t.device_capabilities = capabilities;
    t.stream_create = stream_create;
    t.stream_destroy = stream_destroy;
    t.stream_synchronize = stream_synchronize;
    t.mem_alloc = mem_alloc;
    t.mem_free = mem_free;
    t.mem_copy = mem_copy;
    t.mem_set = mem_set;
    t.forward_gdn = forward_unsupported;
    return t;
}

}  // namespace
}  // namespace gdn_test

// Defines gdn_plugin_entry returning a static table built by `make` (a lambda body run once).
#define GDN_TEST_PLUGIN(...)                                                \
    extern "C" GDN_PLUGIN_EXPORT const gdn_plugin* gdn_plugin_entry(void) { \
        static const gdn_plugin table = [] { __VA_ARGS__ }();               \
        return &table;                                                      \
    }

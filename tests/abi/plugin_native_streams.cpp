// A plugin of ABI 1.1 that offers native streams (stream_wrap, stream_native), with
// gdn_test_native_queue (native_queue.h) as its native stream type. A stream it creates owns a
// queue of its own; a stream it wraps uses the caller's and never frees it.
#include "../plugins/test_plugin.hpp"
#include "native_queue.h"

namespace {
struct StreamImpl {
    gdn_test_native_queue* queue;
    bool owned;
};

StreamImpl* impl(gdn_stream s) { return reinterpret_cast<StreamImpl*>(s); }

gdn_status create(int32_t, const gdn_stream_options*, gdn_stream* out, gdn_errbuf) {
    *out =
        reinterpret_cast<gdn_stream>(new StreamImpl{new gdn_test_native_queue{GDN_TEST_NATIVE_QUEUE_MAGIC, 0}, true});
    return GDN_OK;
}
gdn_status wrap(int32_t device, void* native, gdn_stream* out, gdn_errbuf err) {
    *out = nullptr;
    if (device != 0) return gdn_test::fail(err, GDN_ERR_INVALID_ARGUMENT, "device: not 0");
    auto* q = static_cast<gdn_test_native_queue*>(native);
    if (!q || q->magic != GDN_TEST_NATIVE_QUEUE_MAGIC)
        return gdn_test::fail(err, GDN_ERR_INVALID_ARGUMENT, "native: not a gdn_test_native_queue");
    *out = reinterpret_cast<gdn_stream>(new StreamImpl{q, false});
    return GDN_OK;
}
gdn_status native_of(gdn_stream s, void** native, gdn_errbuf) {
    *native = impl(s)->queue;
    return GDN_OK;
}
gdn_status destroy(gdn_stream s, gdn_errbuf) {
    if (impl(s)->owned) delete impl(s)->queue;
    delete impl(s);
    return GDN_OK;
}
gdn_status synchronize(gdn_stream s, gdn_errbuf) {
    ++impl(s)->queue->ops;
    return GDN_OK;
}
gdn_status copy(gdn_stream s, void* dst, const void* src, size_t bytes, int32_t kind, gdn_errbuf err) {
    ++impl(s)->queue->ops;
    return gdn_test::mem_copy(s, dst, src, bytes, kind, err);
}
gdn_status fill(gdn_stream s, void* dst, int32_t value, size_t bytes, gdn_errbuf err) {
    ++impl(s)->queue->ops;
    return gdn_test::mem_set(s, dst, value, bytes, err);
}
}  // namespace

GDN_TEST_PLUGIN(gdn_plugin t = gdn_test::good_table("native_streams", 1);
                t.description = "test plugin with ABI 1.1 native streams"; t.stream_create = create;
                t.stream_destroy = destroy; t.stream_synchronize = synchronize; t.mem_copy = copy; t.mem_set = fill;
                t.stream_wrap = wrap; t.stream_native = native_of; return t;)

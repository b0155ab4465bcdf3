// ABI 1.1 native streams as the C++ API offers them: Stream(backend, NativeStream{handle}) queues
// gdn's work on the caller's stream and leaves that stream alone when it goes; native_handle()
// gives the runtime stream behind any Stream. Backends without the slots (the CPU backend, a
// plugin built against ABI 1.0) refuse with "unsupported", never with a crash or a wrong stream.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "gdn/registry.hpp"
#include "native_queue.h"

using namespace gdn;

namespace {
const std::string abi_dir = GDN_ABI_PLUGIN_DIR;

Backend open_native(Registry& reg) {
    const LoadReport r = reg.load_file(abi_dir + "/libgdn_native_streams.so");
    INFO(format_report(r));
    REQUIRE(r.usable);
    CHECK(r.abi_minor == unsigned(GDN_ABI_MINOR));
    return reg.open("native_streams");
}

template <class F>
Error thrown_by(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e;
    }
    FAIL("no gdn::Error was thrown");
    return Error(GDN_ERR_INTERNAL, "unreachable");
}
}  // namespace

TEST_CASE("a wrapped native stream receives gdn's work and survives its wrapper") {
    Registry reg(std::vector<std::filesystem::path>{});
    const Backend be = open_native(reg);
    gdn_test_native_queue queue{GDN_TEST_NATIVE_QUEUE_MAGIC, 0};
    DeviceBuffer buf(be, 64);
    {
        Stream s(be, NativeStream{&queue});
        CHECK(s.wraps_native());
        CHECK(s.native_handle() == &queue);
        const char text[] = "queued on the caller's stream";
        s.copy(buf.data(), text, sizeof text, GDN_COPY_HOST_TO_DEVICE);
        s.fill(static_cast<char*>(buf.data()) + sizeof text, 0x5a, 4);
        s.synchronize();
        CHECK(queue.ops == 3);
        CHECK(std::memcmp(buf.data(), text, sizeof text) == 0);
        CHECK(static_cast<unsigned char*>(buf.data())[sizeof text] == 0x5a);
    }
    // The wrapper is gone; the caller's queue is untouched by its destruction and still usable.
    CHECK(queue.magic == GDN_TEST_NATIVE_QUEUE_MAGIC);
    CHECK(queue.ops == 3);
    Stream again(be, NativeStream{&queue});
    again.synchronize();
    CHECK(queue.ops == 4);
}

TEST_CASE("a stream the plugin created has its own native handle, not a caller's") {
    Registry reg(std::vector<std::filesystem::path>{});
    const Backend be = open_native(reg);
    gdn_test_native_queue queue{GDN_TEST_NATIVE_QUEUE_MAGIC, 0};
    Stream own(be);
    CHECK_FALSE(own.wraps_native());
    void* native = own.native_handle();
    REQUIRE(native != nullptr);
    CHECK(native != &queue);
    own.synchronize();
    CHECK(static_cast<gdn_test_native_queue*>(native)->ops == 1);
    CHECK(queue.ops == 0);
}

TEST_CASE("wrapping a NULL or foreign handle is an invalid argument that names `native`") {
    Registry reg(std::vector<std::filesystem::path>{});
    const Backend be = open_native(reg);
    const Error null_handle = thrown_by([&] { Stream s(be, NativeStream{nullptr}); });  // N3
    CHECK(null_handle.status() == GDN_ERR_INVALID_ARGUMENT);
    CHECK_THAT(null_handle.what(), Catch::Contains("native: NULL"));
    int not_a_queue[2] = {7, 7};
    const Error foreign = thrown_by([&] { Stream s(be, NativeStream{not_a_queue}); });  // N4
    INFO(foreign.what());
    CHECK(foreign.status() == GDN_ERR_INVALID_ARGUMENT);
    CHECK_THAT(foreign.what(),
               Catch::Contains("stream_wrap") && Catch::Contains("native: not a gdn_test_native_queue"));
}

TEST_CASE("a plugin without the ABI 1.1 slots (built against ABI 1.0) reports native streams unsupported") {
    Registry reg(std::vector<std::filesystem::path>{});
    const LoadReport r = reg.load_file(abi_dir + "/libgdn_abi_v1_0.so");
    REQUIRE(r.usable);
    const Backend be = reg.open("abi_v1_0");
    CHECK(be.table().stream_wrap == nullptr);
    CHECK(be.table().stream_native == nullptr);
    int handle = 0;
    const Error wrap = thrown_by([&] { Stream s(be, NativeStream{&handle}); });  // N1
    CHECK(wrap.status() == GDN_ERR_UNSUPPORTED);
    CHECK_THAT(wrap.what(), Catch::Contains("abi_v1_0") && Catch::Contains("stream_wrap"));
    Stream own(be);
    const Error native = thrown_by([&] { (void)own.native_handle(); });  // N2
    CHECK(native.status() == GDN_ERR_UNSUPPORTED);
    CHECK_THAT(native.what(), Catch::Contains("stream_native"));
}

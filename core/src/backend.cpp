#include "gdn/backend.hpp"

#include <cstring>
#include <mutex>

namespace gdn {

namespace {
// An empty Backend (default-constructed or moved from) has no plugin to call.
void require_loaded(const Backend& b, const char* what) {
    if (!b.valid())
        invalid_argument(what, "a loaded backend, got an empty Backend (default-constructed or moved from)");
}
}  // namespace

// ---- Plugin ------------------------------------------------------------------------------------

Plugin::Plugin(std::shared_ptr<void> library, const gdn_plugin& table, std::string path)
    : library_(std::move(library)), table_(table), name_(table.name ? table.name : ""), path_(std::move(path)) {}

Plugin::~Plugin() {
    // The plugin stops its threads before its code is unmapped (library_ is released after
    // this body runs, as the last member destroyed).
    // A C++ plugin could still throw through the C slot; a destructor must not let it out.
    if (initialized_ && table_.shutdown) {
        try {
            table_.shutdown();
        } catch (...) {}
    }
}

void Plugin::initialize() {
    if (initialized_) return;
    check_call("init", [&](gdn_errbuf e) { return table_.init(e); });
    initialized_ = true;
}

// ---- Backend -----------------------------------------------------------------------------------

Backend::Backend(std::shared_ptr<Plugin> plugin, int device) : plugin_(std::move(plugin)), device_(device) {
    props_.struct_size = sizeof props_;
    caps_.struct_size = sizeof caps_;
    const gdn_plugin& t = plugin_->table();
    check_call("device_properties", [&](gdn_errbuf e) { return t.device_properties(device_, &props_, e); });
    check_call("device_capabilities", [&](gdn_errbuf e) { return t.device_capabilities(device_, &caps_, e); });
    shared_ = std::make_shared<SharedState>();
}

std::string Backend::name() const {
    if (!plugin_) return "(none)";
    std::string n = plugin_->name();
    if (device_ != 0) {  // two appends: `":" + to_string()` trips a GCC 12 -Wrestrict false positive
        n += ':';
        n += std::to_string(device_);
    }
    return n;
}

void* Backend::allocate(std::size_t bytes) const {
    void* p = nullptr;
    if (bytes == 0) return nullptr;
    require_loaded(*this, "backend");
    check_call("mem_alloc", [&](gdn_errbuf e) { return table().mem_alloc(device_, bytes, &p, e); });
    return p;
}

void Backend::deallocate(void* ptr) const noexcept {
    if (!ptr || !plugin_) return;
    char text[256];
    gdn_errbuf e{text, sizeof text};
    (void)table().mem_free(device_, ptr, e);  // nothing sensible to do with a failed free
}

Stream& Backend::default_stream() const {
    require_loaded(*this, "backend");
    if (!shared_) shared_ = std::make_shared<SharedState>();  // only the stream's own copy
    std::lock_guard<std::mutex> lock(shared_->mutex);
    if (!shared_->stream) {
        // The stream keeps a copy of this Backend without the shared state, so that
        // Stream -> Backend -> SharedState -> Stream is not a cycle.
        Backend plain = *this;
        plain.shared_.reset();
        shared_->stream = std::make_unique<Stream>(plain);
    }
    return *shared_->stream;
}

// ---- Stream ------------------------------------------------------------------------------------

Stream::Stream(const Backend& backend, int num_threads) : backend_(backend) {
    require_loaded(backend_, "stream backend");
    // The stream must not own its Backend's default stream (a cycle): keep a plain copy.
    gdn_stream_options opt{};
    opt.struct_size = sizeof opt;
    opt.num_threads = num_threads;
    check_call("stream_create",
               [&](gdn_errbuf e) { return backend_.table().stream_create(backend_.device(), &opt, &stream_, e); });
}

Stream::Stream(const Backend& backend, NativeStream native) : backend_(backend), wrapped_(true) {
    require_loaded(backend_, "stream backend");
    if (!backend_.table().stream_wrap)
        throw Error(GDN_ERR_UNSUPPORTED, "stream_wrap: backend '" + backend_.name() +
                                             "' has no native streams to wrap (its plugin does not "
                                             "provide the ABI 1.1 slot stream_wrap)");
    if (!native.handle)
        throw Error(GDN_ERR_INVALID_ARGUMENT, "native: NULL; expected a stream of backend '" + backend_.name() + "'");
    check_call("stream_wrap", [&](gdn_errbuf e) {
        return backend_.table().stream_wrap(backend_.device(), native.handle, &stream_, e);
    });
    if (!stream_) throw Error(GDN_ERR_INTERNAL, "stream_wrap: the plugin reported success but returned no stream");
}
void* Stream::native_handle() const {
    if (!backend_.table().stream_native)
        throw Error(GDN_ERR_UNSUPPORTED, "stream_native: backend '" + backend_.name() +
                                             "' has no native streams (its plugin does not provide "
                                             "the ABI 1.1 slot stream_native)");
    void* native = nullptr;
    auto guard = lock();
    check_call("stream_native", [&](gdn_errbuf e) { return backend_.table().stream_native(stream_, &native, e); });
    return native;
}
Stream::~Stream() {
    if (!stream_) return;
    char text[256];
    gdn_errbuf e{text, sizeof text};
    (void)backend_.table().stream_destroy(stream_, e);
}

void Stream::copy(void* dst, const void* src, std::size_t bytes, gdn_copy_kind kind) {
    if (bytes == 0) return;
    const auto hold = lock();
    check_call("mem_copy", [&](gdn_errbuf e) { return backend_.table().mem_copy(stream_, dst, src, bytes, kind, e); });
}

void Stream::fill(void* dst, int byte_value, std::size_t bytes) {
    if (bytes == 0) return;
    const auto hold = lock();
    check_call("mem_set", [&](gdn_errbuf e) { return backend_.table().mem_set(stream_, dst, byte_value, bytes, e); });
}

void Stream::synchronize() {
    const auto hold = lock();
    check_call("stream_synchronize", [&](gdn_errbuf e) { return backend_.table().stream_synchronize(stream_, e); });
}

// ---- DeviceBuffer ------------------------------------------------------------------------------

DeviceBuffer::DeviceBuffer(const Backend& backend, std::size_t bytes)
    : backend_(backend), ptr_(backend.allocate(bytes)), bytes_(bytes) {}

DeviceBuffer DeviceBuffer::borrow(const Backend& backend, void* ptr, std::size_t bytes) {
    require_loaded(backend, "backend");
    DeviceBuffer b;
    b.backend_ = backend;
    b.ptr_ = ptr;
    b.bytes_ = bytes;
    b.owned_ = false;
    return b;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : backend_(std::move(o.backend_)), ptr_(o.ptr_), bytes_(o.bytes_), owned_(o.owned_) {
    o.ptr_ = nullptr;
    o.bytes_ = 0;
    o.owned_ = true;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
        reset();
        backend_ = std::move(o.backend_);
        ptr_ = o.ptr_;
        bytes_ = o.bytes_;
        owned_ = o.owned_;
        o.ptr_ = nullptr;
        o.bytes_ = 0;
        o.owned_ = true;
    }
    return *this;
}

void DeviceBuffer::reset() noexcept {
    if (ptr_ && owned_) backend_.deallocate(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
    owned_ = true;
}

namespace {
// offset + bytes <= size, without computing offset + bytes (a sum that wraps around would pass).
void check_range(const char* what, std::size_t bytes, std::size_t offset, std::size_t size) {
    if (bytes > size || offset > size - bytes)
        invalid_argument(what, "range within the buffer (" + std::to_string(size) + " bytes), got " +
                                   std::to_string(bytes) + " bytes at offset " + std::to_string(offset));
}
}  // namespace

void DeviceBuffer::upload(const void* host, std::size_t bytes, std::size_t offset) {
    check_range("upload", bytes, offset, bytes_);
    Stream& s = backend_.default_stream();
    s.copy(static_cast<char*>(ptr_) + offset, host, bytes, GDN_COPY_HOST_TO_DEVICE);
    s.synchronize();
}

void DeviceBuffer::download(void* host, std::size_t bytes, std::size_t offset) const {
    check_range("download", bytes, offset, bytes_);
    Stream& s = backend_.default_stream();
    s.copy(host, static_cast<const char*>(ptr_) + offset, bytes, GDN_COPY_DEVICE_TO_HOST);
    s.synchronize();
}

}  // namespace gdn

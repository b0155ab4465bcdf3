// Handles over a loaded plugin: Plugin (the library and its table), Backend (one device of a
// plugin), Stream, and DeviceBuffer (owning device memory). Every handle keeps the plugin's
// library loaded through a shared_ptr, so the code it points into outlives all of them.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gdn/error.hpp"
#include "gdn/export.hpp"
#include "gdn/plugin.h"

namespace gdn {

// A loaded plugin library. Created by the registry after the ABI checks. The destructor calls
// the plugin's shutdown (when init succeeded) and then lets go of the library.
class GDN_API Plugin {
public:
    // `library` keeps the shared object mapped (its deleter unloads it); `table` is a copy of the
    // plugin's table widened to the host's sizeof(gdn_plugin) with absent slots zeroed.
    Plugin(std::shared_ptr<void> library, const gdn_plugin& table, std::string path);
    ~Plugin();
    Plugin(const Plugin&) = delete;
    Plugin& operator=(const Plugin&) = delete;

    const gdn_plugin& table() const { return table_; }
    const std::string& name() const { return name_; }
    const std::string& path() const { return path_; }

    // Calls init once; remembers the outcome. Throws Error on failure (status of the plugin).
    void initialize();
    bool initialized() const { return initialized_; }

private:
    std::shared_ptr<void> library_;
    gdn_plugin table_;
    std::string name_;
    std::string path_;
    bool initialized_ = false;
};

// Runs a plugin call with a message buffer and turns a failure into Error("<what>: <message>").
template <class F>
void check_call(const char* what, F&& call);

class GDN_API Stream;

// One device of one plugin. Cheap to copy; all copies share the plugin.
class GDN_API Backend {
public:
    Backend() = default;
    Backend(std::shared_ptr<Plugin> plugin, int device);

    bool valid() const { return plugin_ != nullptr; }
    const Plugin& plugin() const { return *plugin_; }
    const std::shared_ptr<Plugin>& plugin_ptr() const { return plugin_; }
    const gdn_plugin& table() const { return plugin_->table(); }
    int device() const { return device_; }
    // "cpu", "cuda:1": the plugin name, with ":N" for any device N other than 0 (device 0 is
    // the bare name, which also selects it: "cuda" = "cuda:0").
    std::string name() const;
    const gdn_device_properties& properties() const { return props_; }
    const gdn_capabilities& capabilities() const { return caps_; }
    bool host_accessible() const { return props_.host_accessible != 0; }

    // Device memory (synchronous wrappers, used for set-up, not in the hot path).
    void* allocate(std::size_t bytes) const;
    void deallocate(void* ptr) const noexcept;

    // A stream created on first use and shared by every copy of this Backend.
    Stream& default_stream() const;

private:
    std::shared_ptr<Plugin> plugin_;
    int device_ = 0;
    gdn_device_properties props_{};
    gdn_capabilities caps_{};
    // State shared by all copies of one Backend: its default stream.
    struct SharedState {
        std::mutex mutex;
        std::unique_ptr<Stream> stream;
    };
    mutable std::shared_ptr<SharedState> shared_;
};

// A native stream of the backend's runtime that the caller created and owns: a cudaStream_t or a
// hipStream_t, passed as void* so that this header needs no vendor header.
struct NativeStream {
    void* handle = nullptr;
};

// An execution queue on one device. Either created by the plugin (and destroyed with this
// object) or wrapping the caller's native stream (ABI 1.1, stream_wrap): then gdn's work is queued
// in order with the caller's own work on that stream and can be captured in the caller's device
// graphs; destroying the Stream releases only what the plugin allocated for it.
class GDN_API Stream {
public:
    explicit Stream(const Backend& backend, int num_threads = 0);
    // Wraps `native`. Throws Error: unsupported when the backend has no native streams (the CPU
    // backend, or a plugin of ABI 1.0), invalid argument for a NULL handle or one the plugin
    // recognises as not a stream of the backend's device. `native` must outlive this Stream.
    Stream(const Backend& backend, NativeStream native);
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    gdn_stream handle() const { return stream_; }
    const Backend& backend() const { return backend_; }
    // True when this Stream wraps a caller's native stream.
    bool wraps_native() const { return wrapped_; }
    // The runtime's stream behind this one (created or wrapped): for example to capture a CUDA
    // graph of decode steps. Throws Error (unsupported) where the backend has no native streams.
    void* native_handle() const;

    void copy(void* dst, const void* src, std::size_t bytes, gdn_copy_kind kind);
    void fill(void* dst, int byte_value, std::size_t bytes);
    void synchronize();

    // Held around every plugin call on this stream. plugin.h promises plugins that calls on one
    // stream never overlap, and a Backend's default stream is shared by every pool, batch and
    // buffer of that Backend, whichever thread uses them.
    std::unique_lock<std::mutex> lock() const { return std::unique_lock<std::mutex>(mutex_); }

private:
    Backend backend_;
    gdn_stream stream_ = nullptr;
    bool wrapped_ = false;
    mutable std::mutex mutex_;
};

// Device memory: owned (allocated here, freed on destruction) or borrowed (someone else's, never
// freed here).
class GDN_API DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(const Backend& backend, std::size_t bytes);
    // Memory of `bytes` bytes at `ptr` that the caller allocated on `backend`'s device and keeps
    // owning: this object reads and writes it but never frees it.
    static DeviceBuffer borrow(const Backend& backend, void* ptr, std::size_t bytes);
    ~DeviceBuffer() { reset(); }
    DeviceBuffer(DeviceBuffer&& o) noexcept;
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;

    void* data() const { return ptr_; }
    std::size_t size() const { return bytes_; }
    const Backend& backend() const { return backend_; }
    bool owned() const { return owned_; }
    void reset() noexcept;

    // Synchronous helpers on the backend's default stream.
    void upload(const void* host, std::size_t bytes, std::size_t offset = 0);
    void download(void* host, std::size_t bytes, std::size_t offset = 0) const;

private:
    Backend backend_;
    void* ptr_ = nullptr;
    std::size_t bytes_ = 0;
    bool owned_ = true;
};

// ---- implementation of the template -----------------------------------------------------------

template <class F>
void check_call(const char* what, F&& call) {
    char text[1024] = {0};
    gdn_errbuf err{text, sizeof text};
    gdn_status st = call(err);
    if (st != GDN_OK) {
        std::string msg = what;
        msg += ": ";
        msg += text[0] ? text : status_name(st);
        throw Error(st, msg);
    }
}

}  // namespace gdn

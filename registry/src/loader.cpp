// Loading one plugin file, stage by stage, into a LoadReport (and a Plugin when usable).
//
// Status codes in reports, so that a caller can tell the kinds of failure apart:
//   GDN_ERR_RUNTIME      the dynamic loader could not map the file (dlerror text in the reason)
//   GDN_ERR_INTERNAL     the file is not a well-formed plugin: no entry, entry returned NULL,
//                        a required slot is NULL, a bad name, or it threw across the C boundary
//   GDN_ERR_UNSUPPORTED  a plugin this host cannot or will not use: a file or directory other
//                        users can write (refused before it is mapped, plugin_trust.hpp),
//                        another ABI major, a table shorter than ABI 1.0, a name already taken
//   anything else        what the plugin itself returned from init or device probing
#include "loader.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstddef>
#include <cstring>
#include <map>
#include <mutex>
#include <string_view>
#include <system_error>

#include <boost/dll/shared_library.hpp>

#include "elf_check.hpp"
#include "plugin_trust.hpp"

namespace fs = std::filesystem;

namespace gdn::detail {
namespace {

// ---- plugin calls ------------------------------------------------------------------------------

struct CallResult {
    gdn_status status;
    std::string message;
};

// Runs one C call of the plugin with a message buffer. The contract forbids exceptions across
// the boundary, but a C++ plugin that breaks it must not take the host down with it.
template <class F>
CallResult guarded(F&& call) {
    char text[1024] = {0};
    gdn_errbuf err{text, sizeof text};
    try {
        const gdn_status st = call(err);
        text[sizeof text - 1] = '\0';  // a plugin that ignored the capacity still ends here
        return {st, text};
    } catch (const std::exception& e) {
        return {GDN_ERR_INTERNAL, std::string("the plugin threw across the C boundary: ") + e.what()};
    } catch (...) {
        return {GDN_ERR_INTERNAL, "the plugin threw across the C boundary"};
    }
}

// Boost.DLL wraps dlerror() as "<what> (dlerror system message: <text>): <errno text>"; the
// reason shown to users is the dlerror text alone, which names the file and the actual problem.
std::string loader_message(const std::exception& e) {
    static constexpr std::string_view marker = "(dlerror system message: ";
    const std::string_view what = e.what();
    const auto begin = what.find(marker);
    const auto end = what.rfind(')');
    if (begin == std::string_view::npos || end == std::string_view::npos || end < begin) return std::string(what);
    return std::string(what.substr(begin + marker.size(), end - begin - marker.size()));
}

// ---- ABI checks --------------------------------------------------------------------------------

struct RequiredSlot {
    const char* name;
    bool (*present)(const gdn_plugin&);
};

// Every slot of ABI 1.0 is required; slots added by later minors (stream_wrap and stream_native
// of 1.1) are optional: NULL means the plugin does not offer them.
constexpr RequiredSlot required_slots[] = {
    {"init", [](const gdn_plugin& t) { return t.init != nullptr; }},
    {"shutdown", [](const gdn_plugin& t) { return t.shutdown != nullptr; }},
    {"device_count", [](const gdn_plugin& t) { return t.device_count != nullptr; }},
    {"device_properties", [](const gdn_plugin& t) { return t.device_properties != nullptr; }},
    {"device_capabilities", [](const gdn_plugin& t) { return t.device_capabilities != nullptr; }},
    {"stream_create", [](const gdn_plugin& t) { return t.stream_create != nullptr; }},
    {"stream_destroy", [](const gdn_plugin& t) { return t.stream_destroy != nullptr; }},
    {"stream_synchronize", [](const gdn_plugin& t) { return t.stream_synchronize != nullptr; }},
    {"mem_alloc", [](const gdn_plugin& t) { return t.mem_alloc != nullptr; }},
    {"mem_free", [](const gdn_plugin& t) { return t.mem_free != nullptr; }},
    {"mem_copy", [](const gdn_plugin& t) { return t.mem_copy != nullptr; }},
    {"mem_set", [](const gdn_plugin& t) { return t.mem_set != nullptr; }},
    {"forward_gdn", [](const gdn_plugin& t) { return t.forward_gdn != nullptr; }},
};

// The bytes a table must have before its version fields can be read at all.
constexpr std::size_t version_prefix = offsetof(gdn_plugin, abi_minor) + sizeof(uint32_t);

// Names are matched in "name[:device]" specs, so ':' and upper case would be ambiguous.
bool valid_name(std::string_view n) {
    return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

void stop(LoadReport& r, gdn_status status, std::string reason) {
    r.status = status;
    r.reason = std::move(reason);
}

void describe(LoadReport& r, const gdn_plugin& t) {
    r.name = t.name ? t.name : "";
    r.version = t.version ? t.version : "";
    r.description = t.description ? t.description : "";
    r.priority = t.priority;
}

// Checks the plugin's own table and returns the host-sized copy of it in `out`. The copy is
// zero-filled first, so that slots an older minor does not have read as NULL.
bool check_table(const gdn_plugin* theirs, LoadReport& r, gdn_plugin& out) {
    const std::size_t size = theirs->struct_size;
    if (size < version_prefix) {
        stop(r, GDN_ERR_UNSUPPORTED,
             "table too small: " + std::to_string(size) + " bytes < " + std::to_string(version_prefix) +
                 " (cannot even hold the ABI version)");
        return false;
    }
    r.abi_major = theirs->abi_major;
    r.abi_minor = theirs->abi_minor;
    if (theirs->abi_major != GDN_ABI_MAJOR) {
        // Nothing past the version fields is read: another major may lay the table out anew.
        stop(r, GDN_ERR_UNSUPPORTED,
             "ABI major " + std::to_string(theirs->abi_major) + " != host " + std::to_string(GDN_ABI_MAJOR) +
                 ": the plugin was built against gdn/plugin.h " + std::to_string(theirs->abi_major) + "." +
                 std::to_string(theirs->abi_minor) + " and this gdn loads ABI " + std::to_string(GDN_ABI_MAJOR) +
                 ".x plugins only; rebuild it against this gdn's SDK");
        return false;
    }
    if (size < GDN_PLUGIN_MIN_SIZE_V1_0) {
        stop(r, GDN_ERR_UNSUPPORTED,
             "table too small: " + std::to_string(size) + " bytes < " + std::to_string(GDN_PLUGIN_MIN_SIZE_V1_0) +
                 " (the ABI 1.0 table)");
        return false;
    }
    std::memset(&out, 0, sizeof out);
    std::memcpy(&out, theirs, std::min(size, sizeof out));  // a newer minor: its known prefix
    // An optional slot counts only when the plugin's table holds all of it (a size that ends
    // inside a pointer is a malformed table; half a pointer is never called).
    const auto holds = [size](std::size_t offset) { return size >= offset + sizeof(void (*)()); };
    if (!holds(offsetof(gdn_plugin, stream_wrap))) out.stream_wrap = nullptr;
    if (!holds(offsetof(gdn_plugin, stream_native))) out.stream_native = nullptr;
    describe(r, out);
    for (const RequiredSlot& slot : required_slots) {
        if (!slot.present(out)) {
            stop(r, GDN_ERR_INTERNAL, std::string("required slot `") + slot.name + "` is NULL");
            return false;
        }
    }
    if (!valid_name(r.name)) {
        stop(r, GDN_ERR_INTERNAL, "plugin name `" + r.name + "` is not lower case [a-z0-9_-]+ as the ABI requires");
        return false;
    }
    return true;
}

// GDN_PLUGIN_NODELETE=1: a loaded plugin file stays mapped for the life of the process, even
// after its Plugin is gone (shutdown still runs). For ThreadSanitizer runs: TSan keeps the shadow
// state of an unmapped library and reports races against the next library mapped at the same
// address. The mapping Boost.DLL just made is marked RTLD_NODELETE by a second dlopen.
void keep_mapped_if_asked(const fs::path& file) {
    const char* env = std::getenv("GDN_PLUGIN_NODELETE");
    if (!env || !*env || std::string_view(env) == "0") return;
    if (void* h = ::dlopen(file.c_str(), RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD | RTLD_NODELETE)) ::dlclose(h);
}

// ---- sharing one Plugin per file across registries ----------------------------------------------

// dlopen hands out one mapping per file however often it is opened, so two registries that load
// the same file share the plugin's global state: a second init, or the first registry's shutdown
// while the second still runs, would break the plugin. One Plugin per file is alive at a time;
// its lock serializes loading and unloading of that file (init never overlaps a shutdown).
// Recursive: the last reference to a Plugin may be dropped by a thread that holds the lock.
struct FileSlot {
    std::recursive_mutex mutex;
    std::weak_ptr<Plugin> live;
};

std::shared_ptr<FileSlot> file_slot(const fs::path& file) {
    // Leaked on purpose: Plugins held by static objects die during exit, in an order that this
    // map must not have to survive.
    static auto* const mutex = new std::mutex;
    static auto* const slots = new std::map<fs::path, std::shared_ptr<FileSlot>>;
    std::error_code ec;
    fs::path key = fs::weakly_canonical(file, ec);
    if (ec) key = file;
    std::lock_guard<std::mutex> lock(*mutex);
    auto& slot = (*slots)[key];
    if (!slot) slot = std::make_shared<FileSlot>();
    return slot;
}

// Stages opened .. initialized for a file that has no live Plugin. Called with the slot locked.
std::shared_ptr<Plugin> open_plugin(const fs::path& file, const std::shared_ptr<FileSlot>& slot, LoadReport& r,
                                    const ClaimName& claim) {
    std::shared_ptr<boost::dll::shared_library> lib;
    if (std::string why = elf_truncation(file); !why.empty()) {
        stop(r, GDN_ERR_RUNTIME, std::move(why));  // mapping it would be SIGBUS, not an error
        return nullptr;
    }
    try {
        // Local: two plugins may use the same symbol names (both link a runtime) without one
        // binding to the other's. Now: every symbol is resolved here, so that a plugin built
        // against a newer library than the one installed is a load report; bound lazily, its
        // first call of a missing function would end the process (exit 127). A GPU plugin
        // still loads on a machine without a driver: its runtime opens the driver itself.
        lib = std::make_shared<boost::dll::shared_library>(
            file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    } catch (const std::exception& e) {
        stop(r, GDN_ERR_RUNTIME, loader_message(e));
        return nullptr;
    }
    r.stage = LoadStage::opened;
    keep_mapped_if_asked(file);

    if (!lib->has(GDN_PLUGIN_ENTRY_SYMBOL)) {
        stop(r, GDN_ERR_INTERNAL, "missing symbol " GDN_PLUGIN_ENTRY_SYMBOL);
        return nullptr;
    }
    const gdn_plugin* theirs = nullptr;
    try {
        theirs = lib->get<const gdn_plugin*()>(GDN_PLUGIN_ENTRY_SYMBOL)();
    } catch (const std::exception& e) {
        stop(r, GDN_ERR_INTERNAL, std::string("entry threw across the C boundary: ") + e.what());
        return nullptr;
    } catch (...) {
        stop(r, GDN_ERR_INTERNAL, "entry threw across the C boundary");
        return nullptr;
    }
    if (!theirs) {
        stop(r, GDN_ERR_INTERNAL, "entry returned NULL");
        return nullptr;
    }
    r.stage = LoadStage::entry_found;

    gdn_plugin table;
    if (!check_table(theirs, r, table)) return nullptr;
    r.stage = LoadStage::abi_ok;

    if (std::string why = claim ? claim(r.name) : std::string(); !why.empty()) {
        stop(r, GDN_ERR_UNSUPPORTED, std::move(why));
        return nullptr;
    }

    std::shared_ptr<Plugin> plugin;
    try {
        // The deleter takes the file's lock: a shutdown and the unmapping that follows it never
        // overlap a new load of the same file.
        plugin.reset(new Plugin(std::move(lib), table, file.string()), [slot](Plugin* p) {
            std::lock_guard<std::recursive_mutex> lock(slot->mutex);
            delete p;
        });
        plugin->initialize();
    } catch (const Error& e) {
        stop(r, e.status(), e.what());
        return nullptr;
    } catch (const std::exception& e) {
        stop(r, GDN_ERR_INTERNAL, std::string("init threw across the C boundary: ") + e.what());
        return nullptr;
    } catch (...) {
        stop(r, GDN_ERR_INTERNAL, "init threw across the C boundary");
        return nullptr;
    }
    r.stage = LoadStage::initialized;
    slot->live = plugin;
    return plugin;
}

// Stage devices_probed: at least one device, and every device describes itself.
bool probe_devices(const gdn_plugin& t, LoadReport& r) {
    int32_t count = 0;
    const CallResult c = guarded([&](gdn_errbuf e) { return t.device_count(&count, e); });
    if (c.status == GDN_OK && count > 0) {
        r.device_count = count;
    } else if (c.status == GDN_OK || c.status == GDN_ERR_NO_DEVICE) {
        stop(r, GDN_ERR_NO_DEVICE, c.message.empty() ? "no device" : c.message);
        return false;
    } else {
        stop(r, c.status, "device_count failed: " + (c.message.empty() ? status_name(c.status) : c.message));
        return false;
    }
    for (int32_t d = 0; d < count; ++d) {
        gdn_device_properties props{};
        props.struct_size = sizeof props;
        gdn_capabilities caps{};
        caps.struct_size = sizeof caps;
        const CallResult p = guarded([&](gdn_errbuf e) { return t.device_properties(d, &props, e); });
        const CallResult k =
            p.status != GDN_OK ? p : guarded([&](gdn_errbuf e) { return t.device_capabilities(d, &caps, e); });
        if (k.status != GDN_OK) {
            const char* which = p.status != GDN_OK ? "device_properties" : "device_capabilities";
            stop(r, k.status,
                 std::string(which) + "(" + std::to_string(d) +
                     ") failed: " + (k.message.empty() ? status_name(k.status) : k.message));
            return false;
        }
    }
    return true;
}

}  // namespace

LoadResult load_plugin(const fs::path& file, const ClaimName& claim) {
    LoadResult result;
    LoadReport& r = result.report;
    r.path = file.string();
    r.stage = LoadStage::found;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
        stop(r, GDN_ERR_RUNTIME, "no such file: " + file.string());
        return result;
    }
    if (std::string why = untrusted_plugin_reason(file); !why.empty()) {
        stop(r, GDN_ERR_UNSUPPORTED, std::move(why));
        return result;
    }

    const std::shared_ptr<FileSlot> slot = file_slot(file);
    // Declared before the lock: should this be the last reference when the function ends, the
    // Plugin is destroyed after the lock is released (the deleter takes it again).
    std::shared_ptr<Plugin> plugin;
    {
        std::lock_guard<std::recursive_mutex> lock(slot->mutex);
        plugin = slot->live.lock();
        if (plugin) {
            // Already loaded and initialized by another registry: the checks passed then.
            const gdn_plugin& t = plugin->table();
            describe(r, t);
            r.abi_major = t.abi_major;
            r.abi_minor = t.abi_minor;
            r.stage = LoadStage::abi_ok;
            if (std::string why = claim ? claim(r.name) : std::string(); !why.empty()) {
                stop(r, GDN_ERR_UNSUPPORTED, std::move(why));
                return result;
            }
            r.stage = LoadStage::initialized;
        } else {
            plugin = open_plugin(file, slot, r, claim);
            if (!plugin) return result;
        }
    }

    if (!probe_devices(plugin->table(), r)) return result;
    r.stage = LoadStage::devices_probed;
    r.usable = true;
    r.status = GDN_OK;
    result.plugin = std::move(plugin);
    return result;
}

}  // namespace gdn::detail

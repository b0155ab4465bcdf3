// The Registry: the set of loaded plugins of one search path, and choosing a Backend by name.
#include "gdn/registry.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <system_error>

#include "discovery.hpp"
#include "loader.hpp"
#include "spec.hpp"

namespace fs = std::filesystem;

namespace gdn {

struct Registry::Impl {
    std::vector<fs::path> search_path;
    mutable std::mutex mutex;
    std::vector<detail::LoadResult> entries;  // search order, then load_file order

    // The entry that owns `name`: the first one that read that name from its table. Plugins
    // that come later with the same name are shadowed, usable or not, like commands on a PATH.
    // Caller holds the mutex.
    const detail::LoadResult* owner(const std::string& name) const {
        for (const auto& e : entries)
            if (!e.report.name.empty() && e.report.name == name) return &e;
        return nullptr;
    }

    std::string shadow_reason(const std::string& name) const {
        const detail::LoadResult* o = owner(name);
        return o ? "shadowed by " + o->report.path : std::string();
    }

    // The entry for a requested (lower-case) name. A file whose table could not be read has no
    // name; it answers to the name its file carries (libgdn_cuda.so -> "cuda"), so that asking
    // for "cuda" shows why the CUDA plugin failed instead of claiming there is none.
    const detail::LoadResult* find(const std::string& name) const {
        for (const auto& e : entries)
            if (detail::to_lower(e.report.name) == name) return &e;
        for (const auto& e : entries)
            if (e.report.name.empty() && detail::name_from_file(e.report.path) == name) return &e;
        return nullptr;
    }

    // Highest priority usable entry; the earlier one in search order on a tie.
    const detail::LoadResult* best() const {
        const detail::LoadResult* b = nullptr;
        for (const auto& e : entries)
            if (e.report.usable && (!b || e.report.priority > b->report.priority)) b = &e;
        return b;
    }

    const detail::LoadResult* find_file(const fs::path& file) const {
        std::error_code ec;
        for (const auto& e : entries)
            if (fs::equivalent(e.report.path, file, ec)) return &e;
        return nullptr;
    }

    std::string all_reports() const {
        std::string out;
        for (const auto& e : entries) {
            out += '\n';
            out += format_report(e.report);
        }
        return out;
    }

    std::string searched() const {
        std::string out;
        for (const auto& p : search_path) {
            if (!out.empty()) out += ':';
            out += p.string();
        }
        return out.empty() ? "(empty search path)" : out;
    }

    LoadReport load(const fs::path& file) {
        // The loader asks for the name's owner before init, so that a shadowed plugin never
        // starts its runtime. It runs without our mutex held; only the question takes it.
        detail::LoadResult result = detail::load_plugin(file, [this](const std::string& name) {
            std::lock_guard<std::mutex> lock(mutex);
            return shadow_reason(name);
        });
        std::shared_ptr<Plugin> dropped;  // destroyed after the mutex is released (it may shut down)
        std::lock_guard<std::mutex> lock(mutex);
        // Another thread's load_file of the same file may have finished first.
        if (const detail::LoadResult* same = find_file(file)) {
            dropped = std::move(result.plugin);
            return same->report;
        }
        // Another thread's load_file may have taken the name while this one was loading.
        if (result.report.stage >= LoadStage::abi_ok && !result.report.name.empty()) {
            if (std::string why = shadow_reason(result.report.name); !why.empty()) {
                dropped = std::move(result.plugin);
                result.report.stage = LoadStage::abi_ok;
                result.report.usable = false;
                result.report.device_count = 0;
                result.report.status = GDN_ERR_UNSUPPORTED;
                result.report.reason = std::move(why);
            }
        }
        entries.push_back(std::move(result));
        return entries.back().report;
    }
};

Registry::Registry() : Registry(default_search_path()) {}

Registry::Registry(std::vector<fs::path> search_path) : impl_(std::make_unique<Impl>()) {
    impl_->search_path = std::move(search_path);
    for (const fs::path& file : detail::discover(impl_->search_path)) impl_->load(file);
}

Registry::~Registry() = default;

Registry& Registry::global() {
    static Registry registry;  // initialized once, thread-safely, on first use
    return registry;
}

std::vector<LoadReport> Registry::reports() const {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    std::vector<LoadReport> out;
    out.reserve(impl_->entries.size());
    for (const auto& e : impl_->entries) out.push_back(e.report);
    return out;
}

std::vector<Backend> Registry::available() const {
    struct Candidate {
        std::shared_ptr<Plugin> plugin;
        int devices;
        int priority;
    };
    std::vector<Candidate> candidates;
    {
        std::lock_guard<std::mutex> lock(impl_->mutex);
        for (const auto& e : impl_->entries)
            if (e.report.usable) candidates.push_back({e.plugin, e.report.device_count, e.report.priority});
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Candidate& a, const Candidate& b) { return a.priority > b.priority; });
    std::vector<Backend> out;
    for (const Candidate& c : candidates) {
        for (int d = 0; d < c.devices; ++d) {
            // Every device answered at load time; one that stops answering now is left out of
            // the list rather than failing it (it was only probed, not asked for).
            try {
                out.emplace_back(c.plugin, d);
            } catch (const std::exception&) {}
        }
    }
    return out;
}

Backend Registry::open(std::string_view spec) const {
    const detail::BackendSpec s = detail::parse_backend_spec(spec);
    std::shared_ptr<Plugin> plugin;
    int device_count = 0;
    std::string name;
    {
        std::lock_guard<std::mutex> lock(impl_->mutex);
        if (s.automatic) {
            const detail::LoadResult* b = impl_->best();
            if (!b) {
                if (impl_->entries.empty())
                    throw Error(GDN_ERR_NO_DEVICE, "no gdn backend: no plugin files found in " + impl_->searched() +
                                                       " (GDN_PLUGIN_PATH adds directories)");
                throw Error(GDN_ERR_NO_DEVICE,
                            "no usable gdn backend in " + impl_->searched() + "; load reports:" + impl_->all_reports());
            }
            plugin = b->plugin;
            device_count = b->report.device_count;
            name = b->report.name;
        } else {
            const detail::LoadResult* e = impl_->find(s.name);
            if (!e) {
                std::string known;
                std::set<std::string> listed;  // a shadowed plugin repeats its owner's name
                for (const auto& x : impl_->entries) {
                    const std::string n =
                        !x.report.name.empty() ? x.report.name : detail::name_from_file(x.report.path);
                    if (n.empty() || !listed.insert(n).second) continue;
                    if (!known.empty()) known += ", ";
                    known += n;
                    if (!x.report.usable) known += " (not usable)";
                }
                throw Error(GDN_ERR_INVALID_ARGUMENT,
                            "unknown backend `" + std::string(spec) + "`: expected auto or one of: " +
                                (known.empty() ? "(none: no plugin files found in " + impl_->searched() + ")" : known));
            }
            if (!e->report.usable)
                throw Error(e->report.status,
                            "backend `" + std::string(spec) + "` cannot be used here:\n" + format_report(e->report));
            plugin = e->plugin;
            device_count = e->report.device_count;
            name = e->report.name;
        }
    }
    if (s.device >= device_count)
        throw Error(GDN_ERR_INVALID_ARGUMENT,
                    "backend `" + std::string(spec) + "`: device index " + std::to_string(s.device) +
                        " out of range: `" + name + "` has " + std::to_string(device_count) +
                        (device_count == 1 ? " device (index 0)"
                                           : " devices (indices 0.." + std::to_string(device_count - 1) + ")"));
    try {
        return Backend(std::move(plugin), s.device);
    } catch (const Error& e) {
        throw Error(e.status(), "opening backend `" + std::string(spec) + "`: " + e.what());
    } catch (const std::exception& e) {
        throw Error(GDN_ERR_INTERNAL, "opening backend `" + std::string(spec) + "`: " + e.what());
    }
}

Backend Registry::open_default() const {
    const char* env = std::getenv("GDN_BACKEND");
    if (!env || !*env) return open("auto");
    try {
        return open(env);
    } catch (const Error& e) {
        throw Error(e.status(), std::string("GDN_BACKEND=") + env + ": " + e.what());
    }
}

LoadReport Registry::load_file(const fs::path& file) {
    std::error_code ec;
    fs::path abs = fs::absolute(file, ec).lexically_normal();
    if (ec) abs = file;
    {
        // Loading a file twice would report it as shadowed by itself; it is simply there already.
        std::lock_guard<std::mutex> lock(impl_->mutex);
        if (const detail::LoadResult* e = impl_->find_file(abs)) return e->report;
    }
    return impl_->load(abs);
}

}  // namespace gdn

// Human-readable load reports: what `gdn list` prints and what an explicit open() that cannot
// be served carries in its error.
#include "gdn/detail/text.hpp"

#include "discovery.hpp"
#include "gdn/registry.hpp"

namespace gdn {

const char* load_stage_name(LoadStage s) {
    switch (s) {
        case LoadStage::found: return "found";
        case LoadStage::opened: return "opened";
        case LoadStage::entry_found: return "entry_found";
        case LoadStage::abi_ok: return "abi_ok";
        case LoadStage::initialized: return "initialized";
        case LoadStage::devices_probed: return "devices_probed";
    }
    return "unknown stage";
}

namespace {

// The stage a report failed to reach: the one after the stage it did reach.
const char* next_stage_name(LoadStage s) {
    switch (s) {
        case LoadStage::found: return "opened";
        case LoadStage::opened: return "entry_found";
        case LoadStage::entry_found: return "abi_ok";
        case LoadStage::abi_ok: return "initialized";
        case LoadStage::initialized: return "devices_probed";
        case LoadStage::devices_probed: break;
    }
    return "-";
}

}  // namespace

// Example:
//   cuda: not usable (stopped after initialized, before devices_probed)
//     file:    /opt/gdn/lib/gdn/plugins/libgdn_cuda.so
//     plugin:  cuda 0.1.0, priority 100 -- CUDA backend
//     abi:     1.0
//     status:  no device
//     reason:  no CUDA device visible (cudaGetDeviceCount: ...)
std::string format_report(const LoadReport& r) {
    detail::Text out;
    const std::string file_name = detail::name_from_file(r.path);
    const std::string& shown = !r.name.empty() ? r.name : file_name;
    out << (shown.empty() ? r.path : shown) << ": ";
    if (r.usable) {
        out << "usable, " << r.device_count << (r.device_count == 1 ? " device" : " devices");
    } else {
        out << "not usable (stopped after " << load_stage_name(r.stage) << ", before " << next_stage_name(r.stage)
            << ")";
    }
    out << "\n  file:    " << r.path;
    // The name and the rest of the table are only trusted once the ABI version was checked.
    if (!r.name.empty()) {
        out << "\n  plugin:  " << r.name;
        if (!r.version.empty()) out << " " << r.version;
        out << ", priority " << r.priority;
        if (!r.description.empty()) out << " -- " << r.description;
    }
    if (r.stage >= LoadStage::entry_found) out << "\n  abi:     " << r.abi_major << "." << r.abi_minor;
    if (!r.usable) {
        out << "\n  status:  " << status_name(r.status);
        out << "\n  reason:  " << (r.reason.empty() ? "(none given)" : r.reason);
    }
    return out.str();
}

}  // namespace gdn

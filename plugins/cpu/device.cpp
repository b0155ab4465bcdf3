#include "device.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <oneapi/tbb/info.h>

namespace gdn_cpu {

namespace {

// The "model name" line of /proc/cpuinfo, without the key; a generic name when unreadable.
void cpu_model(char* name, size_t capacity) {
    std::snprintf(name, capacity, "%s", "x86-64 CPU");
    std::FILE* f = std::fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, "model name", 10) != 0) continue;
        const char* colon = std::strchr(line, ':');
        if (!colon) continue;
        const char* value = colon + 1;
        while (*value == ' ' || *value == '\t') ++value;
        size_t len = std::strcspn(value, "\n");
        while (len > 0 && value[len - 1] == ' ') --len;
        if (len > 0) std::snprintf(name, capacity, "%.*s", int(len), value);
        break;
    }
    std::fclose(f);
}

}  // namespace

void describe_device(gdn_device_properties& props) {
    props.kind = GDN_DEVICE_CPU;
    cpu_model(props.name, sizeof props.name);
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    props.memory_bytes = pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
    props.compute_units = tbb::info::default_concurrency();
    props.compute_major = 0;
    props.compute_minor = 0;
    props.warp_size = 1;
    props.host_accessible = 1;
}

int default_threads() {
    if (const char* env = std::getenv("GDN_NUM_THREADS")) {
        const long n = std::strtol(env, nullptr, 10);
        if (n > 0 && n <= kMaxThreads) return int(n);
    }
    return tbb::info::default_concurrency();
}

}  // namespace gdn_cpu

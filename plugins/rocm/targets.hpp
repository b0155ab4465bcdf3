// The AMD GPU targets this build has code for, with the wavefront size of each, as CMake wrote
// them: GDN_ROCM_TARGETS="gfx90a:64,gfx940:64,gfx1030:32". The host looks a device up here and
// refuses one the build has no code for, or whose wavefront differs; every device pass of the
// build checks its own entry against the compiler (see check_target_wave_size below).
#pragma once

#ifndef GDN_ROCM_TARGETS
#error "GDN_ROCM_TARGETS is set by plugins/rocm/CMakeLists.txt"
#endif

namespace gdn_rocm {

constexpr const char* kTargets = GDN_ROCM_TARGETS;

// The wavefront size recorded for `arch` ("gfx90a"; target features after ':' are ignored), or 0
// when the build has no code for it.
constexpr int target_wave_size(const char* arch) {
    const char* p = kTargets;
    while (*p) {
        const char* a = arch;
        const char* q = p;
        while (*q && *q != ':' && *q != ',' && *a && *a != ':' && *q == *a) {
            ++q;
            ++a;
        }
        const bool match = *q == ':' && (*a == '\0' || *a == ':');
        while (*q && *q != ':' && *q != ',') ++q;
        int wave = 0;
        if (*q == ':')
            for (++q; *q >= '0' && *q <= '9'; ++q) wave = wave * 10 + (*q - '0');
        if (match) return wave;
        while (*q && *q != ',') ++q;
        p = *q == ',' ? q + 1 : q;
    }
    return 0;
}

}  // namespace gdn_rocm

// In each device pass: the table's wavefront for the target being compiled is the compiler's.
#if defined(__AMDGCN_WAVEFRONT_SIZE) && defined(__amdgcn_processor__)
static_assert(gdn_rocm::target_wave_size(__amdgcn_processor__) == __AMDGCN_WAVEFRONT_SIZE,
              "GDN_ROCM_TARGETS records another wavefront size for this target than the compiler uses");
#endif

// The ROCm backend plugin: the vendor policy of the shared GPU host (plugins/gpu/host_plugin.cuh)
// for AMD GPUs through HIP. The kernels are the CUDA plugin's (plugins/gpu, through the vendor
// layer). The host calls the runtime only through gdn_rt, so this file builds with nvcc as well:
// the verification build (GDN_ROCM_VERIFY_ON_CUDA) runs this policy and the kernels it picks, mma
// emulation included, on an NVIDIA GPU, since no AMD GPU is reachable where gdn is built.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "../gpu/host_plugin.cuh"
#include "forward.hpp"
#include "targets.hpp"

namespace {

using gdn_gpu::ErrorText;
using gdn_gpu::set_error;

#if defined(GDN_GPU_HIP)
constexpr const char* kGpu = "AMD GPU";
#else
constexpr const char* kGpu = "GPU (rocm plugin built with CUDA for verification)";
#endif

struct Rocm {
    static constexpr const char* kName = "rocm";
    static constexpr const char* kDescription = "AMD GPUs through HIP (this build: " GDN_ROCM_TARGETS
                                                "): the CUDA backend's kernels, mma emulated; "
                                                "token-by-token extend where the chunked prefill does not fit the LDS";
    static constexpr int kPriority = 90;
    static constexpr const char* kBackend = "ROCm";
    static constexpr const char* kDeviceNoun = "an AMD GPU";
    static constexpr gdn_gpu::KernelEntries kKernels{gdn_rocm::forward_f32, gdn_rocm::forward_bf16,
                                                     gdn_rocm::forward_f16, gdn_rocm::seq_smem_bytes,
                                                     gdn_rocm::prep_smem_bytes};

    static gdn_status count_devices(int* n, gdn_errbuf err) {
        *n = 0;
        const gdn_rt::Error e = gdn_rt::device_count(n);
        if (e == gdn_rt::kErrNoDevice || (e == gdn_rt::kSuccess && *n <= 0)) {
            (void)gdn_rt::get_last_error();
            *n = 0;
#if defined(GDN_GPU_HIP)
            const bool kfd = ::access("/dev/kfd", F_OK) == 0;
            set_error(err, "no AMD GPU (%sGetDeviceCount: %s%s)", gdn_rt::kApi, ErrorText(e).text,
                      kfd ? "; /dev/kfd exists: is this user in the 'render' and 'video' groups?"
                          : "; no /dev/kfd: no amdgpu kernel driver or no AMD GPU on this machine");
#else
            set_error(err, "no %s (%sGetDeviceCount: %s)", kGpu, gdn_rt::kApi, ErrorText(e).text);
#endif
            return GDN_ERR_NO_DEVICE;
        }
        if (e != gdn_rt::kSuccess) {
            (void)gdn_rt::get_last_error();
            *n = 0;
            set_error(err, "%s runtime unusable (%sGetDeviceCount: %s)", kGpu, gdn_rt::kApi, ErrorText(e).text);
            return gdn_gpu::status_of(e);
        }
        return GDN_OK;
    }

    // The build has code for the device's ISA, and the device's wavefront is the one that code was
    // compiled for. The kernels' warps are 32 lanes on every target (vendor.cuh); what must match
    // is the hardware wavefront the compiler laid the code out for (64 on gfx9, 32 on gfx10+).
    static gdn_status check_usable(int32_t device, const gdn_rt::DeviceProp& dp, gdn_errbuf err) {
        char arch[64];
        gdn_rt::device_arch(dp, arch, sizeof arch);
        const int wave = gdn_rocm::target_wave_size(arch);
        if (wave == 0) {
            set_error(err,
                      "device %d (%s, %s) is not a target of this build (it has code for %s); rebuild with "
                      "-DGDN_ROCM_TARGETS=\"...;%s\" and a ROCm whose compiler supports %s",
                      device, dp.name, arch, gdn_rocm::kTargets, arch, arch);
            return GDN_ERR_UNSUPPORTED;
        }
        if (dp.warpSize != wave) {
            set_error(err,
                      "device %d (%s, %s) runs wavefronts of %d lanes, but this build's %s code was compiled "
                      "for %d; refusing to run it",
                      device, dp.name, arch, dp.warpSize, arch, wave);
            return GDN_ERR_UNSUPPORTED;
        }
        return GDN_OK;
    }

    static void device_name(const gdn_rt::DeviceProp& dp, char* out, size_t cap) {
        char arch[64];
        gdn_rt::device_arch(dp, arch, sizeof arch);
        std::snprintf(out, cap, "%s (%s)", dp.name, arch);
    }

    // Every usable device: extend through the chunked kernel where it fits the LDS, else token by
    // token (gdn_recurrent.cuh); decode as on CUDA.
    static gdn_capabilities capabilities(const gdn_rt::DeviceProp&) { return gdn_gpu::kernel_capabilities(); }

    // The LDS one work-group may use. GDN_ROCM_LDS_LIMIT=<bytes> lowers it: the verification build
    // runs on an NVIDIA GPU with 227 KiB per block and plans as a 64 KiB AMD GPU with 65536.
    static int smem_limit(const gdn_rt::DeviceProp& dp, int device) {
        int v = 0;
        if (gdn_rt::device_attribute_smem_optin(&v, device) != gdn_rt::kSuccess) {
            (void)gdn_rt::get_last_error();
            v = static_cast<int>(dp.sharedMemPerBlock);
        }
        if (const char* env = std::getenv("GDN_ROCM_LDS_LIMIT")) {
            const long lower = std::atol(env);
            if (lower > 0 && lower < v) v = static_cast<int>(lower);
        }
        return v;
    }

    static gdn_gpu::PlanTarget plan_target(const gdn_rt::DeviceProp&) {
        gdn_gpu::PlanTarget t;
        t.env = "GDN_ROCM";  // GDN_ROCM_PREFILL, _DVS, _PREP_HEADS, _DECODE_RPW
        return t;
    }
};

constexpr gdn_plugin kTable = gdn_gpu::HostPlugin<Rocm>::table();

}  // namespace

extern "C" GDN_PLUGIN_EXPORT const gdn_plugin* gdn_plugin_entry(void) { return &kTable; }

// The CUDA backend plugin: the vendor policy of the shared GPU host (plugins/gpu/host_plugin.cuh)
// for NVIDIA GPUs. Kernels live in plugins/gpu too; the per-dtype entry points in forward_*.cu.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>

#include "../gpu/host_plugin.cuh"
#include "forward.hpp"

namespace {

using gdn_gpu::set_error;

// The CUDA runtime answers cudaErrorInsufficientDriver both when there is no driver at all and
// when the driver is older than the runtime; only the second is fixed by updating it.
void explain_insufficient_driver(gdn_errbuf err) {
    if (void* lib = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL)) {
        dlclose(lib);
    } else {
        const char* why = dlerror();
        set_error(err, "no NVIDIA driver found: libcuda.so.1 cannot be loaded (%s)", why ? why : "not found");
        return;
    }
    if (access("/dev/nvidiactl", F_OK) != 0) {
        set_error(err,
                  "no NVIDIA driver found: libcuda.so.1 is installed but /dev/nvidiactl is missing "
                  "(the NVIDIA kernel module is not loaded)");
        return;
    }
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    (void)gdn_rt::get_last_error();
    set_error(err,
              "the NVIDIA driver supports CUDA %d.%d, this plugin needs CUDA %d.%d or newer: update the driver "
              "(%s)",
              driver / 1000, driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10,
              gdn_rt::error_name(gdn_rt::kErrInsufficientDriver));
}

struct Cuda {
    static constexpr const char* kName = "cuda";
    static constexpr const char* kDescription =
        "NVIDIA GPUs (sm_80+): fused conv/gates/norm + chunked gated delta rule on tensor cores; one-launch decode";
    static constexpr int kPriority = 100;
    static constexpr const char* kBackend = "CUDA";
    static constexpr const char* kDeviceNoun = "a CUDA device";
    static constexpr gdn_gpu::KernelEntries kKernels{gdn_cuda::forward_f32, gdn_cuda::forward_bf16,
                                                     gdn_cuda::forward_f16, gdn_cuda::seq_smem_bytes,
                                                     gdn_cuda::prep_smem_bytes};

    static gdn_status count_devices(int* n, gdn_errbuf err) {
        *n = 0;
        if (const gdn_rt::Error e = gdn_rt::device_count(n); e != gdn_rt::kSuccess) {
            *n = 0;
            (void)gdn_rt::get_last_error();
            if (e == gdn_rt::kErrInsufficientDriver)
                explain_insufficient_driver(err);
            else
                set_error(err, "%s", gdn_rt::error_string(e));
            return gdn_gpu::status_of(e);
        }
        if (*n <= 0) {
            *n = 0;
            set_error(err, "no CUDA device");
            return GDN_ERR_NO_DEVICE;
        }
        return GDN_OK;
    }

    // Any device the runtime lists: one older than sm_80 gets empty capabilities instead.
    static gdn_status check_usable(int32_t, const gdn_rt::DeviceProp&, gdn_errbuf) { return GDN_OK; }

    static void device_name(const gdn_rt::DeviceProp& dp, char* out, size_t cap) {
        std::snprintf(out, cap, "%s", dp.name);
    }

    static gdn_capabilities capabilities(const gdn_rt::DeviceProp& dp) {
        if (dp.major >= 8) return gdn_gpu::kernel_capabilities();
        gdn_capabilities none{};  // the kernels are built for sm_80 and newer: nothing is supported
        none.struct_size = sizeof(none);
        return none;
    }

    static int smem_limit(const gdn_rt::DeviceProp&, int device) {
        int v = 0;
        if (gdn_rt::device_attribute_smem_optin(&v, device) != gdn_rt::kSuccess) (void)gdn_rt::get_last_error();
        return v;
    }

    static gdn_gpu::PlanTarget plan_target(const gdn_rt::DeviceProp& dp) {
        gdn_gpu::PlanTarget t;
        t.env = "GDN_CUDA";             // GDN_CUDA_PREFILL, _DVS, _PREP_HEADS, _DECODE_RPW, _OVERLAP
        t.can_overlap = dp.major >= 9;  // programmatic dependent launch: Hopper and newer
        t.seq_producers = true;         // the sequential pass's producer warps (gdn_prefill.cuh)
        return t;
    }
};

constexpr gdn_plugin kTable = gdn_gpu::HostPlugin<Cuda>::table();

}  // namespace

extern "C" GDN_PLUGIN_EXPORT const gdn_plugin* gdn_plugin_entry(void) { return &kTable; }

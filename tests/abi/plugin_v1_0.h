/*
 * FROZEN: gdn/plugin.h as it was at ABI 1.0, copied verbatim. Never edit this file. Test plugins
 * compiled against it prove that every later host still loads an ABI 1.0 plugin, and
 * tests/abi/layout_*.c prove that the live header keeps every 1.0 field at its 1.0 offset.
 */
/*
 * gdn/plugin.h — the C interface between the gdn host and a backend plugin.
 *
 * This is the only header a plugin needs. It is plain C (C11 or any C++), depends on nothing
 * but <stddef.h> and <stdint.h>, and is the whole contract: a plugin never sees a C++ type of
 * the host and the host never sees one of the plugin.
 *
 * Shape
 *   A plugin is a shared library that exports exactly one symbol, `gdn_plugin_entry`
 *   (see GDN_PLUGIN_ENTRY_SYMBOL). The host calls it once after loading; it returns a pointer
 *   to a static, immutable `gdn_plugin` table of function pointers, valid until unload.
 *
 * Versioning (two axes)
 *   - GDN_ABI_MAJOR must be equal in host and plugin; a different major is refused at load.
 *   - GDN_ABI_MINOR only grows. A new minor may append fields to the end of a struct or slots to
 *     the end of a table, never reorder, resize or remove. Every struct that crosses the boundary
 *     starts with its own size (`struct_size`), so each side reads only the prefix both know:
 *     a newer host reads an older plugin's shorter table (and treats absent optional slots as
 *     NULL), and an older host reads the prefix it knows of a newer plugin's table.
 *   - Required slots are listed in gdn_plugin; the host refuses a plugin that leaves one NULL.
 *
 * Errors
 *   Every fallible call returns a gdn_status and, on failure, writes a NUL-terminated message
 *   into the caller's buffer (`gdn_errbuf`), truncating to its capacity. Nothing is allocated on
 *   one side and freed on the other. No C++ exception, longjmp or abort() crosses the boundary.
 *
 * Threading and lifetime (what a plugin must guarantee)
 *   - All slots may be called from any host thread. Calls on different streams may run
 *     concurrently; calls on one stream are serialized by the host.
 *   - `shutdown` is called once before unload, after every stream and allocation made through
 *     the plugin was released. It must stop every thread the plugin started (thread pools,
 *     runtime helper threads) so the library can be unmapped safely.
 *   - A plugin never keeps a pointer to host memory after the call that passed it returns.
 */
#ifndef GDN_PLUGIN_H
#define GDN_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GDN_ABI_MAJOR 1
#define GDN_ABI_MINOR 0

/* The one symbol a plugin exports. */
#define GDN_PLUGIN_ENTRY_SYMBOL "gdn_plugin_entry"

#if defined(_WIN32)
#define GDN_PLUGIN_EXPORT __declspec(dllexport)
#else
#define GDN_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* ---- status and messages ------------------------------------------------------------------- */

typedef enum gdn_status {
    GDN_OK = 0,
    GDN_ERR_INVALID_ARGUMENT = 1, /* the caller passed something the contract forbids */
    GDN_ERR_UNSUPPORTED = 2,      /* valid, but outside this backend's declared capabilities */
    GDN_ERR_OUT_OF_MEMORY = 3,    /* host or device allocation failed */
    GDN_ERR_NO_DEVICE = 4,        /* the runtime works but sees no device of this kind */
    GDN_ERR_DRIVER = 5,           /* driver missing or too old for the runtime */
    GDN_ERR_RUNTIME = 6,          /* a device runtime call failed (launch, copy, sync) */
    GDN_ERR_INTERNAL = 7          /* a bug in the plugin */
} gdn_status;

/* Caller-owned message buffer. A plugin writes at most `capacity` bytes, NUL included. */
typedef struct gdn_errbuf {
    char* text;
    size_t capacity;
} gdn_errbuf;

/* ---- data types and tensors ---------------------------------------------------------------- */

typedef enum gdn_dtype {
    GDN_DTYPE_F32 = 0,
    GDN_DTYPE_BF16 = 1,
    GDN_DTYPE_F16 = 2,
    GDN_DTYPE_I32 = 3,
    GDN_DTYPE_I64 = 4
} gdn_dtype;

#define GDN_MAX_RANK 6

/* A strided view of memory that lives on the plugin's device (host memory for a CPU plugin).
 * Strides are in elements, not bytes. Dimensions past `rank` are ignored. */
typedef struct gdn_tensor {
    void* data;
    int32_t dtype; /* gdn_dtype */
    int32_t rank;
    int64_t shape[GDN_MAX_RANK];
    int64_t strides[GDN_MAX_RANK];
} gdn_tensor;

/* ---- devices ------------------------------------------------------------------------------- */

typedef enum gdn_device_kind { GDN_DEVICE_CPU = 0, GDN_DEVICE_GPU = 1, GDN_DEVICE_OTHER = 2 } gdn_device_kind;

typedef struct gdn_device_properties {
    uint32_t struct_size;
    int32_t kind;          /* gdn_device_kind */
    char name[128];        /* e.g. "NVIDIA H100 80GB HBM3" */
    uint64_t memory_bytes; /* device memory; host RAM for a CPU backend */
    int32_t compute_units; /* SMs, CUs or CPU threads available */
    int32_t compute_major; /* compute capability or ISA generation; 0 when meaningless */
    int32_t compute_minor;
    int32_t warp_size;       /* SIMD width the kernels are built for; 1 for CPU */
    int32_t host_accessible; /* 1 when the host can dereference device pointers (CPU) */
} gdn_device_properties;

/* ---- capabilities: exact, the conformance suite holds a plugin to them --------------------- */

/* A set of sizes {min, min + multiple, ..., <= max}. */
typedef struct gdn_size_range {
    int32_t min;
    int32_t max;
    int32_t multiple;
} gdn_size_range;

typedef enum gdn_mode {
    GDN_MODE_EXTEND = 0, /* packed variable-length prefill, any lengths >= 0 */
    GDN_MODE_DECODE = 1, /* exactly one token per request */
    GDN_MODE_MIXED = 2   /* both in one call: every request has its own length >= 0 */
} gdn_mode;

typedef struct gdn_capabilities {
    uint32_t struct_size;
    uint32_t activation_dtypes; /* bit (1u << gdn_dtype) per supported activation dtype */
    gdn_size_range head_k_dim;  /* Dk */
    gdn_size_range head_v_dim;  /* Dv */
    uint32_t conv_kernels;      /* bit (1u << Kc) per supported conv width */
    uint32_t gva_ratios;        /* bit (1u << (HV/H)) per supported ratio, ratios 1..31 */
    uint32_t modes;             /* bit (1u << gdn_mode) per supported mode */
    int32_t deterministic;      /* 1: the same call twice gives bitwise-equal results */
} gdn_capabilities;

/* ---- streams and copies -------------------------------------------------------------------- */

/* Opaque per-device execution queue owned by the plugin (a CUDA stream, a CPU task arena). */
typedef struct gdn_stream_impl* gdn_stream;

typedef struct gdn_stream_options {
    uint32_t struct_size;
    int32_t num_threads; /* CPU backends: worker threads for this stream; 0 = all available */
} gdn_stream_options;

typedef enum gdn_copy_kind {
    GDN_COPY_HOST_TO_DEVICE = 0,
    GDN_COPY_DEVICE_TO_HOST = 1,
    GDN_COPY_DEVICE_TO_DEVICE = 2
} gdn_copy_kind;

/* ---- the layer call ------------------------------------------------------------------------ */

/*
 * One GDN layer over a batch of B requests and T packed tokens (see the golden README for the
 * exact function). Every tensor lives on the stream's device. The host has validated shapes,
 * dtypes, strides, index ranges and duplicates before the call; a plugin may still refuse with
 * GDN_ERR_UNSUPPORTED (outside its capabilities) but must then write nothing.
 *
 * conv_dim = 2*H*Dk + HV*Dv.
 *   mixed_qkv        [T, conv_dim]            activation dtype, last stride 1
 *   a, b             [T, HV]                  activation dtype
 *   conv_weight      [conv_dim, Kc]           activation dtype
 *   A_log, dt_bias   [HV]                     f32
 *   cu_seqlens       [B+1]                    i64, cu_seqlens[0] = 0, non-decreasing, [B] = T
 *   slots            [B]                      i64, pool slot of each request
 *   recurrent_state  [num_slots, HV, Dv, Dk]  f32, this layer's slice of the pool, read/written
 *   conv_state       [num_slots, conv_dim, Kc-1] activation dtype, read/written
 *   out              [T, HV*Dv]               activation dtype, written
 *
 * Layout the host guarantees (a plugin may rely on it): the last dimension of every tensor has
 * stride 1; every tensor is packed except the row (first-dimension) stride of mixed_qkv, a and b
 * (views into a wider projection output) and the slot stride of recurrent_state and conv_state
 * (a layer's slice of a pool holding all layers). Within a slot the state is packed.
 * The request of row t is the r with cu_seqlens[r] <= t < cu_seqlens[r+1].
 *
 * Requests whose slot equals `padding_slot` are padding: their state is neither read nor
 * written and their output rows are written as zeros. Each other slot appears at most once.
 * Index tensors live on the device so that a decode step can be captured in a device graph;
 * `host_cu_seqlens` and `host_slots` are host copies of the same values (never NULL) for
 * plugins that plan work on the host. They are valid only during the call.
 */
typedef struct gdn_forward_args {
    uint32_t struct_size;
    int32_t mode; /* gdn_mode: a hint; the lengths in cu_seqlens are authoritative */
    int32_t num_k_heads;
    int32_t num_v_heads;
    int32_t head_k_dim;
    int32_t head_v_dim;
    int32_t conv_kernel;
    int32_t activation_dtype; /* gdn_dtype */
    int64_t num_tokens;
    int64_t num_requests;
    int64_t padding_slot; /* -1 when the pool has none */

    gdn_tensor mixed_qkv;
    gdn_tensor a;
    gdn_tensor b;
    gdn_tensor conv_weight;
    gdn_tensor A_log;
    gdn_tensor dt_bias;
    gdn_tensor cu_seqlens;
    gdn_tensor slots;
    gdn_tensor recurrent_state;
    gdn_tensor conv_state;
    gdn_tensor out;

    const int64_t* host_cu_seqlens;
    const int64_t* host_slots;
} gdn_forward_args;

/* ---- the table ----------------------------------------------------------------------------- */

typedef struct gdn_plugin {
    uint32_t struct_size; /* sizeof(gdn_plugin) as the plugin was compiled */
    uint32_t abi_major;   /* GDN_ABI_MAJOR the plugin was compiled against */
    uint32_t abi_minor;   /* GDN_ABI_MINOR the plugin was compiled against */
    const char* name;     /* backend name, lower case, [a-z0-9_-], e.g. "cpu", "cuda" */
    const char* version;  /* plugin version, free text, e.g. "0.1.0" */
    const char* description;
    int32_t priority; /* automatic choice takes the highest priority that has a device */

    /* Required. Start the plugin's runtime; probe the driver. A failure is a load-report
     * reason (e.g. GDN_ERR_DRIVER "CUDA driver version is insufficient ..."). */
    gdn_status (*init)(gdn_errbuf err);
    /* Required. Stop every thread and release the runtime; the library is unloaded next. */
    void (*shutdown)(void);

    /* Required. Number of usable devices (0 is a valid answer, with GDN_ERR_NO_DEVICE). */
    gdn_status (*device_count)(int32_t* count, gdn_errbuf err);
    /* Required. Properties of device `device`; caller sets props->struct_size. */
    gdn_status (*device_properties)(int32_t device, gdn_device_properties* props, gdn_errbuf err);
    /* Required. Exact capabilities of device `device`; caller sets caps->struct_size. */
    gdn_status (*device_capabilities)(int32_t device, gdn_capabilities* caps, gdn_errbuf err);

    /* Required. Create / destroy an execution stream on `device`. `options` may be NULL. */
    gdn_status (*stream_create)(int32_t device, const gdn_stream_options* options, gdn_stream* out, gdn_errbuf err);
    gdn_status (*stream_destroy)(gdn_stream stream, gdn_errbuf err);
    /* Required. Block until all work queued on `stream` is finished. */
    gdn_status (*stream_synchronize)(gdn_stream stream, gdn_errbuf err);

    /* Required. Device memory, aligned to at least 256 bytes. */
    gdn_status (*mem_alloc)(int32_t device, size_t bytes, void** out, gdn_errbuf err);
    gdn_status (*mem_free)(int32_t device, void* ptr, gdn_errbuf err);
    /* Required. Copies and fills queued on `stream`; host memory must stay valid until the
     * stream is synchronized. */
    gdn_status (*mem_copy)(gdn_stream stream, void* dst, const void* src, size_t bytes,
                           int32_t kind /* gdn_copy_kind */, gdn_errbuf err);
    gdn_status (*mem_set)(gdn_stream stream, void* dst, int32_t byte_value, size_t bytes, gdn_errbuf err);

    /* Required. Run one GDN layer (see gdn_forward_args), queued on `stream`. */
    gdn_status (*forward_gdn)(gdn_stream stream, const gdn_forward_args* args, gdn_errbuf err);
} gdn_plugin;

/* The prefix every plugin table of ABI 1.x has (the ABI 1.0 table, through forward_gdn): a host
 * refuses tables shorter than this. Fixed for all of 1.x; later minors append after it. */
#define GDN_PLUGIN_MIN_SIZE_V1_0 \
    (offsetof(gdn_plugin, forward_gdn) + sizeof(gdn_status(*)(gdn_stream, const gdn_forward_args*, gdn_errbuf)))

/* The entry point. Returns NULL only if the plugin cannot describe itself at all. */
typedef const gdn_plugin* (*gdn_plugin_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GDN_PLUGIN_H */

// Export and import of one slot's state as a blob (format: gdn/slot_transfer.hpp).
#include "gdn/slot_transfer.hpp"

#include <array>
#include <bit>
#include <cstdio>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace gdn {

static_assert(std::endian::native == std::endian::little,
              "the blob stores integers and state values little-endian, as this host does");

namespace {

constexpr char kMagic[8] = {'G', 'D', 'N', 'S', 'L', 'O', 'T', '\0'};
constexpr std::size_t kChecksumOffset = 80;

// Slice-by-8 tables of the reflected Castagnoli polynomial.
struct Crc32cTables {
    std::array<std::array<uint32_t, 256>, 8> t{};
    constexpr Crc32cTables() {
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
            t[0][i] = c;
        }
        for (std::size_t k = 1; k < 8; ++k)
            for (std::size_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
    }
};
constexpr Crc32cTables kCrc{};

uint32_t get32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
uint64_t get64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
void put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

std::string hex32(uint32_t v) {
    char text[16];
    std::snprintf(text, sizeof text, "0x%08x", v);
    return text;
}

[[noreturn]] void refuse(SlotBlobProblem p, const std::string& what) { throw SlotBlobError(p, "blob: " + what); }

// The blob's checksum: the header with its checksum field as 0, then the payload.
uint32_t blob_checksum(const uint8_t* data, std::size_t size) {
    uint8_t header[kSlotBlobHeaderBytes];
    std::memcpy(header, data, kSlotBlobHeaderBytes);
    put32(header + kChecksumOffset, 0);
    const uint32_t crc = crc32c(header, kSlotBlobHeaderBytes);
    return crc32c(data + kSlotBlobHeaderBytes, size - kSlotBlobHeaderBytes, crc);
}

std::string dims_string(int layers, int h, int hv, int dk, int dv, int kc) {
    return "layers=" + std::to_string(layers) + " H=" + std::to_string(h) + " HV=" + std::to_string(hv) +
           " Dk=" + std::to_string(dk) + " Dv=" + std::to_string(dv) + " Kc=" + std::to_string(kc);
}

// A layer's state view and the byte offset of `slot` in it.
struct SlotRegion {
    char* data;
    std::size_t bytes;
};
SlotRegion region(const TensorView& state, int64_t slot) {
    const std::size_t elem = dtype_size(state.dtype());
    const std::size_t per_slot = std::size_t(state.numel() / state.size(0)) * elem;
    return {static_cast<char*>(state.data()) + std::size_t(slot) * std::size_t(state.stride(0)) * elem, per_slot};
}

void check_slot(const GDNPool& pool, int64_t slot) {
    if (slot < 0 || slot >= pool.num_slots())
        invalid_argument("slot",
                         "a slot in 0.." + std::to_string(pool.num_slots() - 1) + ", got " + std::to_string(slot));
}

}  // namespace

const char* slot_blob_problem_name(SlotBlobProblem p) {
    switch (p) {
        case SlotBlobProblem::truncated: return "truncated";
        case SlotBlobProblem::not_a_blob: return "not a slot blob";
        case SlotBlobProblem::version: return "unknown format version";
        case SlotBlobProblem::malformed: return "malformed header";
        case SlotBlobProblem::trailing_bytes: return "trailing bytes";
        case SlotBlobProblem::corrupt: return "corrupt";
        case SlotBlobProblem::dims_mismatch: return "dims mismatch";
        case SlotBlobProblem::dtype_mismatch: return "dtype mismatch";
    }
    return "unknown";
}

namespace {

#if defined(__x86_64__)
// SSE4.2's crc32 instruction computes exactly this CRC, 8 bytes at a time (the portable loop below
// is several times slower); chosen at run time, since the x86-64 baseline lacks SSE4.2.
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(const uint8_t* p, std::size_t size, uint32_t crc) {
    uint64_t c = ~crc;
    for (; size >= 8; size -= 8, p += 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
    }
    auto c32 = uint32_t(c);
    for (; size > 0; --size, ++p) c32 = _mm_crc32_u8(c32, *p);
    return ~c32;
}
const bool kHaveSse42 = (__builtin_cpu_init(), __builtin_cpu_supports("sse4.2"));
#endif

}  // namespace

uint32_t crc32c(const void* data, std::size_t size, uint32_t crc) {
#if defined(__x86_64__)
    if (kHaveSse42) return crc32c_sse42(static_cast<const uint8_t*>(data), size, crc);
#endif
    return crc32c_portable(data, size, crc);
}

uint32_t crc32c_portable(const void* data, std::size_t size, uint32_t crc) {
    const auto* p = static_cast<const uint8_t*>(data);
    const auto& t = kCrc.t;
    crc = ~crc;
    for (; size >= 8; size -= 8, p += 8) {
        const uint32_t lo = get32(p) ^ crc, hi = get32(p + 4);
        crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][hi & 0xFF] ^
              t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    }
    for (; size > 0; --size, ++p) crc = (crc >> 8) ^ t[0][(crc ^ *p) & 0xFF];
    return ~crc;
}

SlotBlobInfo read_slot_blob(const uint8_t* data, std::size_t size) {
    if (data == nullptr && size > 0) invalid_argument("blob", "non-null data");
    if (size < kSlotBlobHeaderBytes)
        refuse(SlotBlobProblem::truncated, "truncated: " + std::to_string(size) + " bytes, shorter than the " +
                                               std::to_string(kSlotBlobHeaderBytes) + "-byte header");
    if (std::memcmp(data, kMagic, sizeof kMagic) != 0)
        refuse(SlotBlobProblem::not_a_blob, "not a gdn slot blob (no \"GDNSLOT\" magic)");
    SlotBlobInfo info;
    info.version = get32(data + 8);
    if (info.version != kSlotBlobVersion)
        refuse(SlotBlobProblem::version, "format version " + std::to_string(info.version) +
                                             ", this build reads version " + std::to_string(kSlotBlobVersion));
    const uint32_t header_bytes = get32(data + 12);
    if (header_bytes != kSlotBlobHeaderBytes)
        refuse(SlotBlobProblem::malformed, "header of " + std::to_string(header_bytes) + " bytes, version 1 has " +
                                               std::to_string(kSlotBlobHeaderBytes));
    info.layout = get32(data + 16);
    if (info.layout != kSlotBlobLayout)
        refuse(SlotBlobProblem::malformed, "layout " + std::to_string(info.layout) + ", this build reads layout " +
                                               std::to_string(kSlotBlobLayout));
    if (get32(data + 52) != 0 || get32(data + 84) != 0 || get64(data + 88) != 0)
        refuse(SlotBlobProblem::malformed, "reserved header bytes not zero");

    // Dimensions: positive and small enough that every product below stays far from overflow
    // (each state's per-layer size then fits in 2^62 bytes).
    const uint32_t dims[6] = {get32(data + 20), get32(data + 24), get32(data + 28),
                              get32(data + 32), get32(data + 36), get32(data + 40)};
    static const char* const names[6] = {"num_layers", "num_k_heads", "num_v_heads",
                                         "head_k_dim", "head_v_dim",  "conv_kernel"};
    for (int i = 0; i < 6; ++i)
        if (dims[i] < 1 || dims[i] > (1u << 20))
            refuse(SlotBlobProblem::malformed,
                   std::string(names[i]) + " " + std::to_string(dims[i]) + " outside 1..2^20");
    info.num_layers = int(dims[0]);
    info.num_k_heads = int(dims[1]);
    info.num_v_heads = int(dims[2]);
    info.head_k_dim = int(dims[3]);
    info.head_v_dim = int(dims[4]);
    info.conv_kernel = int(dims[5]);
    if (info.conv_kernel < 2 || info.num_v_heads % info.num_k_heads != 0)
        refuse(SlotBlobProblem::malformed, "dims " +
                                               dims_string(info.num_layers, info.num_k_heads, info.num_v_heads,
                                                           info.head_k_dim, info.head_v_dim, info.conv_kernel) +
                                               " describe no GDN layer");
    const uint32_t act = get32(data + 44), state = get32(data + 48);
    for (const uint32_t code : {act, state})
        if (code > uint32_t(GDN_DTYPE_F16))
            refuse(SlotBlobProblem::malformed,
                   "dtype code " + std::to_string(code) + ", expected f32 (0), bf16 (1) or f16 (2)");
    info.activation_dtype = DType(int32_t(act));
    info.state_dtype = DType(int32_t(state));

    info.recurrent_bytes_per_layer = get64(data + 56);
    info.conv_bytes_per_layer = get64(data + 64);
    info.payload_bytes = get64(data + 72);
    const uint64_t conv_dim = 2ull * dims[1] * dims[3] + uint64_t(dims[2]) * dims[4];
    const uint64_t want_recurrent = uint64_t(dims[2]) * dims[4] * dims[3] * dtype_size(info.state_dtype);
    const uint64_t want_conv = conv_dim * (dims[5] - 1) * dtype_size(info.activation_dtype);
    if (info.recurrent_bytes_per_layer != want_recurrent || info.conv_bytes_per_layer != want_conv)
        refuse(SlotBlobProblem::malformed, "per-layer sizes " + std::to_string(info.recurrent_bytes_per_layer) + " + " +
                                               std::to_string(info.conv_bytes_per_layer) + " bytes, the dims give " +
                                               std::to_string(want_recurrent) + " + " + std::to_string(want_conv));
    const unsigned __int128 want_payload = (unsigned __int128)(want_recurrent + want_conv) * dims[0];
    if (want_payload != info.payload_bytes)
        refuse(SlotBlobProblem::malformed, "payload of " + std::to_string(info.payload_bytes) +
                                               " bytes, the dims give " + std::to_string(uint64_t(want_payload)));
    const uint64_t have = size - kSlotBlobHeaderBytes;
    if (have < info.payload_bytes)
        refuse(SlotBlobProblem::truncated, "truncated: " + std::to_string(size) + " bytes, the header announces " +
                                               std::to_string(kSlotBlobHeaderBytes + info.payload_bytes));
    if (have > info.payload_bytes)
        refuse(SlotBlobProblem::trailing_bytes, std::to_string(size) + " bytes, " +
                                                    std::to_string(have - info.payload_bytes) +
                                                    " more than the header announces");
    const uint32_t stored = get32(data + kChecksumOffset), computed = blob_checksum(data, size);
    if (stored != computed)
        refuse(SlotBlobProblem::corrupt,
               "checksum mismatch (corrupt blob): stored " + hex32(stored) + ", computed " + hex32(computed));
    return info;
}

std::size_t slot_blob_size(const GDNPool& pool) {
    return kSlotBlobHeaderBytes + std::size_t(pool.config().num_layers) *
                                      (region(pool.recurrent_state(0), 0).bytes + region(pool.conv_state(0), 0).bytes);
}

void export_slot(const GDNPool& pool, int64_t slot, uint8_t* out, std::size_t size) {
    check_slot(pool, slot);
    if (size != slot_blob_size(pool))
        invalid_argument("size", "slot_blob_size(pool) = " + std::to_string(slot_blob_size(pool)) + " bytes, got " +
                                     std::to_string(size));
    if (out == nullptr) invalid_argument("out", "non-null memory");
    const PoolConfig& c = pool.config();
    const TensorView rec0 = pool.recurrent_state(0), conv0 = pool.conv_state(0);
    const std::size_t rb = region(rec0, 0).bytes, cb = region(conv0, 0).bytes;
    uint8_t* h = out;
    std::memset(h, 0, kSlotBlobHeaderBytes);
    std::memcpy(h, kMagic, sizeof kMagic);
    put32(h + 8, kSlotBlobVersion);
    put32(h + 12, uint32_t(kSlotBlobHeaderBytes));
    put32(h + 16, kSlotBlobLayout);
    put32(h + 20, uint32_t(c.num_layers));
    put32(h + 24, uint32_t(c.num_k_heads));
    put32(h + 28, uint32_t(c.num_v_heads));
    put32(h + 32, uint32_t(c.head_k_dim));
    put32(h + 36, uint32_t(c.head_v_dim));
    put32(h + 40, uint32_t(c.conv_kernel));
    put32(h + 44, uint32_t(conv0.dtype()));
    put32(h + 48, uint32_t(rec0.dtype()));
    put64(h + 56, rb);
    put64(h + 64, cb);
    put64(h + 72, uint64_t(c.num_layers) * (rb + cb));

    Stream& s = pool.backend().default_stream();
    uint8_t* payload = h + kSlotBlobHeaderBytes;
    for (int l = 0; l < c.num_layers; ++l) {
        const SlotRegion r = region(pool.recurrent_state(l), slot), v = region(pool.conv_state(l), slot);
        s.copy(payload, r.data, r.bytes, GDN_COPY_DEVICE_TO_HOST);
        s.copy(payload + rb, v.data, v.bytes, GDN_COPY_DEVICE_TO_HOST);
        payload += rb + cb;
    }
    s.synchronize();
    put32(h + kChecksumOffset, blob_checksum(out, size));
}

std::vector<uint8_t> export_slot(const GDNPool& pool, int64_t slot) {
    check_slot(pool, slot);
    std::vector<uint8_t> blob(slot_blob_size(pool));
    export_slot(pool, slot, blob.data(), blob.size());
    return blob;
}

void import_slot(GDNPool& pool, int64_t slot, const uint8_t* data, std::size_t size) {
    check_slot(pool, slot);
    const SlotBlobInfo info = read_slot_blob(data, size);
    const PoolConfig& c = pool.config();
    if (info.num_layers != c.num_layers || info.num_k_heads != c.num_k_heads || info.num_v_heads != c.num_v_heads ||
        info.head_k_dim != c.head_k_dim || info.head_v_dim != c.head_v_dim || info.conv_kernel != c.conv_kernel)
        refuse(SlotBlobProblem::dims_mismatch,
               "a slot of " +
                   dims_string(info.num_layers, info.num_k_heads, info.num_v_heads, info.head_k_dim, info.head_v_dim,
                               info.conv_kernel) +
                   ", the pool has " +
                   dims_string(c.num_layers, c.num_k_heads, c.num_v_heads, c.head_k_dim, c.head_v_dim, c.conv_kernel));
    const DType pool_state = pool.recurrent_state(0).dtype(), pool_act = pool.conv_state(0).dtype();
    if (info.state_dtype != pool_state)
        refuse(SlotBlobProblem::dtype_mismatch, std::string("recurrent state dtype ") + dtype_name(info.state_dtype) +
                                                    ", the pool stores " + dtype_name(pool_state));
    if (info.activation_dtype != pool_act)
        refuse(SlotBlobProblem::dtype_mismatch, std::string("activation (conv state) dtype ") +
                                                    dtype_name(info.activation_dtype) + ", the pool's is " +
                                                    dtype_name(pool_act));

    Stream& s = pool.backend().default_stream();
    const uint8_t* in = data + kSlotBlobHeaderBytes;
    for (int l = 0; l < c.num_layers; ++l) {
        const SlotRegion r = region(pool.recurrent_state(l), slot), v = region(pool.conv_state(l), slot);
        s.copy(r.data, in, r.bytes, GDN_COPY_HOST_TO_DEVICE);
        s.copy(v.data, in + r.bytes, v.bytes, GDN_COPY_HOST_TO_DEVICE);
        in += r.bytes + v.bytes;
    }
    s.synchronize();
}

}  // namespace gdn

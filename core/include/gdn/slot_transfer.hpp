// Slot transfer: one slot's state (every layer) as a self-describing byte blob, and back into a
// slot of another pool: on another backend, in another process, after a trip through a file or
// a socket (prefill/decode disaggregation, moving a request between pools).
//
// Blob format, version 1 (every integer little-endian):
//
//   offset  bytes  field
//        0      8  magic "GDNSLOT\0"
//        8      4  format version (1)
//       12      4  header bytes (96)
//       16      4  layout (1: per layer, the recurrent state [HV, Dv, Dk] with Dk contiguous, then
//                  the conv state [conv_dim, Kc - 1] oldest tap first; layers in index order)
//       20      4  num_layers
//       24      4  num_k_heads (H)
//       28      4  num_v_heads (HV)
//       32      4  head_k_dim (Dk)
//       36      4  head_v_dim (Dv)
//       40      4  conv_kernel (Kc)
//       44      4  activation dtype (gdn_dtype: the conv state's element type)
//       48      4  recurrent state dtype (gdn_dtype)
//       52      4  reserved, 0
//       56      8  recurrent state bytes per layer (HV * Dv * Dk * its dtype's size)
//       64      8  conv state bytes per layer (conv_dim * (Kc - 1) * its dtype's size)
//       72      8  payload bytes (num_layers * (the two above)); the blob is 96 + this long
//       80      4  checksum: CRC-32C (Castagnoli) of the whole blob with this field read as 0
//       84     12  reserved, 0
//       96         payload: each state's bytes exactly as the pool stores them (IEEE values,
//                  little-endian), so a transfer is bit-exact
//
// A blob is imported only into a pool of the same layer count, heads, head dims, conv width,
// activation dtype and state dtype; anything else, and any truncated, corrupt or unknown blob,
// is a SlotBlobError naming the problem, raised before anything is written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gdn/dtype.hpp"
#include "gdn/error.hpp"
#include "gdn/export.hpp"
#include "gdn/pool.hpp"

namespace gdn {

inline constexpr uint32_t kSlotBlobVersion = 1;
inline constexpr uint32_t kSlotBlobLayout = 1;
inline constexpr std::size_t kSlotBlobHeaderBytes = 96;

// What a blob describes (its header, checked).
struct SlotBlobInfo {
    uint32_t version = kSlotBlobVersion;
    uint32_t layout = kSlotBlobLayout;
    int num_layers = 0, num_k_heads = 0, num_v_heads = 0, head_k_dim = 0, head_v_dim = 0, conv_kernel = 0;
    DType activation_dtype = DType::f32;
    DType state_dtype = DType::f32;
    uint64_t recurrent_bytes_per_layer = 0, conv_bytes_per_layer = 0;
    uint64_t payload_bytes = 0;
};

// Why a blob was refused: an engine can tell a blob from an incompatible pool (mismatch: a
// deployment error) from one damaged on its way (truncated, corrupt: retry the transfer).
enum class SlotBlobProblem {
    truncated,       // shorter than its header or than the payload the header announces
    not_a_blob,      // no "GDNSLOT" magic
    version,         // a format version this build does not read
    malformed,       // header fields inconsistent or unknown (layout, sizes, dtypes, reserved bytes)
    trailing_bytes,  // longer than the header announces
    corrupt,         // checksum mismatch
    dims_mismatch,   // layers, heads, head dims or conv width differ from the pool's
    dtype_mismatch,  // activation or state dtype differs from the pool's
};
GDN_API const char* slot_blob_problem_name(SlotBlobProblem p);

class GDN_API SlotBlobError : public Error {
public:
    SlotBlobError(SlotBlobProblem problem, const std::string& message)
        : Error(GDN_ERR_INVALID_ARGUMENT, message), problem_(problem) {}
    SlotBlobProblem problem() const noexcept { return problem_; }

private:
    SlotBlobProblem problem_;
};

// Slot `slot` (not the padding slot) of every layer of `pool`, as a blob.
GDN_API std::vector<uint8_t> export_slot(const GDNPool& pool, int64_t slot);
// The same into memory the caller owns (a reused, pinned or network-registered buffer), of
// exactly slot_blob_size(pool) bytes.
GDN_API void export_slot(const GDNPool& pool, int64_t slot, uint8_t* out, std::size_t size);
GDN_API std::size_t slot_blob_size(const GDNPool& pool);
// Checks the blob (header, sizes, checksum, then against the pool) and writes it into `slot` of
// every layer. Throws SlotBlobError (or Error for a slot out of range) before writing anything.
GDN_API void import_slot(GDNPool& pool, int64_t slot, const uint8_t* data, std::size_t size);
inline void import_slot(GDNPool& pool, int64_t slot, const std::vector<uint8_t>& blob) {
    import_slot(pool, slot, blob.data(), blob.size());
}
// The header of a blob, after every check that needs no pool (size, magic, version, layout,
// consistency, checksum). Throws SlotBlobError.
GDN_API SlotBlobInfo read_slot_blob(const uint8_t* data, std::size_t size);

// CRC-32C (Castagnoli, reflected, initial and final value 0xFFFFFFFF) of `size` bytes: the blob's
// checksum. crc32c("123456789") = 0xE3069283.
// Uses the CPU's crc32 instruction where it has one (x86-64 with SSE4.2), crc32c_portable
// otherwise: the same function, computed with tables.
GDN_API uint32_t crc32c(const void* data, std::size_t size, uint32_t crc = 0);
GDN_API uint32_t crc32c_portable(const void* data, std::size_t size, uint32_t crc = 0);

}  // namespace gdn

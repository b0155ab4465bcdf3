// Fuzz target: import of a slot blob (gdn/slot_transfer.hpp) into a small pool of the CPU backend.
//
// Input: one control byte, then the blob. Control bit 0 reseals the blob's checksum before the
// import, so that mutations reach the checks after it and the copy into the pool; bits 1-2 pick
// the pool: the geometry of the seed blobs, or one of other layer count, heads or activation dtype.
//
// Properties:
//   - the only exception the API throws is gdn::SlotBlobError (a gdn::Error);
//   - read_slot_blob and import_slot agree: the same blob is refused for the same problem by both,
//     or a mismatch with the pool is the reason import_slot refuses a blob read_slot_blob takes;
//   - a refused import leaves the pool bit-identical;
//   - an accepted import round-trips: exporting the slot gives back exactly the blob.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "gdn/error.hpp"
#include "gdn/pool.hpp"
#include "gdn/registry.hpp"
#include "gdn/slot_transfer.hpp"

using namespace gdn;

namespace {

const Backend& cpu() {
    static const Registry reg({GDN_FUZZ_CPU_PLUGIN});
    static const Backend be = reg.open("cpu");
    return be;
}

// The seed blobs' geometry (tests/fuzz/make_seeds.py): 2 layers, H=1, HV=2, Dk=Dv=4, Kc=3, bf16.
PoolConfig config(int variant) {
    PoolConfig pc;
    pc.num_layers = 2;
    pc.num_slots = 2;
    pc.num_k_heads = 1;
    pc.num_v_heads = 2;
    pc.head_k_dim = 4;
    pc.head_v_dim = 4;
    pc.conv_kernel = 3;
    pc.activation_dtype = DType::bf16;
    if (variant == 1) pc.num_layers = 3;
    if (variant == 2) pc.num_v_heads = 4;
    if (variant == 3) pc.activation_dtype = DType::f16;
    return pc;
}

GDNPool& pool(int variant) {
    static GDNPool* pools[4] = {};
    if (!pools[variant]) pools[variant] = new GDNPool(cpu(), config(variant));  // lives for the process
    return *pools[variant];
}

std::optional<SlotBlobProblem> problem_of(const auto& call) {
    try {
        call();
        return std::nullopt;
    } catch (const SlotBlobError& e) {
        return e.problem();
    } catch (const Error&) {
        std::abort();  // a blob problem that is not a SlotBlobError
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint8_t control = data[0];
    std::vector<uint8_t> blob(data + 1, data + size);
    if ((control & 1) && blob.size() >= kSlotBlobHeaderBytes) {
        std::memset(blob.data() + 80, 0, 4);
        const uint32_t crc = crc32c(blob.data(), blob.size());
        std::memcpy(blob.data() + 80, &crc, 4);
    }
    GDNPool& p = pool((control >> 1) & 3);
    const int64_t slot = (control >> 3) & 1;
    const std::vector<uint8_t> before = p.snapshot();

    const auto read = problem_of([&] { (void)read_slot_blob(blob.data(), blob.size()); });
    const auto imported = problem_of([&] { import_slot(p, slot, blob); });
    if (read) {
        if (imported != read) std::abort();  // import must refuse for the same reason
    } else if (imported && *imported != SlotBlobProblem::dims_mismatch &&
               *imported != SlotBlobProblem::dtype_mismatch) {
        std::abort();  // a readable blob is refused only for not fitting the pool
    }
    if (imported) {
        if (p.snapshot() != before) std::abort();  // a refused import wrote something
    } else if (export_slot(p, slot) != blob) {
        std::abort();  // an accepted import is not exactly the blob
    }
    return 0;
}

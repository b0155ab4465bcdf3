// Fuzz target: the safetensors reader (header length, header JSON, dtypes, shapes, offsets,
// truncated files). Any input must either parse into tensors whose byte counts match their
// shapes, or be refused with gdn::Error; nothing else may happen (crash, other exception, a
// tensor that reads past its bytes).
#include <cstdint>
#include <cstdlib>

#include "gdn/error.hpp"
#include "gdn/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    gdn::SafetensorsFile f;
    try {
        f = gdn::SafetensorsFile::parse(data, size, "fuzz");
    } catch (const gdn::Error&) {
        return 0;
    }
    for (const auto& [name, t] : f.tensors()) {
        // In 128 bits: a product that wraps around 2^64 must not pass for a match.
        const unsigned __int128 want = (unsigned __int128)uint64_t(t.numel()) * gdn::dtype_size(t.dtype);
        if (t.numel() < 0 || want != t.bytes.size()) std::abort();
        for (int64_t d : t.shape)
            if (d < 0) std::abort();
        if (t.bytes.size() <= (1u << 16)) (void)t.to_double();  // reads every element
        (void)f.at(name);
    }
    for (const auto& [key, value] : f.metadata()) {
        (void)f.meta(key);
        try {
            (void)f.meta_int(key);
        } catch (const gdn::Error&) {}
    }
    try {
        (void)f.at("mixed_qkv");
    } catch (const gdn::Error&) {}
    return 0;
}

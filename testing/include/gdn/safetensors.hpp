// A bounds-checked reader of the safetensors format: 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then raw bytes.
// Every offset, size and dtype is checked; a malformed file is an Error naming what is wrong.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gdn/dtype.hpp"
#include "gdn/export.hpp"

namespace gdn {

struct GDN_API SafetensorsTensor {
    std::string name;
    DType dtype = DType::f32;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;  // little-endian element data, packed

    int64_t numel() const;
    std::vector<double> to_double() const;  // every element as double
};

class GDN_API SafetensorsFile {
public:
    static SafetensorsFile read(const std::filesystem::path& path);
    static SafetensorsFile parse(const uint8_t* data, std::size_t size, const std::string& origin = "buffer");

    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const std::map<std::string, SafetensorsTensor>& tensors() const { return tensors_; }
    bool has(const std::string& name) const { return tensors_.count(name) != 0; }
    // Throws Error "<origin>: no tensor '<name>'".
    const SafetensorsTensor& at(const std::string& name) const;
    // Throws Error when the key is missing.
    const std::string& meta(const std::string& key) const;
    int meta_int(const std::string& key) const;

private:
    std::string origin_;
    std::map<std::string, std::string> metadata_;
    std::map<std::string, SafetensorsTensor> tensors_;
};

}  // namespace gdn

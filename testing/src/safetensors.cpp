#include "gdn/safetensors.hpp"

#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "gdn/error.hpp"

namespace gdn {

namespace {

[[noreturn]] void bad(const std::string& origin, const std::string& what) {
    throw Error(GDN_ERR_INVALID_ARGUMENT, origin + ": " + what);
}

DType parse_dtype(const std::string& origin, const std::string& name, const std::string& s) {
    if (s == "F32") return DType::f32;
    if (s == "BF16") return DType::bf16;
    if (s == "F16") return DType::f16;
    if (s == "I32") return DType::i32;
    if (s == "I64") return DType::i64;
    bad(origin, "tensor '" + name + "': dtype F32, BF16, F16, I32 or I64 expected, got '" + s + "'");
}

}  // namespace

int64_t SafetensorsTensor::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::vector<double> SafetensorsTensor::to_double() const {
    std::vector<double> v(static_cast<std::size_t>(numel()));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = load_as_double(bytes.data(), dtype, i);
    return v;
}

SafetensorsFile SafetensorsFile::read(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) bad(path.string(), "cannot open file");
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse(data.data(), data.size(), path.string());
}

SafetensorsFile SafetensorsFile::parse(const uint8_t* data, std::size_t size, const std::string& origin) {
    SafetensorsFile f;
    f.origin_ = origin;
    if (size < 8) bad(origin, "file of " + std::to_string(size) + " bytes is shorter than the 8-byte header length");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
    if (header_len > size - 8)
        bad(origin, "header length " + std::to_string(header_len) + " exceeds the file (" + std::to_string(size - 8) +
                        " bytes after the length)");
    const uint8_t* payload = data + 8 + header_len;
    const std::size_t payload_size = size - 8 - std::size_t(header_len);

    nlohmann::json header;
    try {
        header = nlohmann::json::parse(data + 8, data + 8 + header_len);
    } catch (const nlohmann::json::exception& e) {
        bad(origin, std::string("header is not valid JSON: ") + e.what());
    }
    if (!header.is_object()) bad(origin, "header must be a JSON object");

    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        const auto& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) bad(origin, "__metadata__ must be an object of strings");
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string()) bad(origin, "__metadata__['" + m.key() + "'] must be a string");
                f.metadata_[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
            bad(origin, "tensor '" + name + "': an object with dtype, shape and data_offsets expected");
        if (!v["dtype"].is_string()) bad(origin, "tensor '" + name + "': dtype must be a string");
        SafetensorsTensor t;
        t.name = name;
        t.dtype = parse_dtype(origin, name, v["dtype"].get<std::string>());
        if (!v["shape"].is_array()) bad(origin, "tensor '" + name + "': shape must be an array");
        // Overflow-safe element count: each dimension and the running product stay below 2^62.
        uint64_t numel = 1;
        for (const auto& d : v["shape"]) {
            if (!d.is_number_unsigned()) bad(origin, "tensor '" + name + "': shape entries must be integers >= 0");
            const uint64_t n = d.get<uint64_t>();
            if (n > (uint64_t(1) << 62) || (n != 0 && numel > (uint64_t(1) << 62) / n))
                bad(origin, "tensor '" + name + "': shape too large");
            numel *= n;
            t.shape.push_back(int64_t(n));
        }
        // The byte count must not wrap around: 2^61 elements of 8 bytes would pass for 0 bytes.
        if (numel > (uint64_t(1) << 62) / dtype_size(t.dtype)) bad(origin, "tensor '" + name + "': shape too large");
        const auto& off = v["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
            bad(origin, "tensor '" + name + "': data_offsets must be [begin, end] integers");
        const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
        if (begin > end || end > payload_size)
            bad(origin, "tensor '" + name + "': data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                            "] outside the " + std::to_string(payload_size) + "-byte data section");
        const uint64_t expected = numel * dtype_size(t.dtype);
        if (end - begin != expected)
            bad(origin, "tensor '" + name + "': " + std::to_string(end - begin) + " bytes for " +
                            std::to_string(numel) + " elements of " + dtype_name(t.dtype) + " (" +
                            std::to_string(expected) + " expected)");
        t.bytes.assign(payload + begin, payload + end);
        f.tensors_.emplace(name, std::move(t));
    }
    return f;
}

const SafetensorsTensor& SafetensorsFile::at(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) bad(origin_, "no tensor '" + name + "'");
    return it->second;
}

const std::string& SafetensorsFile::meta(const std::string& key) const {
    auto it = metadata_.find(key);
    if (it == metadata_.end()) bad(origin_, "no metadata key '" + key + "'");
    return it->second;
}

int SafetensorsFile::meta_int(const std::string& key) const {
    const std::string& s = meta(key);
    try {
        std::size_t used = 0;
        const long v = std::stol(s, &used);
        if (used != s.size() || v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) throw 0;
        return int(v);
    } catch (...) {
        bad(origin_, "metadata '" + key + "' must be an integer, got '" + s + "'");
    }
}

}  // namespace gdn

// The safetensors reader rejects malformed files with a message instead of reading out of bounds.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "gdn/error.hpp"
#include "gdn/safetensors.hpp"

using namespace gdn;

namespace {
std::vector<uint8_t> file_with(const std::string& header, std::size_t payload) {
    std::vector<uint8_t> f(8 + header.size() + payload, 0);
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) f[std::size_t(i)] = uint8_t(n >> (8 * i));
    std::memcpy(f.data() + 8, header.data(), header.size());
    return f;
}
void expect_error(const std::vector<uint8_t>& f, const std::string& fragment) {
    try {
        SafetensorsFile::parse(f.data(), f.size());
        FAIL("no error; expected one mentioning '" << fragment << "'");
    } catch (const Error& e) {
        INFO(e.what());
        CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    }
}
}  // namespace

TEST_CASE("safetensors: a valid file is read with its metadata", "[safetensors]") {
    auto f = file_with(R"({"__metadata__":{"k":"3"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8);
    const float v[2] = {1.5f, -2.f};
    std::memcpy(f.data() + f.size() - 8, v, 8);
    const auto s = SafetensorsFile::parse(f.data(), f.size());
    CHECK(s.meta_int("k") == 3);
    CHECK(s.at("x").to_double() == std::vector<double>{1.5, -2.0});
}

TEST_CASE("safetensors: malformed files are errors that say what is wrong", "[safetensors]") {
    expect_error({1, 2, 3}, "shorter than the 8-byte header length");
    expect_error(file_with("{", 0), "not valid JSON");
    expect_error(file_with("[]", 0), "JSON object");
    auto big = file_with("{}", 0);
    big[0] = 0xff;
    expect_error(big, "exceeds the file");
    expect_error(file_with(R"({"x":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}})", 1), "dtype F32");
    expect_error(file_with(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), "outside");
    expect_error(file_with(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "12 expected");
    expect_error(file_with(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "integers >= 0");
    expect_error(file_with(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4),
                 "too large");
    expect_error(file_with(R"({"x":{"dtype":"F32","shape":[1]}})", 4), "data_offsets");
    const auto ok = file_with(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
    const auto s = SafetensorsFile::parse(ok.data(), ok.size());
    CHECK_THROWS_AS(s.at("y"), Error);
    CHECK_THROWS_AS(s.meta("missing"), Error);
}

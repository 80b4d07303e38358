// SHA-256 (OpenSSL's libcrypto) of bytes and files, as lower-case hex: model versions and the
// provenance of adaptation sources.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace metaids::model {

std::string sha256_hex(std::string_view bytes);
// Streams the file; throws metaids::Error naming it when it cannot be read.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace metaids::model

// Atomic file writing: the content goes to a temporary file in the same directory, is
// flushed and fsync'ed, then renamed over the destination. A reader sees either the old
// file or the whole new one, never a partial write.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>

namespace metaids {

// Writes `bytes` to `path` atomically. Throws metaids::Error on any failure; on failure the
// previous content of `path` (if any) is left untouched and the temporary file is removed.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

// Reads a whole file; throws metaids::Error with the path and reason on failure.
std::string read_whole_file(const std::filesystem::path& path);

// Reads and parses a JSON file; throws metaids::Error "PATH: not valid JSON: …" on bad syntax.
nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace metaids

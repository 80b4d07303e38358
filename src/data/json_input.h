// Reading untrusted JSON (schema files, experiment configs) within bounds, and showing parts
// of it in error messages without echoing megabytes or recursing without limit.
//
//   const nlohmann::json j = read_json_bounded(path);     // regular file, <= 16 MiB, valid JSON
//   require_json_depth(j, "config");                       // every top-level value <= 32 deep
//   fail("config: 'name' must be a string (got {})", short_json(j["name"]));
//
// nlohmann::json parses and destroys values without recursion, but copying, comparing and
// dump() recurse once per level: a 16 MiB file of '[' would overflow the stack. Parsers of
// untrusted JSON call require_json_depth before anything else.
#pragma once
#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace metaids::data {

inline constexpr size_t kMaxJsonFileBytes = size_t{16} << 20;  // a schema or experiment config
inline constexpr size_t kMaxJsonDepth = 32;                     // nesting below the top level

// The file's JSON; throws metaids::Error naming the file when it is not a regular file, is
// larger than kMaxJsonFileBytes or is not valid JSON.
nlohmann::json read_json_bounded(const std::filesystem::path& path);

// Parses JSON text with core's parse_json_strict (a key twice in one object is an error);
// throws metaids::Error "<source>: ..." for any malformed input, numbers beyond double range
// included (nlohmann reports those as out_of_range, which would escape as a foreign exception).
nlohmann::json parse_json_text(std::string_view text, std::string_view source);

// Throws metaids::Error ("<what>: 'key' is nested deeper than 32 levels") when a value of
// the object (or the value itself, if not an object) is nested deeper than kMaxJsonDepth.
void require_json_depth(const nlohmann::json& value, std::string_view what);

// A short, single-line rendering for messages: scalars as JSON (strings cut to 60 characters,
// control characters escaped), containers as "an array of 3 items" / "an object of 2 keys".
std::string short_json(const nlohmann::json& value);
// A name from the input (a key, a family) the same way: quoted, escaped, cut to 60 characters.
std::string short_text(std::string_view text);

}  // namespace metaids::data

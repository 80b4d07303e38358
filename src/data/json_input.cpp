#include "data/json_input.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/csv_reader.h"

namespace metaids::data {

namespace {

constexpr size_t kShownCharacters = 60;

// Depth of `value` (a scalar is 0), without recursion; stops counting past `limit`.
size_t depth_of(const nlohmann::json& value, size_t limit) {
  if (!value.is_structured()) return 0;
  size_t deepest = 0;
  std::vector<std::pair<const nlohmann::json*, size_t>> stack{{&value, 1}};
  while (!stack.empty()) {
    const auto [node, depth] = stack.back();
    stack.pop_back();
    deepest = std::max(deepest, depth);
    if (deepest > limit) return deepest;
    for (const auto& child : *node)
      if (child.is_structured()) stack.emplace_back(&child, depth + 1);
  }
  return deepest;
}

}  // namespace

nlohmann::json read_json_bounded(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) fail("cannot open {}: no such file", path.string());
  require(std::filesystem::is_regular_file(status), "{}: not a regular file", path.string());
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  const std::unique_ptr<std::FILE, Closer> file(std::fopen(path.c_str(), "rb"));
  if (!file) fail("cannot open {}: {}", path.string(), std::strerror(errno));
  // Read at most one byte past the limit (the size on disk may change while we read).
  std::string text;
  char chunk[1 << 16];
  while (text.size() <= kMaxJsonFileBytes) {
    const size_t got = std::fread(chunk, 1, sizeof chunk, file.get());
    text.append(chunk, got);
    if (got < sizeof chunk) break;
  }
  if (std::ferror(file.get()) != 0) fail("cannot read {}: {}", path.string(), std::strerror(errno));
  require(text.size() <= kMaxJsonFileBytes, "{}: larger than {} (the limit for a JSON file)", path.string(),
          describe_bytes(kMaxJsonFileBytes));
  return parse_json_text(text, path.string());
}

nlohmann::json parse_json_text(std::string_view text, std::string_view source) {
  try {
    return parse_json_strict(text, source);  // syntax errors and duplicate keys: metaids::Error
  } catch (const nlohmann::json::exception& e) {
    // out_of_range for a number beyond double range ("1e400"), which parse_json_strict lets by.
    fail("{}: not valid JSON: {}", source, e.what());
  }
}

void require_json_depth(const nlohmann::json& value, std::string_view what) {
  if (value.is_object()) {
    for (const auto& [key, item] : value.items())
      require(depth_of(item, kMaxJsonDepth) <= kMaxJsonDepth, "{}: {} is nested deeper than {} levels", what,
              short_text(key), kMaxJsonDepth);
    return;
  }
  require(depth_of(value, kMaxJsonDepth + 1) <= kMaxJsonDepth + 1, "{}: nested deeper than {} levels", what,
          kMaxJsonDepth + 1);
}

std::string short_text(std::string_view text) {
  const bool cut = text.size() > kShownCharacters;
  // Cut on a character boundary (never inside a UTF-8 sequence); invalid UTF-8 is replaced.
  size_t end = cut ? kShownCharacters : text.size();
  while (cut && end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  const std::string shown = nlohmann::json(std::string(text.substr(0, end)))
                                .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return cut ? fmt::format("{}... ({} bytes)", shown, text.size()) : shown;
}

std::string short_json(const nlohmann::json& value) {
  if (value.is_string()) return short_text(value.get_ref<const std::string&>());
  if (value.is_array()) return fmt::format("an array of {} item{}", value.size(), value.size() == 1 ? "" : "s");
  if (value.is_object()) return fmt::format("an object of {} key{}", value.size(), value.size() == 1 ? "" : "s");
  return value.dump();  // number, boolean, null, binary: short
}

}  // namespace metaids::data

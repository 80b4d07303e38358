#include "model/model_file.h"

#include <zlib.h>

#include <bit>
#include <cstring>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"

namespace metaids::model {

static_assert(std::endian::native == std::endian::little, "the model format is little-endian; add byte swapping");
static_assert(sizeof(float) == 4, "the model format stores IEEE 754 binary32");

namespace {

constexpr size_t kPreambleBytes = 8 + 4 + 4 + 8 + 8;  // magic, version, flags, file_size, header_size
constexpr size_t kChecksumBytes = 4;

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

uint32_t crc32_of(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t done = 0;
  while (done < bytes.size()) {
    const auto chunk = static_cast<uInt>(std::min<size_t>(bytes.size() - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), chunk);
    done += chunk;
  }
  return static_cast<uint32_t>(crc);
}

// Bounds-checked reader over the file bytes.
class Cursor {
 public:
  Cursor(std::string_view bytes, std::string_view source) : bytes_(bytes), source_(source) {}
  template <typename T>
  T get(const char* what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return value;
  }
  std::string_view take(uint64_t n, const char* what) {
    need(n, what);
    const std::string_view out = bytes_.substr(at_, static_cast<size_t>(n));
    at_ += static_cast<size_t>(n);
    return out;
  }
  size_t position() const { return at_; }

 private:
  void need(uint64_t n, const char* what) {
    if (n > bytes_.size() - at_)
      fail("{}: malformed model file: {} runs past the end of the data (offset {})", source_, what, at_);
  }
  std::string_view bytes_;
  std::string_view source_;
  size_t at_ = 0;
};

void check_header(const nlohmann::json& header, std::string_view source) {
  require(header.is_object(), "{}: model header must be a JSON object", source);
  auto need = [&](const char* key, auto predicate, const char* type) {
    require(header.contains(key), "{}: model header lacks required field '{}'", source, key);
    require(predicate(header[key]), "{}: model header field '{}' must be {}", source, key, type);
  };
  need("architecture", [](const nlohmann::json& v) { return v.is_object(); }, "an object");
  need("algorithm", [](const nlohmann::json& v) { return v.is_string(); }, "a string");
  need("hyperparameters", [](const nlohmann::json& v) { return v.is_object(); }, "an object");
  need("transform", [](const nlohmann::json& v) { return v.is_object(); }, "an object");
  auto strings = [](const nlohmann::json& v) {
    if (!v.is_array()) return false;
    for (const auto& s : v)
      if (!s.is_string()) return false;
    return true;
  };
  need("feature_names", strings, "an array of strings");
  need("class_names", strings, "an array of strings");
  need("training_data_hash", [](const nlohmann::json& v) { return v.is_string(); }, "a string");
  need("metrics", [](const nlohmann::json& v) { return v.is_object(); }, "an object");
}

}  // namespace

const std::vector<std::string>& required_header_fields() {
  static const std::vector<std::string> fields{"architecture", "algorithm",     "hyperparameters",    "transform",
                                               "feature_names", "class_names", "training_data_hash", "metrics"};
  return fields;
}

const NamedTensor& ModelFile::tensor(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return t;
  std::vector<std::string> names;
  for (const auto& t : tensors) names.push_back(t.name);
  fail("model has no tensor '{}' (it has: {})", name, names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")));
}

bool ModelFile::has_tensor(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return true;
  return false;
}

namespace {

// The file's bytes from its header (taken over: format and program version are added to it)
// and the tensors of `model`.
std::string encode_with_header(nlohmann::json header, const ModelFile& model) {
  check_header(header, "model to save");
  std::set<std::string> names;
  for (const auto& t : model.tensors) {
    require(!t.name.empty(), "model to save: a tensor has an empty name");
    require(names.insert(t.name).second, "model to save: tensor name '{}' is used twice", t.name);
  }
  header["format_version"] = kModelFormatVersion;
  header["metaids_version"] = "0.1.0";
  // A raw array goes in as a placeholder that no JSON text of a real value contains (a string
  // of control characters, written escaped), replaced by the array's text after the dump: the
  // bytes are those of dumping the array itself, its elements having been dumped the same way.
  static constexpr std::string_view kPlaceholder = "\x01metaids raw array\x01";
  for (const auto& [key, elements] : model.raw_arrays) {
    require(!header.contains(key), "model to save: '{}' is given twice", key);
    header[key] = kPlaceholder;
  }
  // Strict JSON text: replace invalid UTF-8 rather than throw, so a stray byte in a class name
  // cannot make a trained model unsaveable.
  std::string header_text = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string placeholder_text = nlohmann::json(kPlaceholder).dump();  // "\u0001metaids raw array\u0001"
  for (const auto& [key, elements] : model.raw_arrays) {
    const std::string key_text = nlohmann::json(key).dump() + ":";
    const size_t at = header_text.find(key_text + placeholder_text);
    require(at != std::string::npos && header_text.find(key_text + placeholder_text, at + 1) == std::string::npos,
            "model to save: the header's '{}' cannot be placed (a value mimics the placeholder)", key);
    std::string array = "[";
    for (size_t i = 0; i < elements.size(); ++i) {
      if (i > 0) array += ',';
      array += *elements[i];
    }
    array += ']';
    header_text.replace(at + key_text.size(), placeholder_text.size(), array);
  }
  std::string out;
  size_t total = kPreambleBytes + header_text.size() + 4;
  for (const auto& t : model.tensors) total += 4 + t.name.size() + 8 + t.values.size() * sizeof(float);
  total += kChecksumBytes;
  out.reserve(total);
  out.append(kModelMagic, sizeof kModelMagic);
  put<uint32_t>(out, kModelFormatVersion);
  put<uint32_t>(out, 0);
  put<uint64_t>(out, total);
  put<uint64_t>(out, header_text.size());
  out += header_text;
  put<uint32_t>(out, static_cast<uint32_t>(model.tensors.size()));
  for (const auto& t : model.tensors) {
    put<uint32_t>(out, static_cast<uint32_t>(t.name.size()));
    out += t.name;
    put<uint64_t>(out, t.values.size());
    if (!t.values.empty())
      out.append(reinterpret_cast<const char*>(t.values.data()), t.values.size() * sizeof(float));
  }
  put<uint32_t>(out, crc32_of(out));
  require(out.size() == total, "internal error: model size {} != {}", out.size(), total);
  return out;
}

}  // namespace

std::string encode_model(const ModelFile& model) { return encode_with_header(model.header, model); }

std::string encode_model(ModelFile&& model) {
  nlohmann::json header = std::move(model.header);
  return encode_with_header(std::move(header), model);
}

ModelFile decode_model(std::string_view bytes, std::string_view source) {
  if (bytes.size() < sizeof kModelMagic || std::memcmp(bytes.data(), kModelMagic, sizeof kModelMagic) != 0)
    fail("{}: not a metaids model file (wrong magic bytes)", source);
  Cursor cursor(bytes, source);
  cursor.take(sizeof kModelMagic, "magic");
  if (bytes.size() < kPreambleBytes + 4 + kChecksumBytes)
    fail("{}: model file is truncated ({} bytes; the fixed part alone is {})", source, bytes.size(),
         kPreambleBytes + 4 + kChecksumBytes);
  const auto version = cursor.get<uint32_t>("version");
  if (version == 0) fail("{}: invalid model format version 0 (file corrupted)", source);
  if (version > kModelFormatVersion)
    fail("{}: model format version {} is newer than this metaids supports ({}); upgrade metaids", source, version,
         kModelFormatVersion);
  const auto flags = cursor.get<uint32_t>("flags");
  const auto file_size = cursor.get<uint64_t>("file size");
  if (file_size > bytes.size())
    fail("{}: model file is truncated ({} bytes, expected {})", source, bytes.size(), file_size);
  if (file_size < bytes.size())
    fail("{}: model file has {} unexpected trailing bytes (expected {} bytes)", source, bytes.size() - file_size, file_size);
  const std::string_view body = bytes.substr(0, bytes.size() - kChecksumBytes);
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + body.size(), sizeof stored_crc);
  const uint32_t actual_crc = crc32_of(body);
  if (stored_crc != actual_crc)
    fail("{}: model file is corrupted (CRC-32 {:08x}, stored {:08x})", source, actual_crc, stored_crc);
  if (flags != 0) fail("{}: model file uses flags {:#x} this metaids does not know", source, flags);
  Cursor body_cursor(body, source);
  body_cursor.take(kPreambleBytes - 8, "preamble");
  const auto header_size = body_cursor.get<uint64_t>("header size");
  const std::string_view header_text = body_cursor.take(header_size, "header");
  ModelFile model;
  // Strict: a key twice is refused (the later one would silently win), numbers beyond
  // double and documents nested too deep too.
  model.header = parse_json_strict(header_text, fmt::format("{}: model header", source));
  check_header(model.header, source);
  const auto count = body_cursor.get<uint32_t>("tensor count");
  for (uint32_t i = 0; i < count; ++i) {
    NamedTensor t;
    const auto name_size = body_cursor.get<uint32_t>("tensor name size");
    t.name = std::string(body_cursor.take(name_size, "tensor name"));
    const auto values = body_cursor.get<uint64_t>("tensor size");
    if (values > (body.size() - body_cursor.position()) / sizeof(float))
      fail("{}: malformed model file: tensor '{}' of {} values runs past the end", source, t.name, values);
    const std::string_view raw = body_cursor.take(values * sizeof(float), "tensor values");
    t.values.resize(static_cast<size_t>(values));
    if (!raw.empty()) std::memcpy(t.values.data(), raw.data(), raw.size());
    model.tensors.push_back(std::move(t));
  }
  if (body_cursor.position() != body.size())
    fail("{}: malformed model file: {} unexplained bytes before the checksum", source, body.size() - body_cursor.position());
  return model;
}

void save_model(const std::filesystem::path& path, const ModelFile& model) {
  write_file_atomically(path, encode_model(model));
}

ModelFile load_model(const std::filesystem::path& path) {
  std::error_code ec;
  require(std::filesystem::is_regular_file(path, ec), "cannot open model {}: no such file", path.string());
  const std::string bytes = read_whole_file(path);
  return decode_model(bytes, path.string());
}

std::string describe_model(const ModelFile& model, const std::filesystem::path& path) {
  const auto& h = model.header;
  std::string out;
  auto line = [&](std::string_view key, const std::string& value) { out += fmt::format("{:<20}{}\n", key, value); };
  line("model", path.string());
  line("format version", h.contains("format_version") ? h["format_version"].dump() : "?");
  line("written by", h.value("metaids_version", std::string("?")));
  line("algorithm", h.value("algorithm", std::string("?")));
  line("architecture", h.contains("architecture") ? h["architecture"].dump() : "?");
  line("hyperparameters", h.contains("hyperparameters") ? h["hyperparameters"].dump() : "?");
  const auto& features = h["feature_names"];
  std::vector<std::string> first;
  for (size_t i = 0; i < features.size() && i < 5; ++i) first.push_back(features[i].get<std::string>());
  line("features", fmt::format("{} ({}{})", features.size(), fmt::join(first, ", "), features.size() > 5 ? ", ..." : ""));
  std::vector<std::string> classes;
  for (const auto& c : h["class_names"]) classes.push_back(c.get<std::string>());
  line("classes", fmt::format("{} ({})", classes.size(), fmt::join(classes, ", ")));
  line("training data hash", h.value("training_data_hash", std::string("?")));
  if (h.contains("transform") && h["transform"].contains("kind")) line("transform", h["transform"]["kind"].get<std::string>());
  line("metrics", h["metrics"].dump());
  for (const auto& t : model.tensors) line("tensor", fmt::format("{} ({} floats)", t.name, t.values.size()));
  static const std::set<std::string> shown{"format_version", "metaids_version", "algorithm", "architecture",
                                           "hyperparameters", "feature_names", "class_names", "training_data_hash",
                                           "transform", "metrics", "classes", "calibration", "history",
                                           "support", "reference", "task", "schema", "experiment"};
  for (const auto& [key, value] : h.items())
    if (shown.count(key) == 0) line(key, value.is_string() ? value.get<std::string>() : value.dump());
  return out;
}

}  // namespace metaids::model

// The metaids model file: one self-describing, checksummed binary file per trained model.
//
//   ModelFile m;
//   m.header = {{"architecture", {...}}, {"algorithm", "maml"}, {"hyperparameters", {...}},
//               {"transform", transform.to_json()}, {"feature_names", names},
//               {"class_names", classes}, {"training_data_hash", hash}, {"metrics", {...}}};
//   m.tensors.push_back({"parameters", theta});            // flat float vector
//   m.tensors.push_back({"meta_sgd_learning_rates", alpha});  // optional, any number
//   save_model("model.mids", m);                           // atomic: tmp + fsync + rename
//   ModelFile back = load_model("model.mids");             // bit-identical tensors
//
// Layout (all integers little-endian; see docs/model-format.md):
//   magic        8 bytes   89 4D 49 44 53 0D 0A 1A   ("\x89MIDS\r\n\x1a")
//   version      u32       kModelFormatVersion
//   flags        u32       0 (reserved)
//   file_size    u64       total bytes, checksum included (detects truncation)
//   header_size  u64       then header_size bytes of UTF-8 JSON
//   tensor_count u32       then per tensor: name_size u32, name bytes, count u64,
//                          count × f32 (IEEE 754 binary32)
//   crc32        u32       zlib CRC-32 of every preceding byte
//
// Loading checks, in this order, and fails with one line naming the file: too short / wrong
// magic, version 0 or newer than this build, size mismatch (truncated or trailing bytes),
// checksum mismatch (corrupted), malformed structure or JSON, missing required header fields.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace metaids::model {

inline constexpr uint32_t kModelFormatVersion = 1;
inline constexpr char kModelMagic[8] = {'\x89', 'M', 'I', 'D', 'S', '\r', '\n', '\x1a'};

// Header fields every model must carry (any other fields are kept as given).
//   architecture (object), algorithm (string), hyperparameters (object), transform (object),
//   feature_names (array of strings), class_names (array of strings),
//   training_data_hash (string), metrics (object)
const std::vector<std::string>& required_header_fields();

struct NamedTensor {
  std::string name;
  std::vector<float> values;
  bool operator==(const NamedTensor&) const = default;
};

struct ModelFile {
  nlohmann::json header = nlohmann::json::object();
  std::vector<NamedTensor> tensors;
  // Header arrays given as their elements' JSON text (the key is then not in `header`): written
  // as they are, so that a model's long history is not serialised again for every version.
  // Decoding puts them in `header` like any other key.
  std::vector<std::pair<std::string, std::vector<std::shared_ptr<const std::string>>>> raw_arrays;

  // The tensor called `name`; throws metaids::Error listing the available names if absent.
  const NamedTensor& tensor(std::string_view name) const;
  bool has_tensor(std::string_view name) const;
};

// Serialises to bytes. Adds "format_version" and "metaids_version" to the header. Throws if a
// required header field is missing or of the wrong type, or tensor names are empty/duplicated.
std::string encode_model(const ModelFile& model);
// The same, taking the header over instead of copying it (its history can be long).
std::string encode_model(ModelFile&& model);
// Parses bytes; `source` names the file in error messages.
ModelFile decode_model(std::string_view bytes, std::string_view source);

// Atomically writes / reads a model file (core/atomic_file.h).
void save_model(const std::filesystem::path& path, const ModelFile& model);
ModelFile load_model(const std::filesystem::path& path);

// Human-readable summary (what `metaids info` prints).
std::string describe_model(const ModelFile& model, const std::filesystem::path& path);

}  // namespace metaids::model

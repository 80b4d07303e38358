#include "model/model_file.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/temp_dir.h"
#include "data/transform.h"

namespace metaids::model {
namespace {

ModelFile sample_model() {
  data::FeatureTable t;
  t.feature_names = {"a", "b"};
  t.features.resize(3, 2);
  t.features << 1, 2, 3, 40, 5, 600;
  t.class_ids = {0, 1, 0};
  t.class_names = {"benign", "ddos"};
  ModelFile m;
  m.header = {{"architecture", {{"kind", "mlp"}, {"layers", {2, 64, 64, 2}}, {"activation", "relu"}}},
              {"algorithm", "maml"},
              {"hyperparameters", {{"inner_lr", 0.01}, {"inner_steps", 5}}},
              {"transform", data::FeatureTransform::fit(t).to_json()},
              {"feature_names", t.feature_names},
              {"class_names", t.class_names},
              {"training_data_hash", data::content_hash(t)},
              {"metrics", {{"validation_accuracy", 0.93}}},
              {"config", {{"name", "fsnd1-cicids2017"}}}};
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  NamedTensor params{"parameters", std::vector<float>(4546)};
  for (auto& v : params.values) v = normal(rng);
  params.values[0] = -0.0f;
  params.values[1] = std::numeric_limits<float>::denorm_min();
  m.tensors.push_back(params);
  m.tensors.push_back({"meta_sgd_learning_rates", std::vector<float>(4546, 0.01f)});
  m.tensors.push_back({"empty", {}});
  return m;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void fix_crc(std::string& bytes) {
  const uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size() - 4)));
  std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
}

TEST(ModelFile, RoundTripIsBitIdentical) {
  test::TempDir dir;
  const ModelFile m = sample_model();
  const auto path = dir.path() / "model.mids";
  save_model(path, m);
  const ModelFile back = load_model(path);
  ASSERT_EQ(back.tensors.size(), m.tensors.size());
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    EXPECT_EQ(back.tensors[i].name, m.tensors[i].name);
    ASSERT_EQ(back.tensors[i].values.size(), m.tensors[i].values.size());
    if (!m.tensors[i].values.empty()) {
      EXPECT_EQ(std::memcmp(back.tensors[i].values.data(), m.tensors[i].values.data(),
                            m.tensors[i].values.size() * sizeof(float)),
                0);
    }
  }
  for (const auto& [key, value] : m.header.items()) EXPECT_EQ(back.header.at(key), value) << key;
  EXPECT_EQ(back.header["format_version"], kModelFormatVersion);
  // The transform in the header comes back exactly.
  EXPECT_EQ(data::FeatureTransform::from_json(back.header["transform"]),
            data::FeatureTransform::from_json(m.header["transform"]));
  // Saving what was loaded gives the same bytes.
  EXPECT_EQ(encode_model(back), read_whole_file(path));
  EXPECT_EQ(back.tensor("meta_sgd_learning_rates").values.size(), 4546u);
  EXPECT_TRUE(back.has_tensor("empty"));
  EXPECT_NE(message_of([&] { back.tensor("nope"); }).find("has: parameters, meta_sgd_learning_rates, empty"),
            std::string::npos);
  // No temporary files left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()), 1);
}

TEST(ModelFile, EveryFlippedByteIsRejected) {
  const std::string good = encode_model(sample_model());
  // Every byte of the fixed part and header, then a stride through the tensors.
  std::vector<size_t> positions;
  for (size_t i = 0; i < std::min<size_t>(good.size(), 4096); ++i) positions.push_back(i);
  for (size_t i = 4096; i < good.size(); i += 97) positions.push_back(i);
  positions.push_back(good.size() - 1);
  for (const size_t i : positions) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5A);
    EXPECT_THROW(decode_model(bad, "m"), Error) << "byte " << i;
  }
  EXPECT_NE(message_of([&] {
              std::string bad = good;
              bad[good.size() / 2] ^= 1;
              decode_model(bad, "m.mids");
            }).find("m.mids: model file is corrupted"),
            std::string::npos);
}

TEST(ModelFile, TruncationIsRejected) {
  const std::string good = encode_model(sample_model());
  for (const size_t keep : {size_t{0}, size_t{5}, size_t{8}, size_t{20}, size_t{40}, good.size() / 2, good.size() - 1}) {
    const std::string m = message_of([&] { decode_model(std::string_view(good).substr(0, keep), "m.mids"); });
    EXPECT_TRUE(m.find("truncated") != std::string::npos || m.find("wrong magic") != std::string::npos)
        << keep << ": " << m;
  }
  EXPECT_NE(message_of([&] { decode_model(good.substr(0, good.size() - 10), "m"); }).find("truncated (" ), std::string::npos);
  EXPECT_NE(message_of([&] { decode_model(good + "x", "m"); }).find("trailing"), std::string::npos);
}

TEST(ModelFile, NewerVersionAndWrongMagicAreRejected) {
  std::string bytes = encode_model(sample_model());
  const uint32_t newer = kModelFormatVersion + 1;
  std::memcpy(bytes.data() + 8, &newer, 4);
  fix_crc(bytes);
  EXPECT_NE(message_of([&] { decode_model(bytes, "m"); }).find("version 2 is newer than this metaids supports (1)"),
            std::string::npos);
  std::string wrong = encode_model(sample_model());
  wrong[1] = 'X';
  EXPECT_NE(message_of([&] { decode_model(wrong, "m"); }).find("not a metaids model file"), std::string::npos);
  EXPECT_NE(message_of([&] { decode_model("id,a,b\n1,2,3\n", "flows.csv"); }).find("flows.csv: not a metaids model"),
            std::string::npos);
}

TEST(ModelFile, RequiredHeaderFieldsAreEnforced) {
  for (const auto& field : required_header_fields()) {
    ModelFile m = sample_model();
    m.header.erase(field);
    EXPECT_NE(message_of([&] { encode_model(m); }).find(field), std::string::npos) << field;
  }
  ModelFile m = sample_model();
  m.header["class_names"] = {1, 2};
  EXPECT_THROW(encode_model(m), Error);
  m = sample_model();
  m.tensors.push_back({"parameters", {1.0f}});
  EXPECT_THROW(encode_model(m), Error);  // duplicate tensor name
}

TEST(ModelFile, MissingFileAndDescribe) {
  EXPECT_NE(message_of([] { load_model("/nonexistent/model.mids"); }).find("no such file"), std::string::npos);
  const std::string text = describe_model(decode_model(encode_model(sample_model()), "m"), "m.mids");
  EXPECT_NE(text.find("maml"), std::string::npos);
  EXPECT_NE(text.find("classes             2 (benign, ddos)"), std::string::npos) << text;
  EXPECT_NE(text.find("meta_sgd_learning_rates (4546 floats)"), std::string::npos) << text;
}

}  // namespace
}  // namespace metaids::model

namespace metaids::model {
namespace {

// Golden files in tests/model/fixtures: a valid version-1 model (future versions of metaids
// must keep loading it) and three broken copies used by the CLI cases. Regenerate with
// METAIDS_REGENERATE_FIXTURES=1.
TEST(ModelFile, GoldenFixtures) {
  const std::filesystem::path dir = std::filesystem::path(METAIDS_SOURCE_DIR) / "tests/model/fixtures";
  ModelFile m;
  m.header = {{"architecture", {{"kind", "mlp"}, {"layers", {2, 3, 2}}, {"activation", "relu"}}},
              {"algorithm", "protonet"},
              {"hyperparameters", {{"inner_lr", 0.5}}},
              {"transform",
               {{"kind", "signed_log1p_zscore_clip"}, {"version", 1}, {"clip", 10.0}, {"numeric", {"a", "b"}},
                {"categorical", nlohmann::json::array()}, {"mean", {0.5, 1.25}}, {"std", {1.0, 2.0}}}},
              {"feature_names", {"a", "b"}},
              {"class_names", {"benign", "attack"}},
              {"training_data_hash", "0123456789abcdef"},
              {"metrics", {{"accuracy", 0.875}}}};
  m.tensors.push_back({"parameters", {0.25f, -1.5f, 3.0f, 0.0f, 1e-3f, -7.0f, 2.5f, 0.125f, 9.0f, -0.5f, 4.0f, 1.0f, 0.75f,
                                      -2.0f, 0.5f}});
  const std::string bytes = encode_model(m);
  if (std::getenv("METAIDS_REGENERATE_FIXTURES") != nullptr) {
    std::filesystem::create_directories(dir);
    write_file_atomically(dir / "valid-v1.mids", bytes);
    write_file_atomically(dir / "truncated.mids", std::string_view(bytes).substr(0, bytes.size() - 7));
    std::string corrupted = bytes;
    corrupted[corrupted.size() / 2] = static_cast<char>(corrupted[corrupted.size() / 2] ^ 0x10);
    write_file_atomically(dir / "corrupted.mids", corrupted);
    std::string newer = bytes;
    const uint32_t version = kModelFormatVersion + 1;
    std::memcpy(newer.data() + 8, &version, 4);
    fix_crc(newer);
    write_file_atomically(dir / "newer-version.mids", newer);
  }
  const ModelFile golden = load_model(dir / "valid-v1.mids");
  EXPECT_EQ(golden.tensors, m.tensors);
  EXPECT_EQ(golden.header["algorithm"], "protonet");
  EXPECT_THROW(load_model(dir / "truncated.mids"), Error);
  EXPECT_THROW(load_model(dir / "corrupted.mids"), Error);
  EXPECT_THROW(load_model(dir / "newer-version.mids"), Error);
}

}  // namespace
}  // namespace metaids::model

namespace metaids::model {
namespace {

// The encoded file with its header text replaced (sizes and checksum fixed up).
std::string with_header_text(const std::string& bytes, const std::string& text) {
  uint64_t old_size = 0;
  std::memcpy(&old_size, bytes.data() + 24, 8);
  std::string out = bytes.substr(0, 32) + text + bytes.substr(32 + old_size);
  const uint64_t header_size = text.size(), file_size = out.size();
  std::memcpy(out.data() + 16, &file_size, 8);
  std::memcpy(out.data() + 24, &header_size, 8);
  fix_crc(out);
  return out;
}

TEST(ModelFile, HeadersThatAreNotPlainJsonObjectsAreRefused) {
  const std::string bytes = encode_model(sample_model());
  // A number beyond double (the fuzzer's find: out_of_range escaped decode_model).
  EXPECT_NE(message_of([&] { decode_model(with_header_text(bytes, "5E777"), "m.mids"); }).find("not valid JSON"),
            std::string::npos);
  // A key twice: the later value would silently win.
  const std::string twice = R"({"algorithm":"maml","algorithm":"protonet"})";
  EXPECT_NE(message_of([&] { decode_model(with_header_text(bytes, twice), "m.mids"); }).find("duplicate key"),
            std::string::npos);
  // Nested deeper than anyone writes: refused before it is built (destroying it recurses).
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_NE(message_of([&] { decode_model(with_header_text(bytes, deep), "m.mids"); }).find("nested deeper"),
            std::string::npos);
  // The untouched file still decodes.
  EXPECT_NO_THROW(decode_model(with_header_text(bytes, bytes.substr(32, [&] {
                                 uint64_t n = 0;
                                 std::memcpy(&n, bytes.data() + 24, 8);
                                 return n;
                               }())),
                               "m.mids"));
}

}  // namespace
}  // namespace metaids::model

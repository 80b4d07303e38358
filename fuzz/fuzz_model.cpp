// libFuzzer harness for the model-file reader (model/model_file.h, decode_model): any bytes
// are refused with metaids::Error or decode into a model; a decoded model must encode and
// decode again to the same tensors (nothing the reader accepts is lost).
// Input: byte 0 bit 0 set means "repair": the file_size field and the CRC-32 are rewritten to
// match the bytes that follow, so that mutations get past the checksum to the header JSON and
// the tensor table (the fuzzer cannot compute a CRC itself). Then the file's bytes.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "core/error.h"
#include "model/model_file.h"

namespace {

void put_le(std::string& bytes, size_t offset, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) bytes[offset + static_cast<size_t>(i)] = static_cast<char>((value >> (8 * i)) & 0xff);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr size_t kFileSizeOffset = 8 + 4 + 4;  // magic, version, flags
  if ((data[0] & 1) != 0 && bytes.size() >= kFileSizeOffset + 8 + 4) {
    put_le(bytes, kFileSizeOffset, bytes.size(), 8);
    const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size() - 4));
    put_le(bytes, bytes.size() - 4, crc, 4);
  }
  metaids::model::ModelFile model;
  try {
    model = metaids::model::decode_model(bytes, "fuzz.mids");
  } catch (const metaids::Error&) {
    return 0;
  }
  const metaids::model::ModelFile again =
      metaids::model::decode_model(metaids::model::encode_model(model), "fuzz-again.mids");
  // Bit for bit (NaN != NaN as a float; whether NaN may load at all is decode_model's call).
  if (again.tensors.size() != model.tensors.size()) std::abort();
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const auto& a = model.tensors[i];
    const auto& b = again.tensors[i];
    if (a.name != b.name || a.values.size() != b.values.size() ||
        std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) != 0)
      std::abort();
  }
  return 0;
}

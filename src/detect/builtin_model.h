// The model that ships inside the binary (models/metaids-cicids2017.mids, built by
// tools/build-shipped-model.sh), so `metaids detect --pcap any.pcap` works with no dataset
// and no path to remember.
#pragma once
#include <string_view>

#include "model/model.h"

namespace metaids::detect {

// The embedded model file's bytes (empty when the build had none).
std::string_view builtin_model_bytes();
// Its name as messages and EVE provenance show it.
inline constexpr const char* kBuiltinModelName = "built-in:metaids-cicids2017";
// Loads --model, or the built-in model when `path` is empty.
model::Model load_model_or_builtin(const std::string& path);

}  // namespace metaids::detect

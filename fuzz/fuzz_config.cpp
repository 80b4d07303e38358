// libFuzzer harness for the JSON an attacker can hand to metaids as a file: dataset schemas
// (data/schema.h) and experiment configs (data/experiment.h). The input is parsed as JSON and
// given to both parsers; each must accept it or throw metaids::Error (any other exception
// escapes and counts as a crash). What is accepted must survive to_json() and back unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "data/experiment.h"
#include "data/json_input.h"
#include "data/schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json json;
  try {  // as read_json_bounded parses a file
    json = metaids::data::parse_json_text(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
  } catch (const metaids::Error&) {
    return 0;
  }
  try {
    const auto schema = metaids::data::parse_schema(json);
    if (metaids::data::parse_schema(schema.to_json()).to_json() != schema.to_json()) std::abort();
  } catch (const metaids::Error&) {
  }
  try {
    const auto config = metaids::data::parse_experiment_config(json);
    if (metaids::data::parse_experiment_config(config.to_json()).to_json() != config.to_json()) std::abort();
  } catch (const metaids::Error&) {
  }
  return 0;
}

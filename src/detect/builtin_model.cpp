#include "detect/builtin_model.h"

#include "core/error.h"

#ifdef METAIDS_BUILTIN_MODEL
// The file's bytes, placed in .rodata by the assembler (no generated source, no hex dump).
asm(".section .rodata\n"
    ".balign 16\n"
    ".global metaids_builtin_model_begin\n"
    "metaids_builtin_model_begin:\n"
    ".incbin \"" METAIDS_BUILTIN_MODEL "\"\n"
    ".global metaids_builtin_model_end\n"
    "metaids_builtin_model_end:\n"
    ".previous\n");
extern "C" const char metaids_builtin_model_begin[];
extern "C" const char metaids_builtin_model_end[];
#endif

namespace metaids::detect {

std::string_view builtin_model_bytes() {
#ifdef METAIDS_BUILTIN_MODEL
  return {metaids_builtin_model_begin, static_cast<size_t>(metaids_builtin_model_end - metaids_builtin_model_begin)};
#else
  return {};
#endif
}

model::Model load_model_or_builtin(const std::string& path) {
  if (!path.empty()) return model::load(path);
  const std::string_view bytes = builtin_model_bytes();
  require(!bytes.empty(), "this build has no built-in model (models/ was missing when it was built); give --model");
  return model::from_file(model::decode_model(bytes, kBuiltinModelName), kBuiltinModelName);
}

}  // namespace metaids::detect

// The analyst's console (web/console/: plain HTML, CSS and JavaScript, no build step),
// embedded in the binary when it is built (assembler .incbin, as detect/builtin_model.cpp
// embeds the shipped model), served at GET /, /console.js and /console.css.
#pragma once
#include <string_view>

namespace metaids::serve {

struct ConsoleAsset {
  std::string_view path;  // "/", "/console.js", ...
  std::string_view mime;
  std::string_view bytes;
};

// The asset served at `path`, or nullptr.
const ConsoleAsset* find_console_asset(std::string_view path);

}  // namespace metaids::serve

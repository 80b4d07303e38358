#include "serve/console_assets.h"

#include <array>

// Each file's bytes in .rodata, between a begin and an end symbol (no generated source).
#define METAIDS_EMBED(symbol, file)                 \
  asm(".section .rodata\n"                          \
      ".balign 16\n"                                \
      ".global " #symbol "_begin\n" #symbol         \
      "_begin:\n"                                   \
      ".incbin \"" METAIDS_CONSOLE_DIR "/" file     \
      "\"\n"                                        \
      ".global " #symbol "_end\n" #symbol "_end:\n" \
      ".previous\n");                               \
  extern "C" const char symbol##_begin[];           \
  extern "C" const char symbol##_end[];

METAIDS_EMBED(metaids_console_html, "index.html")
METAIDS_EMBED(metaids_console_js, "console.js")
METAIDS_EMBED(metaids_console_css, "console.css")

namespace metaids::serve {

namespace {
std::string_view bytes(const char* begin, const char* end) { return {begin, static_cast<size_t>(end - begin)}; }
}  // namespace

const ConsoleAsset* find_console_asset(std::string_view path) {
  static const std::array<ConsoleAsset, 4> assets = {{
      {"/", "text/html; charset=utf-8", bytes(metaids_console_html_begin, metaids_console_html_end)},
      {"/index.html", "text/html; charset=utf-8", bytes(metaids_console_html_begin, metaids_console_html_end)},
      {"/console.js", "text/javascript; charset=utf-8", bytes(metaids_console_js_begin, metaids_console_js_end)},
      {"/console.css", "text/css; charset=utf-8", bytes(metaids_console_css_begin, metaids_console_css_end)},
  }};
  for (const auto& a : assets)
    if (a.path == path) return &a;
  return nullptr;
}

}  // namespace metaids::serve

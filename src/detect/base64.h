// Base64 (RFC 4648, with padding) for the EVE writer's hot path: the Community ID's digest and
// the features of every alert line. OpenSSL's EVP_EncodeBlock, which this replaced, took half
// of an alert line's time (about 200 ns for a flow's 82 features, bench_detect's
// BM_EveAlertLine); this encoder writes two characters per table lookup. Its output is checked
// against EVP_EncodeBlock's in tests/detect/eve_test.cpp. Decoding stays with OpenSSL.
#pragma once

#include <cstddef>

namespace metaids::detect {

// Characters base64 takes for `size` bytes.
constexpr std::size_t base64_length(std::size_t size) { return 4 * ((size + 2) / 3); }

// Writes base64_length(size) characters at `out` (no terminator); returns their end.
char* put_base64(char* out, const void* data, std::size_t size);

}  // namespace metaids::detect

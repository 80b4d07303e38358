#include "detect/community_id.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "detect/base64.h"

namespace metaids::detect {

namespace {

bool has_ports(std::uint8_t protocol) {
  return protocol == 1 || protocol == 6 || protocol == 17 || protocol == 58 || protocol == 132;
}

int counterpart(std::uint8_t protocol, std::uint8_t type) {
  if (protocol == 1) {
    switch (type) {
      case 8: return 0;    // echo ↔ echo reply
      case 0: return 8;
      case 13: return 14;  // timestamp
      case 14: return 13;
      case 15: return 16;  // information
      case 16: return 15;
      case 10: return 9;   // router solicitation ↔ advertisement
      case 9: return 10;
      case 17: return 18;  // address mask
      case 18: return 17;
      default: return -1;
    }
  }
  switch (type) {  // ICMPv6
    case 128: return 129;  // echo
    case 129: return 128;
    case 130: return 131;  // multicast listener query ↔ report
    case 131: return 130;
    case 133: return 134;  // router solicitation ↔ advertisement
    case 134: return 133;
    case 135: return 136;  // neighbour solicitation ↔ advertisement
    case 136: return 135;
    case 139: return 140;  // who-are-you
    case 140: return 139;
    case 144: return 145;  // home agent address discovery
    case 145: return 144;
    default: return -1;
  }
}

}  // namespace

void map_icmp_to_ports(std::uint8_t protocol, std::uint8_t type, std::uint8_t code, FlowTuple& tuple) {
  const int other = counterpart(protocol, type);
  tuple.src_port = type;
  tuple.dst_port = other >= 0 ? static_cast<std::uint16_t>(other) : code;
  tuple.one_way = other < 0;
}

std::string community_id_v1(const FlowTuple& t, std::uint16_t seed) {
  std::string out;
  append_community_id_v1(out, t, seed);
  return out;
}

void append_community_id_v1(std::string& out, const FlowTuple& t, std::uint16_t seed) {
  char buffer[kCommunityIdLength];
  out.append(buffer, put_community_id_v1(buffer, t, seed));
}

char* put_community_id_v1(char* out, const FlowTuple& t, std::uint16_t seed) {
  const size_t address_bytes = t.ip_version == 6 ? 16 : 4;
  const bool ports = has_ports(t.protocol);
  // Order the endpoints: the smaller (address, port) first, unless the tuple is one-way.
  const int by_address = std::memcmp(t.src.data(), t.dst.data(), address_bytes);
  const bool ordered = t.one_way || by_address < 0 || (by_address == 0 && ports && t.src_port < t.dst_port);
  const std::uint8_t* a = ordered ? t.src.data() : t.dst.data();
  const std::uint8_t* b = ordered ? t.dst.data() : t.src.data();
  const std::uint16_t port_a = ordered ? t.src_port : t.dst_port;
  const std::uint16_t port_b = ordered ? t.dst_port : t.src_port;
  std::uint8_t input[2 + 16 + 16 + 2 + 4];
  size_t n = 0;
  input[n++] = static_cast<std::uint8_t>(seed >> 8);
  input[n++] = static_cast<std::uint8_t>(seed & 0xff);
  std::memcpy(input + n, a, address_bytes);
  n += address_bytes;
  std::memcpy(input + n, b, address_bytes);
  n += address_bytes;
  input[n++] = t.protocol;
  input[n++] = 0;
  if (ports) {
    input[n++] = static_cast<std::uint8_t>(port_a >> 8);
    input[n++] = static_cast<std::uint8_t>(port_a & 0xff);
    input[n++] = static_cast<std::uint8_t>(port_b >> 8);
    input[n++] = static_cast<std::uint8_t>(port_b & 0xff);
  }
  // SHA1() fetches the algorithm under a lock on every call (OpenSSL 3): a third of an alert
  // line's time in a flood. One fetched digest and one context per thread instead.
  struct Sha1 {
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    ~Sha1() {
      EVP_MD_CTX_free(context);
      EVP_MD_free(md);
    }
  };
  thread_local Sha1 sha1;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  if (sha1.md == nullptr || sha1.context == nullptr || EVP_DigestInit_ex2(sha1.context, sha1.md, nullptr) != 1 ||
      EVP_DigestUpdate(sha1.context, input, n) != 1 || EVP_DigestFinal_ex(sha1.context, digest, &digest_length) != 1 ||
      digest_length != SHA_DIGEST_LENGTH)
    fail("SHA-1 is not available from OpenSSL");
  static_assert(kCommunityIdLength == 2 + base64_length(SHA_DIGEST_LENGTH));
  *out++ = '1';
  *out++ = ':';
  return put_base64(out, digest, SHA_DIGEST_LENGTH);
}

}  // namespace metaids::detect

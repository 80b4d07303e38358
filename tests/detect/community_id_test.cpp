// Community ID v1 against the specification's published test vectors (corelight/
// community-id-spec, baseline/baseline_deflt.json and baseline_seed1.json: the values are
// facts of the specification; ports are the ICMP port equivalents where the protocol is ICMP).
#include "detect/community_id.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace metaids::detect {
namespace {

FlowTuple tuple(int proto, const char* src, const char* dst, int sport, int dport) {
  FlowTuple t;
  t.protocol = static_cast<std::uint8_t>(proto);
  if (inet_pton(AF_INET, src, t.src.data()) == 1) {
    t.ip_version = 4;
    inet_pton(AF_INET, dst, t.dst.data());
  } else {
    t.ip_version = 6;
    inet_pton(AF_INET6, src, t.src.data());
    inet_pton(AF_INET6, dst, t.dst.data());
  }
  t.src_port = static_cast<std::uint16_t>(sport);
  t.dst_port = static_cast<std::uint16_t>(dport);
  return t;
}

struct Vector {
  int proto;
  const char* src;
  const char* dst;
  int sport, dport;
  const char* seed0;
  const char* seed1;
};

const Vector kVectors[] = {
    {58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=",
     "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
    {58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=",
     "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
    {58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136, "1:zavyT/cezQr1fmImYCwYnMXbgck=",
     "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="},
    {58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=",
     "1:lVEtCZpYu84Xqaa++3lXFyuu2n4="},
    {58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=",
     "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
    {58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 128, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=",
     "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
    {58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=",
     "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8="},
    {1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
    {1, "192.168.0.1", "192.168.0.89", 0, 8, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
    {1, "10.0.0.1", "10.0.0.2", 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM=", "1:XjUibYHaafLQ3pxQeiMI8g25q20="},
    {6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
     "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
    {6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
     "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
    {132, "192.168.170.8", "192.168.170.56", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
    {132, "192.168.170.56", "192.168.170.8", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
    {6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
    {6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
    {17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
    {17, "8.8.8.8", "192.168.1.52", 53, 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
    {46, "10.1.12.1", "10.1.12.2", 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="},
    {46, "10.1.12.2", "10.1.12.1", 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="},
};

TEST(CommunityId, MatchesThePublishedVectors) {
  for (const auto& v : kVectors) {
    const FlowTuple t = tuple(v.proto, v.src, v.dst, v.sport, v.dport);
    EXPECT_EQ(community_id_v1(t, 0), v.seed0) << v.proto << " " << v.src << " " << v.dst;
    EXPECT_EQ(community_id_v1(t, 1), v.seed1) << v.proto << " " << v.src << " " << v.dst;
  }
  // Zeek's test of the same algorithm: TCP 1.2.3.4:1122 → 5.6.7.8:3344, seed 0.
  EXPECT_EQ(community_id_v1(tuple(6, "1.2.3.4", "5.6.7.8", 1122, 3344)), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
}

TEST(CommunityId, IcmpTypesMapToPortsAsZeekDoes) {
  FlowTuple request = tuple(1, "192.168.0.89", "192.168.0.1", 0, 0);
  map_icmp_to_ports(1, 8, 0, request);  // echo request: (8, 0), two-way
  EXPECT_EQ(request.src_port, 8);
  EXPECT_EQ(request.dst_port, 0);
  EXPECT_FALSE(request.one_way);
  EXPECT_EQ(community_id_v1(request), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=");
  FlowTuple reply = tuple(1, "192.168.0.1", "192.168.0.89", 0, 0);
  map_icmp_to_ports(1, 0, 0, reply);  // echo reply: (0, 8): the same flow
  EXPECT_EQ(community_id_v1(reply), community_id_v1(request));
  FlowTuple unreachable = tuple(1, "10.0.0.2", "10.0.0.1", 0, 0);
  map_icmp_to_ports(1, 3, 1, unreachable);  // no counterpart: (type, code), never reordered
  EXPECT_TRUE(unreachable.one_way);
  EXPECT_EQ(unreachable.src_port, 3);
  EXPECT_EQ(unreachable.dst_port, 1);
  FlowTuple flipped = tuple(1, "10.0.0.1", "10.0.0.2", 3, 1);
  flipped.one_way = true;
  EXPECT_NE(community_id_v1(unreachable), community_id_v1(flipped));
  FlowTuple neighbour = tuple(58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 0, 0);
  map_icmp_to_ports(58, 135, 0, neighbour);
  EXPECT_EQ(community_id_v1(neighbour), "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=");
}

}  // namespace
}  // namespace metaids::detect

// Per-family session planners: what each kind of traffic looks like on the wire.
#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "synth/plan.h"

namespace metaids::synth {

namespace {
constexpr std::string_view kFamilyNames[kFamilyCount] = {
    "web", "dns", "ssh", "portscan", "synflood", "bruteforce", "slowhttp", "beacon", "exfil"};
constexpr std::string_view kFamilyLabels[kFamilyCount] = {
    "BENIGN", "BENIGN", "BENIGN", "PortScan", "DoS SYN Flood", "Brute Force", "DoS slowloris", "Bot",
    "Infiltration"};
}  // namespace

std::string_view family_name(Family family) { return kFamilyNames[static_cast<std::size_t>(family)]; }
std::string_view family_label(Family family) { return kFamilyLabels[static_cast<std::size_t>(family)]; }
bool is_attack(Family family) { return static_cast<int>(family) >= static_cast<int>(Family::PortScan); }

std::optional<Family> parse_family(std::string_view name) {
  for (std::size_t i = 0; i < kFamilyCount; ++i) {
    if (kFamilyNames[i] == name) return static_cast<Family>(i);
  }
  return std::nullopt;
}

std::string_view flow_end_name(FlowEnd end) {
  switch (end) {
    case FlowEnd::Fin: return "fin";
    case FlowEnd::Rst: return "rst";
    case FlowEnd::Timeout: return "timeout";
  }
  return "timeout";
}

}  // namespace metaids::synth

namespace metaids::synth::detail {

using namespace wire;

namespace {

std::uint64_t us(double value) { return static_cast<std::uint64_t>(std::llround(value < 0 ? 0 : value)); }

constexpr std::uint64_t kDelayedAckUs = 40'000;

constexpr std::string_view kWords[] = {
    "alpha", "river", "stone", "cloud", "maple", "orbit", "pixel", "delta", "ember", "frost",
    "grove", "harbor", "iris", "jade", "kite", "lumen", "meadow", "nova", "ocean", "pine",
    "quartz", "raven", "solar", "tide", "umber", "vale", "willow", "xenon", "yarrow", "zephyr",
    "atlas", "birch"};

std::string_view word(Rng& rng) { return kWords[rng.below(std::size(kWords))]; }

std::string host_name(Rng& rng) {
  return std::string("www.") + std::string(word(rng)) + std::to_string(rng.below(100)) + ".example";
}

// The receiver acknowledges data seen at `t_data` after the delayed-ACK timer, unless it
// sends something itself before then (`t_next_own`).
void delayed_ack(TcpPlan& tcp, int side, std::uint64_t t_data, std::uint64_t t_next_own) {
  if (!tcp.has_unacked_data_from(1 - side)) return;
  const std::uint64_t at = t_data + tcp.react(side) + kDelayedAckUs;
  if (t_next_own > at) tcp.add(side, at, kAck);
}

// `side` sends text at t; the other side answers `reply` after `think` (application time);
// returns the time of the reply's last segment.
std::uint64_t request_reply(TcpPlan& tcp, int side, std::uint64_t t, std::string_view request,
                            std::string_view reply, std::uint64_t think) {
  const int other = 1 - side;
  const std::uint64_t t_request = tcp.send_text(side, t, request, false);
  const std::uint64_t t_reply = t_request + tcp.react(other) + think;
  delayed_ack(tcp, other, t_request, t_reply);
  return tcp.send_text(other, t_reply, reply, false);
}

// Same with opaque (encrypted) bytes instead of text.
std::uint64_t opaque_exchange(TcpPlan& tcp, int side, std::uint64_t t, std::uint64_t bytes,
                              std::uint64_t reply_bytes, std::uint64_t think) {
  const int other = 1 - side;
  const std::uint64_t t_request = tcp.send(side, t, bytes, 100, 64, false);
  const std::uint64_t t_reply = t_request + tcp.react(other) + think;
  delayed_ack(tcp, other, t_request, t_reply);
  return tcp.send(other, t_reply, reply_bytes, 100, 64, false);
}

std::string http_request(Rng& rng, const std::string& host, std::string_view method = "GET") {
  std::string request(method);
  request += " /";
  request += word(rng);
  if (rng.chance(0.6)) {
    request += '/';
    request += word(rng);
    request += std::to_string(rng.below(10000));
    request += rng.chance(0.5) ? ".html" : ".png";
  }
  request += " HTTP/1.1\r\nHost: ";
  request += host;
  request +=
      "\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\n"
      "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8\r\n"
      "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\n";
  if (rng.chance(0.5)) {
    request += "Cookie: session=";
    const auto length = rng.between(16, 300);
    for (std::int64_t i = 0; i < length; ++i) request += "0123456789abcdef"[rng.below(16)];
    request += "\r\n";
  }
  request += "Connection: keep-alive\r\n";
  if (method == "POST") {
    std::string form = "q=" + std::string(word(rng)) + "&page=" + std::to_string(rng.below(100)) + "&token=";
    const auto length = rng.between(8, 200);
    for (std::int64_t i = 0; i < length; ++i) form += "0123456789abcdef"[rng.below(16)];
    request += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " + std::to_string(form.size()) +
               "\r\n\r\n" + form;
    return request;
  }
  request += "\r\n";
  return request;
}

std::string http_response_header(Rng& rng, int status, std::uint64_t body_bytes) {
  std::string header = status == 200 ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 304 Not Modified\r\n";
  header += "Server: nginx/1.22.1\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\n";
  if (status == 200) {
    header += rng.chance(0.7) ? "Content-Type: text/html; charset=utf-8\r\n" : "Content-Type: text/plain\r\n";
    header += "Content-Length: " + std::to_string(body_bytes) + "\r\n";
  }
  header += "Connection: keep-alive\r\n\r\n";
  return header;
}

// DNS messages (RFC 1035) for one question; answers are A (4 bytes) or AAAA (16 bytes).
void append_name(std::string& message, const std::string& name) {
  std::size_t start = 0;
  while (start < name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    message += static_cast<char>(dot - start);
    message.append(name, start, dot - start);
    start = dot + 1;
  }
  message += '\0';
}
void append16(std::string& message, std::uint32_t value) {
  message += static_cast<char>((value >> 8) & 0xFF);
  message += static_cast<char>(value & 0xFF);
}
std::string dns_query(std::uint16_t id, const std::string& name, std::uint16_t type) {
  std::string message;
  append16(message, id);
  append16(message, 0x0100);  // standard query, recursion desired
  append16(message, 1);
  append16(message, 0);
  append16(message, 0);
  append16(message, 0);
  append_name(message, name);
  append16(message, type);
  append16(message, 1);  // class IN
  return message;
}
std::string dns_response(Rng& rng, const std::string& query, std::uint16_t type, int answers) {
  std::string message = query;
  message[2] = static_cast<char>(0x81);  // response, recursion desired + available
  message[3] = static_cast<char>(0x80);
  message[6] = 0;
  message[7] = static_cast<char>(answers);
  for (int i = 0; i < answers; ++i) {
    append16(message, 0xC00C);  // pointer to the question name
    append16(message, type);
    append16(message, 1);
    append16(message, 0);
    append16(message, static_cast<std::uint32_t>(rng.between(30, 3600)));
    const int length = type == 1 ? 4 : 16;
    append16(message, static_cast<std::uint32_t>(length));
    for (int b = 0; b < length; ++b) message += static_cast<char>(rng.below(256));
  }
  return message;
}

// Big-endian byte building for protocol messages.
struct Bytes {
  std::string data;
  void u8(std::uint32_t v) { data += static_cast<char>(v & 0xFF); }
  void u16(std::uint32_t v) { u8(v >> 8); u8(v); }
  void u24(std::uint32_t v) { u8(v >> 16); u16(v); }
  void u32(std::uint32_t v) { u16(v >> 16); u16(v); }
  void text(std::string_view v) { data += v; }
  void random(Rng& rng, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) u8(static_cast<std::uint32_t>(rng.below(256)));
  }
  void ssh_string(std::string_view v) { u32(static_cast<std::uint32_t>(v.size())); text(v); }
};

// RFC 4253 6: packet_length, padding_length, payload, random padding (total a multiple of 8).
std::string ssh_packet(Rng& rng, std::string_view payload) {
  std::size_t padding = 8 - (4 + 1 + payload.size()) % 8;
  if (padding < 4) padding += 8;
  Bytes packet;
  packet.u32(static_cast<std::uint32_t>(1 + payload.size() + padding));
  packet.u8(static_cast<std::uint32_t>(padding));
  packet.text(payload);
  packet.random(rng, padding);
  return packet.data;
}

std::string ssh_kexinit(Rng& rng, bool server) {
  Bytes payload;
  payload.u8(20);  // SSH_MSG_KEXINIT
  payload.random(rng, 16);
  payload.ssh_string(server ? "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,"
                              "ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
                              "diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,"
                              "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256"
                            : "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
                              "ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,"
                              "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,ext-info-c");
  payload.ssh_string(server ? "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519"
                            : "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,"
                              "rsa-sha2-512-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,"
                              "rsa-sha2-256");
  constexpr std::string_view kCiphers =
      "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com";
  constexpr std::string_view kMacs =
      "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,"
      "hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1";
  for (int direction = 0; direction < 2; ++direction) payload.ssh_string(kCiphers);
  for (int direction = 0; direction < 2; ++direction) payload.ssh_string(kMacs);
  for (int direction = 0; direction < 2; ++direction) payload.ssh_string("none,zlib@openssh.com");
  payload.ssh_string("");
  payload.ssh_string("");
  payload.u8(0);   // first_kex_packet_follows
  payload.u32(0);  // reserved
  return ssh_packet(rng, payload.data);
}

std::string ssh_ecdh_init(Rng& rng) {
  Bytes payload;
  payload.u8(30);  // SSH_MSG_KEX_ECDH_INIT
  Bytes key;
  key.random(rng, 32);
  payload.ssh_string(key.data);
  return ssh_packet(rng, payload.data);
}

// KEX_ECDH_REPLY (ed25519 host key, curve25519 key, signature) followed by NEWKEYS.
std::string ssh_ecdh_reply_and_newkeys(Rng& rng) {
  Bytes host_key, server_key, signature, payload;
  host_key.ssh_string("ssh-ed25519");
  Bytes raw;
  raw.random(rng, 32);
  host_key.ssh_string(raw.data);
  server_key.random(rng, 32);
  signature.ssh_string("ssh-ed25519");
  raw.data.clear();
  raw.random(rng, 64);
  signature.ssh_string(raw.data);
  payload.u8(31);  // SSH_MSG_KEX_ECDH_REPLY
  payload.ssh_string(host_key.data);
  payload.ssh_string(server_key.data);
  payload.ssh_string(signature.data);
  return ssh_packet(rng, payload.data) + ssh_packet(rng, std::string(1, '\x15'));
}

constexpr std::string_view kSshServerBanner = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
constexpr std::string_view kSshClientBanners[] = {"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
                                                  "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n",
                                                  "SSH-2.0-PuTTY_Release_0.79\r\n"};
constexpr std::string_view kSshAttackBanners[] = {"SSH-2.0-paramiko_3.1.0\r\n", "SSH-2.0-libssh_0.10.4\r\n"};

// Banners, key exchange and NEWKEYS; returns the time of the last packet. Everything after
// NEWKEYS is encrypted (filler bytes).
std::uint64_t ssh_prelude(TcpPlan& tcp, Session& session, Rng& rng, std::uint64_t t, std::string_view client_banner) {
  const std::uint64_t t_server_banner = t + tcp.react(1) + us(rng.uniform(300, 3000));
  std::uint64_t t_banner = tcp.send_text(1, t_server_banner, kSshServerBanner, false);
  t_banner = tcp.send_text(0, t_banner + tcp.react(0) + us(rng.uniform(100, 1500)), client_banner, false);
  // Client KEXINIT right after its banner; server KEXINIT after reading the client banner.
  const std::uint64_t t_client_kex = tcp.send_text(0, t_banner + us(rng.uniform(50, 300)), ssh_kexinit(rng, false), false);
  std::uint64_t t_now = tcp.send_text(1, std::max(t_banner, t_client_kex) + tcp.react(1) + us(rng.uniform(200, 800)),
                                      ssh_kexinit(rng, true), false);
  t_now = std::max(t_now, t_client_kex);
  t_now = tcp.send_text(0, t_now + tcp.react(0) + us(rng.uniform(100, 600)), ssh_ecdh_init(rng), false);
  t_now = tcp.send_text(1, t_now + tcp.react(1) + us(rng.uniform(800, 4000)), ssh_ecdh_reply_and_newkeys(rng), false);
  // Client NEWKEYS + encrypted service request; the server accepts.
  session.add_literal(0, tcp.stream_offset(0), ssh_packet(rng, std::string(1, '\x15')));
  return opaque_exchange(tcp, 0, t_now + tcp.react(0) + us(rng.uniform(200, 1500)), 16 + 52, 52,
                         us(rng.uniform(100, 600)));
}

// ---- TLS 1.3 (RFC 8446) as seen on the wire: clear hellos, then encrypted records ----------

std::string tls_record_header(std::uint32_t type, std::uint32_t length) {
  Bytes header;
  header.u8(type);
  header.u16(type == 0x16 ? 0x0301 : 0x0303);
  header.u16(length);
  return header.data;
}

std::string tls_client_hello(Rng& rng, std::string_view server_name, std::size_t target_bytes) {
  Bytes extensions;
  extensions.u16(0x0000);  // server_name
  extensions.u16(static_cast<std::uint32_t>(server_name.size() + 5));
  extensions.u16(static_cast<std::uint32_t>(server_name.size() + 3));
  extensions.u8(0);
  extensions.u16(static_cast<std::uint32_t>(server_name.size()));
  extensions.text(server_name);
  extensions.text(std::string_view("\x00\x2b\x00\x03\x02\x03\x04", 7));          // supported_versions: 1.3
  extensions.text(std::string_view("\x00\x0a\x00\x04\x00\x02\x00\x1d", 8));      // supported_groups: x25519
  extensions.text(std::string_view("\x00\x0d\x00\x06\x00\x04\x08\x07\x04\x03", 10));  // signature_algorithms
  extensions.text(std::string_view("\x00\x33\x00\x26\x00\x24\x00\x1d\x00\x20", 10));  // key_share x25519
  extensions.random(rng, 32);
  Bytes body;
  body.u16(0x0303);
  body.random(rng, 32);
  body.u8(32);
  body.random(rng, 32);  // legacy session id
  body.text(std::string_view("\x00\x06\x13\x01\x13\x02\x13\x03\x01\x00", 10));  // suites; null compression
  // The padding extension (RFC 7685) brings the record to the wanted size.
  const std::size_t fixed = 5 + 4 + body.data.size() + 2 + extensions.data.size() + 4;
  const std::size_t padding = target_bytes > fixed ? target_bytes - fixed : 0;
  extensions.u16(0x0015);
  extensions.u16(static_cast<std::uint32_t>(padding));
  extensions.data.append(padding, '\0');
  body.u16(static_cast<std::uint32_t>(extensions.data.size()));
  body.text(extensions.data);
  Bytes handshake;
  handshake.u8(1);  // client_hello
  handshake.u24(static_cast<std::uint32_t>(body.data.size()));
  handshake.text(body.data);
  return tls_record_header(0x16, static_cast<std::uint32_t>(handshake.data.size())) + handshake.data;
}

std::string tls_server_hello(Rng& rng) {
  Bytes body;
  body.u16(0x0303);
  body.random(rng, 32);
  body.u8(32);
  body.random(rng, 32);
  body.text(std::string_view("\x13\x01\x00", 3));  // TLS_AES_128_GCM_SHA256, null compression
  Bytes extensions;
  extensions.text(std::string_view("\x00\x2b\x00\x02\x03\x04", 6));
  extensions.text(std::string_view("\x00\x33\x00\x24\x00\x1d\x00\x20", 8));
  extensions.random(rng, 32);
  body.u16(static_cast<std::uint32_t>(extensions.data.size()));
  body.text(extensions.data);
  Bytes handshake;
  handshake.u8(2);  // server_hello
  handshake.u24(static_cast<std::uint32_t>(body.data.size()));
  handshake.text(body.data);
  return tls_record_header(0x16, static_cast<std::uint32_t>(handshake.data.size())) + handshake.data;
}

constexpr std::string_view kChangeCipherSpec("\x14\x03\x03\x00\x01\x01", 6);

// Frames `bytes` of encrypted application data into records of at most 16 406 bytes (the
// caller makes sure the last one has a body) at the current stream offset of `side`; the record bodies are filler.
void tls_frame_records(TcpPlan& tcp, Session& session, int side, std::uint64_t bytes) {
  std::uint64_t offset = tcp.stream_offset(side);
  std::uint64_t left = std::max<std::uint64_t>(bytes, 6);
  while (left > 0) {
    const std::uint64_t record = std::min<std::uint64_t>(left, 5 + 16'401);
    session.add_literal(side, static_cast<std::uint32_t>(offset), tls_record_header(0x17, static_cast<std::uint32_t>(record - 5)));
    offset += record;
    left -= record;
  }
}

// Application data from `side` at t in TLS records; returns the time of the last segment.
std::uint64_t tls_send(TcpPlan& tcp, Session& session, int side, std::uint64_t t, std::uint64_t bytes,
                       std::uint64_t gap_us = 100, std::uint32_t max_window = 64, bool ack_tail = false) {
  bytes = std::max<std::uint64_t>(bytes, 6);
  const std::uint64_t last_record = bytes % 16'406;
  if (last_record > 0 && last_record < 6) bytes += 6 - last_record;  // every record has a body
  tls_frame_records(tcp, session, side, bytes);
  return tcp.send(side, t, bytes, gap_us, max_window, ack_tail);
}

std::uint64_t tls_prelude(TcpPlan& tcp, Session& session, Rng& rng, std::uint64_t t) {
  const std::uint64_t t_hello = tcp.send_text(0, t, tls_client_hello(rng, host_name(rng), static_cast<std::size_t>(rng.between(250, 600))), false);
  // ServerHello, ChangeCipherSpec, then encrypted extensions, certificate, verify, finished.
  const std::string hello = tls_server_hello(rng) + std::string(kChangeCipherSpec);
  session.add_literal(1, tcp.stream_offset(1), hello);
  const auto encrypted = static_cast<std::uint64_t>(rng.between(1200, 4500));
  const std::uint64_t offset_after_hello = tcp.stream_offset(1) + hello.size();
  session.add_literal(1, static_cast<std::uint32_t>(offset_after_hello), tls_record_header(0x17, static_cast<std::uint32_t>(encrypted - 5)));
  std::uint64_t t_now = tcp.send(1, t_hello + tcp.react(1) + us(rng.uniform(300, 3000)), hello.size() + encrypted, 100, 64, false);
  // Client ChangeCipherSpec + Finished; the server answers with session tickets.
  session.add_literal(0, tcp.stream_offset(0), kChangeCipherSpec);
  session.add_literal(0, tcp.stream_offset(0) + 6, tls_record_header(0x17, 53));
  const std::uint64_t t_finished = tcp.send(0, t_now + tcp.react(0) + us(rng.uniform(300, 2000)), 6 + 5 + 53, 100, 64, false);
  const std::uint64_t t_tickets = t_finished + tcp.react(1) + us(rng.uniform(100, 1000));
  delayed_ack(tcp, 1, t_finished, t_tickets);
  return tls_send(tcp, session, 1, t_tickets, static_cast<std::uint64_t>(rng.between(50, 300)));
}

// A TLS request from `side` and the other side's answer after `think`.
std::uint64_t tls_exchange(TcpPlan& tcp, Session& session, int side, std::uint64_t t, std::uint64_t bytes,
                           std::uint64_t reply_bytes, std::uint64_t think) {
  const int other = 1 - side;
  const std::uint64_t t_request = tls_send(tcp, session, side, t, bytes);
  const std::uint64_t t_reply = t_request + tcp.react(other) + think;
  delayed_ack(tcp, other, t_request, t_reply);
  return tls_send(tcp, session, other, t_reply, reply_bytes);
}

// ---- families ---------------------------------------------------------------------------

void plan_web(Session& session, const SessionStart& start, Rng& rng) {
  session.filler = Filler::Text;
  const double rtt = start.responder_internal ? rng.lognormal(400, 0.5, 100, 5000) : rng.lognormal(25'000, 0.6, 1'000, 400'000);
  TcpPlan tcp(session, rng, us(rng.uniform(30, 150)), us(rtt));
  const double megabits = rng.lognormal(100, 0.8, 5, 1000);
  const auto gap = std::max<std::uint64_t>(12, us(11'680.0 / megabits));
  const auto window = static_cast<std::uint32_t>(std::clamp(megabits * rtt / 11'680.0, 10.0, 512.0));
  std::uint64_t t = tcp.handshake(start.time_us);
  const std::string host = host_name(rng);
  const std::uint32_t requests = 1 + rng.geometric(0.45, 30);
  for (std::uint32_t i = 0; i < requests; ++i) {
    t += us(rng.uniform(50, 400));
    const std::uint64_t t_request = tcp.send_text(0, t, http_request(rng, host, rng.chance(0.9) ? "GET" : "POST"), false);
    const double think = rng.lognormal(6'000, 1.0, 200, 3'000'000);
    const std::uint64_t t_response = t_request + tcp.react(1) + us(think);
    delayed_ack(tcp, 1, t_request, t_response);
    const int status = rng.chance(0.9) ? 200 : 304;
    const auto body = status == 200 ? us(rng.lognormal(6'000, 1.6, 0, 4'000'000)) : 0;
    const std::string header = http_response_header(rng, status, body);
    session.add_literal(1, tcp.stream_offset(1), header);
    const std::uint64_t t_last_data = tcp.send(1, t_response, header.size() + body, gap, window, false);
    const std::uint64_t user_think = i + 1 < requests ? us(rng.lognormal(400'000, 1.2, 5'000, 20'000'000)) : 0;
    t = std::max(tcp.last_time(), t_last_data + tcp.react(0)) + user_think;
    delayed_ack(tcp, 0, t_last_data, i + 1 < requests ? t : UINT64_MAX);
    t = std::max(t, tcp.last_time());
  }
  if (rng.chance(0.6)) {
    tcp.close(0, t + us(rng.lognormal(200'000, 1.0, 1'000, 10'000'000)));
  } else {
    tcp.close(1, t + 5'000'000 + tcp.react(1) / 2);  // server keep-alive timeout
  }
}

void plan_dns(Session& session, const SessionStart& start, Rng& rng) {
  session.protocol = kProtocolUdp;
  session.side[0].dont_fragment = false;
  session.side[1].dont_fragment = false;
  const std::string name = host_name(rng);
  const int queries = rng.chance(0.5) ? 2 : 1;  // A, or A + AAAA from the same socket
  const double delay = rng.lognormal(1'500, 1.2, 150, 300'000);
  std::uint32_t offset[2] = {0, 0};
  std::uint64_t t = start.time_us;
  for (int q = 0; q < queries; ++q) {
    const auto id = static_cast<std::uint16_t>(rng.next_u32());
    const std::uint16_t type = q == 0 ? 1 : 28;
    const std::string query = dns_query(id, name, type);
    const std::string response = dns_response(rng, query, type, static_cast<int>(rng.between(1, 3)));
    const std::uint64_t t_response = t + us(delay * rng.uniform(0.8, 1.25));
    session.add_literal(0, offset[0], query);
    session.segments.push_back({t, 0, 0, offset[0], static_cast<std::uint16_t>(query.size()), 0, 0, 0, TcpOptions::None});
    offset[0] += static_cast<std::uint32_t>(query.size());
    session.add_literal(1, offset[1], response);
    session.segments.push_back(
        {t_response, 0, 0, offset[1], static_cast<std::uint16_t>(response.size()), 0, 0, 1, TcpOptions::None});
    offset[1] += static_cast<std::uint32_t>(response.size());
    t += us(rng.uniform(20, 300));
  }
}

void plan_ssh(Session& session, const SessionStart& start, Rng& rng) {
  TcpPlan tcp(session, rng, us(rng.uniform(60, 300)), us(rng.uniform(100, 600)));
  std::uint64_t t = tcp.handshake(start.time_us);
  t = ssh_prelude(tcp, session, rng, t, kSshClientBanners[rng.below(std::size(kSshClientBanners))]);
  // Public-key authentication and channel/pty/shell setup.
  t = opaque_exchange(tcp, 0, t + us(rng.uniform(200, 2000)), 68, 52, us(rng.uniform(100, 500)));
  t = opaque_exchange(tcp, 0, t + us(rng.uniform(500, 3000)), static_cast<std::uint64_t>(rng.between(380, 640)), 36,
                      us(rng.uniform(500, 3000)));
  t = opaque_exchange(tcp, 0, t + us(rng.uniform(200, 2000)), static_cast<std::uint64_t>(rng.between(300, 700)),
                      static_cast<std::uint64_t>(rng.between(600, 1500)), us(rng.uniform(2'000, 30'000)));
  // Interactive: typed commands echoed one key at a time, then the command's output.
  const auto commands = rng.between(1, 12);
  for (std::int64_t c = 0; c < commands; ++c) {
    t += us(rng.lognormal(3'000'000, 1.0, 300'000, 60'000'000));
    const auto keys = rng.between(2, 40);
    for (std::int64_t k = 0; k < keys; ++k) {
      tcp.add(0, t, kPsh | kAck, 36);
      const std::uint64_t t_echo = t + tcp.react(1) + us(rng.uniform(30, 300));
      tcp.add(1, t_echo, kPsh | kAck, 36);
      const std::uint64_t t_next = t + us(rng.lognormal(180'000, 0.6, 30'000, 2'000'000));
      delayed_ack(tcp, 0, t_echo, t_next);
      t = t_next;
    }
    // Enter: the output arrives in one or more segments.
    tcp.add(0, t, kPsh | kAck, 36);
    const auto output = us(rng.lognormal(600, 1.5, 36, 200'000));
    tcp.send(1, t + tcp.react(1) + us(rng.uniform(500, 50'000)), output, 20, 64, true);
    t = tcp.last_time();
  }
  // "exit": the server closes the connection first.
  t = opaque_exchange(tcp, 0, t + us(rng.uniform(500'000, 3'000'000)), 36, 36 + 44, us(rng.uniform(200, 2000)));
  tcp.close(1, t + us(rng.uniform(100, 2000)));
}

void plan_port_scan(Session& session, const SessionStart& start, Rng& rng) {
  TcpPlan tcp(session, rng, us(rng.lognormal(40'000, 0.5, 5'000, 200'000)), us(rng.uniform(20, 120)));
  tcp.set_window(0, 1024);
  tcp.add(0, start.time_us, kSyn, 0, TcpOptions::MssOnly);
  const std::uint64_t t_reply = start.time_us + tcp.react(1);
  switch (start.port_state) {
    case PortState::Open:
      tcp.add(1, t_reply, kSyn | kAck, 0, TcpOptions::SynAck);
      tcp.add(0, t_reply + tcp.react(0), kRst);  // the scanner's kernel never opened it
      session.segments.back().ack = 0;
      break;
    case PortState::Closed:
      tcp.add(1, t_reply, kRst | kAck);
      session.segments.back().seq = 0;
      break;
    case PortState::Filtered: {
      Segment retransmit = session.segments.front();  // the scanner retries once
      retransmit.time_us = start.time_us + us(rng.uniform(1'000'000, 1'500'000));
      session.segments.push_back(retransmit);
      break;
    }
  }
}

void plan_syn_flood(Session& session, const SessionStart& start, Rng& rng) {
  TcpPlan tcp(session, rng, 1'000'000, us(rng.uniform(15, 80)));
  tcp.set_window(0, static_cast<std::uint16_t>(rng.between(512, 65535)));
  session.side[0].ttl = static_cast<std::uint8_t>(rng.between(32, 250));
  session.side[0].dont_fragment = false;
  tcp.add(0, start.time_us, kSyn);
  if (start.flood_reply) {
    // The victim answers while its backlog has room and retransmits (1 s, then 2 s later).
    tcp.add(1, start.time_us + tcp.react(1), kSyn | kAck, 0, TcpOptions::SynAck);
    Segment retransmit = session.segments.back();
    retransmit.time_us += 1'000'000 + us(rng.uniform(0, 2'000));
    session.segments.push_back(retransmit);
    retransmit.time_us += 2'000'000 + us(rng.uniform(0, 2'000));
    session.segments.push_back(retransmit);
  }
}

void plan_brute_force(Session& session, const SessionStart& start, Rng& rng) {
  const bool ftp = start.responder_port == 21;
  session.label_index = ftp ? kLabelFtpPatator : kLabelSshPatator;
  TcpPlan tcp(session, rng, us(rng.lognormal(30'000, 0.6, 2'000, 200'000)), us(rng.uniform(50, 250)));
  std::uint64_t t = tcp.handshake(start.time_us);
  const auto attempts = rng.between(1, 3);
  if (ftp) {
    session.filler = Filler::Text;
    const std::uint64_t t_banner = t + tcp.react(1) + us(rng.uniform(200, 2'000));
    t = tcp.send_text(1, t_banner, "220 (vsFTPd 3.0.3)\r\n", false);
    for (std::int64_t a = 0; a < attempts; ++a) {
      const std::string user = std::string("USER ") + (rng.chance(0.5) ? "admin" : "root") + "\r\n";
      t = request_reply(tcp, 0, t + tcp.react(0) + us(rng.uniform(100, 800)), user,
                        "331 Please specify the password.\r\n", us(rng.uniform(50, 400)));
      const std::string pass = "PASS " + std::string(word(rng)) + std::to_string(rng.below(10000)) + "\r\n";
      t = request_reply(tcp, 0, t + tcp.react(0) + us(rng.uniform(100, 800)), pass, "530 Login incorrect.\r\n",
                        us(rng.uniform(800'000, 3'000'000)));
    }
    const double ending = rng.uniform();
    if (ending < 0.6) {
      t = tcp.send_text(0, t + tcp.react(0) + us(rng.uniform(100, 800)), "QUIT\r\n", false);
      t = tcp.send_text(1, t + tcp.react(1) + us(rng.uniform(50, 300)), "221 Goodbye.\r\n", false);
      tcp.close(1, t + us(rng.uniform(20, 200)));
    } else if (ending < 0.9) {
      tcp.close(0, t + tcp.react(0) + us(rng.uniform(100, 800)));
    } else {
      tcp.reset(0, t + tcp.react(0) + us(rng.uniform(100, 800)));
    }
    return;
  }
  t = ssh_prelude(tcp, session, rng, t, kSshAttackBanners[rng.below(std::size(kSshAttackBanners))]);
  for (std::int64_t a = 0; a < attempts; ++a) {
    // Password request, failure after the server's penalty delay.
    t = opaque_exchange(tcp, 0, t + tcp.react(0) + us(rng.uniform(100, 1'000)),
                        static_cast<std::uint64_t>(rng.between(84, 132)), 52, us(rng.uniform(1'500'000, 3'000'000)));
  }
  if (rng.chance(0.8)) {
    tcp.close(0, t + tcp.react(0) + us(rng.uniform(100, 2'000)));
  } else {
    tcp.reset(0, t + tcp.react(0) + us(rng.uniform(100, 2'000)));
  }
}

void plan_slow_http(Session& session, const SessionStart& start, Rng& rng) {
  session.filler = Filler::Text;
  TcpPlan tcp(session, rng, us(rng.lognormal(30'000, 0.6, 2'000, 200'000)), us(rng.uniform(50, 250)));
  std::uint64_t t = tcp.handshake(start.time_us);
  std::string partial = "GET /?" + std::to_string(rng.below(2000)) +
                        " HTTP/1.1\r\nHost: " + format_ipv4(start.responder_ip) + "\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\n"
                        "Accept-language: en-US,en,q=0.5\r\n";
  t = tcp.send_text(0, t + us(rng.uniform(100, 2'000)), partial, false);
  delayed_ack(tcp, 1, t, UINT64_MAX);
  const std::uint64_t end = start.time_us + us(rng.lognormal(90'000'000, 0.7, 20'000'000, 600'000'000));
  std::uint64_t next = t + us(rng.uniform(10'000'000, 15'000'000));
  while (next < end) {
    const std::string header = "X-a: " + std::to_string(rng.between(1, 5000)) + "\r\n";
    t = tcp.send_text(0, next, header, false);
    delayed_ack(tcp, 1, t, UINT64_MAX);
    next = t + us(rng.uniform(10'000'000, 15'000'000));
  }
  t = std::max(tcp.last_time(), end);
  if (rng.chance(0.5)) {
    // The server gives up on the request: 408 and close.
    t = tcp.send_text(1, t, "HTTP/1.1 408 Request Timeout\r\nServer: nginx/1.22.1\r\nContent-Length: 0\r\n"
                            "Connection: close\r\n\r\n", false);
    tcp.close(1, t + us(rng.uniform(20, 200)));
  } else {
    tcp.reset(0, t);  // the attack tool is stopped
  }
}

void plan_beacon(Session& session, const SessionStart& start, Rng& rng) {
  TcpPlan tcp(session, rng, us(rng.uniform(30, 150)), us(rng.lognormal(60'000, 0.5, 5'000, 500'000)));
  std::uint64_t t = tcp.handshake(start.time_us);
  t = tls_prelude(tcp, session, rng, t + us(rng.uniform(50, 300)));
  // Check-in and tasking (usually "nothing to do").
  const auto tasking = rng.chance(0.9) ? static_cast<std::uint64_t>(rng.between(40, 120)) : us(rng.lognormal(4'000, 1.0, 200, 100'000));
  t = tls_exchange(tcp, session, 0, t + tcp.react(0) + us(rng.uniform(100, 1'000)),
                   static_cast<std::uint64_t>(rng.between(150, 600)), tasking, us(rng.uniform(1'000, 20'000)));
  tcp.close(0, t + tcp.react(0) + us(rng.uniform(1'000, 50'000)));
}

void plan_exfiltration(Session& session, const SessionStart& start, Rng& rng) {
  const double rtt = rng.lognormal(40'000, 0.5, 5'000, 300'000);
  TcpPlan tcp(session, rng, us(rng.uniform(30, 150)), us(rtt));
  const double megabits = rng.lognormal(40, 0.6, 5, 500);
  const auto gap = std::max<std::uint64_t>(12, us(11'680.0 / megabits));
  const auto window = static_cast<std::uint32_t>(std::clamp(megabits * rtt / 11'680.0, 10.0, 1024.0));
  std::uint64_t t = tcp.handshake(start.time_us);
  t = tls_prelude(tcp, session, rng, t + us(rng.uniform(50, 300)));
  const auto bytes = us(rng.lognormal(5'000'000, 0.8, 500'000, 200'000'000));
  t = tls_send(tcp, session, 0, t + tcp.react(0) + us(rng.uniform(100, 1'000)), bytes, gap, window, false);
  t = tls_send(tcp, session, 1, t + tcp.react(1) + us(rng.uniform(1'000, 20'000)),
               static_cast<std::uint64_t>(rng.between(80, 300)));
  tcp.close(0, t + tcp.react(0) + us(rng.uniform(1'000, 50'000)));
}

}  // namespace

// ---- TcpPlan ----------------------------------------------------------------------------

TcpPlan::TcpPlan(Session& session, Rng& rng, std::uint64_t react_initiator_us, std::uint64_t react_responder_us)
    : session_(session) {
  next_seq_[0] = rng.next_u32();
  next_seq_[1] = rng.next_u32();
  window_[0] = 64'240;
  window_[1] = 65'160;
  react_us_[0] = std::max<std::uint64_t>(1, react_initiator_us);
  react_us_[1] = std::max<std::uint64_t>(1, react_responder_us);
}

void TcpPlan::add_with_ack(int side, std::uint64_t time_us, std::uint8_t flags, std::uint32_t payload,
                           std::uint32_t ack) {
  Segment segment;
  segment.time_us = time_us;
  segment.seq = next_seq_[side];
  segment.ack = (flags & kAck) ? ack : 0;
  segment.stream_offset = stream_[side];
  segment.payload_length = static_cast<std::uint16_t>(payload);
  segment.window = window_[side];
  segment.flags = flags;
  segment.from_responder = static_cast<std::uint8_t>(side);
  session_.segments.push_back(segment);
  next_seq_[side] += payload + ((flags & kSyn) ? 1 : 0) + ((flags & kFin) ? 1 : 0);
  if ((flags & kAck) && unacked_side_ == 1 - side && ack == next_seq_[1 - side]) unacked_side_ = -1;
  if (payload > 0) unacked_side_ = side;
  stream_[side] += payload;
  last_time_ = std::max(last_time_, time_us);
}

void TcpPlan::add(int side, std::uint64_t time_us, std::uint8_t flags, std::uint32_t payload, TcpOptions options) {
  add_with_ack(side, time_us, flags, payload, next_seq_[1 - side]);
  session_.segments.back().options = options;
}

std::uint64_t TcpPlan::handshake(std::uint64_t t) {
  add(0, t, kSyn, 0, TcpOptions::Syn);
  const std::uint64_t t_syn_ack = t + react_us_[1];
  add(1, t_syn_ack, kSyn | kAck, 0, TcpOptions::SynAck);
  // After the handshake the windows are scaled (window scale 7).
  window_[0] = 502;
  window_[1] = 509;
  const std::uint64_t t_ack = t_syn_ack + react_us_[0];
  add(0, t_ack, kAck);
  return t_ack;
}

std::uint64_t TcpPlan::send(int side, std::uint64_t t, std::uint64_t bytes, std::uint64_t gap_us,
                            std::uint32_t max_window, bool ack_tail) {
  const int receiver = 1 - side;
  std::uint64_t round_start = t;
  std::uint64_t last_data = t;
  std::uint32_t window = std::min<std::uint32_t>(10, max_window);
  std::uint64_t remaining = bytes;
  while (remaining > 0) {
    std::uint64_t first_ack = UINT64_MAX;
    for (std::uint32_t i = 0; i < window && remaining > 0; ++i) {
      const auto length = static_cast<std::uint32_t>(std::min<std::uint64_t>(kMss, remaining));
      remaining -= length;
      const std::uint64_t time = round_start + i * gap_us;
      add(side, time, remaining == 0 ? (kPsh | kAck) : kAck, length);
      last_data = time;
      const bool pair_done = (i % 2) == 1;
      if (pair_done || (remaining == 0 && ack_tail)) {
        const std::uint64_t ack_time = time + react_us_[receiver] + (pair_done ? 0 : kDelayedAckUs);
        add_with_ack(receiver, ack_time, kAck, 0, next_seq_[side]);
        first_ack = std::min(first_ack, ack_time);
      }
    }
    if (remaining == 0) break;
    if (first_ack == UINT64_MAX) first_ack = last_data + react_us_[receiver];
    round_start = std::max(first_ack + react_us_[side], last_data + gap_us);
    window = std::min(window * 2, std::max<std::uint32_t>(max_window, 10));
  }
  return last_data;
}

std::uint64_t TcpPlan::send_text(int side, std::uint64_t t, std::string_view text, bool ack_tail) {
  session_.add_literal(side, stream_[side], text);
  return send(side, t, text.size(), 100, 64, ack_tail);
}

std::uint64_t TcpPlan::close(int side, std::uint64_t t) {
  t = std::max(t, last_time_ + 1);
  add(side, t, kFin | kAck);
  const std::uint64_t t_other = t + react_us_[1 - side] + 30;
  add(1 - side, t_other, kFin | kAck);
  const std::uint64_t t_last = t_other + react_us_[side];
  add(side, t_last, kAck);
  return t_last;
}

void TcpPlan::reset(int side, std::uint64_t t) {
  t = std::max(t, last_time_ + 1);
  add(side, t, kRst | kAck);
}

// ---- dispatch ---------------------------------------------------------------------------

std::uint8_t family_label_index(Family family) {
  switch (family) {
    case Family::Web:
    case Family::Dns:
    case Family::Ssh: return kLabelBenign;
    case Family::PortScan: return kLabelPortScan;
    case Family::SynFlood: return kLabelSynFlood;
    case Family::BruteForce: return kLabelBruteForce;
    case Family::SlowHttp: return kLabelSlowloris;
    case Family::Beacon: return kLabelBot;
    case Family::Exfiltration: return kLabelInfiltration;
  }
  return kLabelBenign;
}

std::array<std::uint8_t, 6> link_mac(std::uint32_t ip, bool internal) {
  if (!internal) return {0x00, 0x00, 0x5e, 0x00, 0x01, 0x01};  // the gateway (VRRP-style MAC)
  return {0x52, 0x54, static_cast<std::uint8_t>(ip >> 24), static_cast<std::uint8_t>(ip >> 16),
          static_cast<std::uint8_t>(ip >> 8), static_cast<std::uint8_t>(ip)};
}

void plan_session(Session& session, const SessionStart& start, Rng& rng) {
  session.family = start.family;
  session.label_index = family_label_index(start.family);
  session.protocol = kProtocolTcp;
  session.filler = Filler::Random;
  session.filler_salt[0] = rng.next_u32();
  session.filler_salt[1] = rng.next_u32();
  const std::uint32_t ips[2] = {start.initiator_ip, start.responder_ip};
  const std::uint16_t ports[2] = {start.initiator_port, start.responder_port};
  const bool internal[2] = {start.initiator_internal, start.responder_internal};
  for (int s = 0; s < 2; ++s) {
    Endpoint& endpoint = session.side[static_cast<std::size_t>(s)];
    endpoint.ip = ips[s];
    endpoint.port = ports[s];
    endpoint.mac = link_mac(ips[s], internal[s]);
    endpoint.ttl = internal[s] ? 64 : static_cast<std::uint8_t>(rng.chance(0.8) ? rng.between(44, 60) : rng.between(108, 120));
    endpoint.ip_id = static_cast<std::uint16_t>(rng.next_u32());
    endpoint.dont_fragment = true;
  }
  switch (start.family) {
    case Family::Web: plan_web(session, start, rng); break;
    case Family::Dns: plan_dns(session, start, rng); break;
    case Family::Ssh: plan_ssh(session, start, rng); break;
    case Family::PortScan: plan_port_scan(session, start, rng); break;
    case Family::SynFlood: plan_syn_flood(session, start, rng); break;
    case Family::BruteForce: plan_brute_force(session, start, rng); break;
    case Family::SlowHttp: plan_slow_http(session, start, rng); break;
    case Family::Beacon: plan_beacon(session, start, rng); break;
    case Family::Exfiltration: plan_exfiltration(session, start, rng); break;
  }
  // Stable insertion sort: the plan is nearly in time order already, and this allocates nothing.
  auto& segments = session.segments;
  for (std::size_t i = 1; i < segments.size(); ++i) {
    if (segments[i].time_us >= segments[i - 1].time_us) continue;
    const Segment moving = segments[i];
    std::size_t j = i;
    while (j > 0 && segments[j - 1].time_us > moving.time_us) {
      segments[j] = segments[j - 1];
      --j;
    }
    segments[j] = moving;
  }
}

}  // namespace metaids::synth::detail

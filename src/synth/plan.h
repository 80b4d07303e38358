// Internal to metaids_synth: what a traffic source decided about a new session, and the
// per-family planners that turn it into segments.
#pragma once
#include <cstdint>
#include <string_view>

#include "synth/session.h"

namespace metaids::synth::detail {

// Labels written to the ground truth (index stored in Session::label_index).
inline constexpr std::string_view kLabels[] = {
    "BENIGN", "PortScan", "DoS SYN Flood", "FTP-Patator", "SSH-Patator",
    "DoS slowloris", "Bot", "Infiltration", "Brute Force"};
enum LabelIndex : std::uint8_t {
  kLabelBenign, kLabelPortScan, kLabelSynFlood, kLabelFtpPatator, kLabelSshPatator,
  kLabelSlowloris, kLabelBot, kLabelInfiltration, kLabelBruteForce
};

// What a port scan probe finds.
enum class PortState : std::uint8_t { Open, Closed, Filtered };

struct SessionStart {
  Family family = Family::Web;
  std::uint64_t time_us = 0;
  std::uint32_t initiator_ip = 0, responder_ip = 0;
  std::uint16_t initiator_port = 0, responder_port = 0;
  bool initiator_internal = true, responder_internal = true;
  PortState port_state = PortState::Closed;  // PortScan
  bool flood_reply = false;                  // SynFlood: the victim answers with SYN-ACKs
};

std::uint8_t family_label_index(Family family);

// Fills `session` (already reset) from `start`, drawing from `rng`.
void plan_session(Session& session, const SessionStart& start, Rng& rng);

// MAC of a host as it appears on the capture link: internal hosts have their own, everything
// else arrives through the gateway.
std::array<std::uint8_t, 6> link_mac(std::uint32_t ip, bool internal);

}  // namespace metaids::synth::detail

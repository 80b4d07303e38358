# Sourced by the live tests and bench/replay_drops.sh: a private network namespace holding a
# veth pair, mcap (where metaids captures) and mreplay (where tcpreplay sends), with no IPv6
# autoconfiguration or other chatter on the link. netns_up PREFIX sets $ns and $work (a
# temporary directory) and arranges that at exit the process in $capture_pid (if any) is
# killed, the namespace deleted and $work removed. A namespace that cannot be made skips (77).
in_ns() { ip netns exec "$ns" "$@"; }

netns_down() {
  [ -n "${capture_pid:-}" ] && kill "$capture_pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}

netns_up() {
  ns="$1-$$"
  work="$(mktemp -d)"
  capture_pid=""
  trap netns_down EXIT
  ip netns add "$ns" || { echo "SKIP: cannot create a network namespace here"; exit 77; }
  in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  in_ns ip link add mcap type veth peer name mreplay
  in_ns ip link set mcap up
  in_ns ip link set mreplay up
}

# Sourced by the service's shell tests and bench/serve_*.sh.
#
# serve_scratch: a scratch directory in $work, removed at exit with the server (if one was
# started) stopped.
serve_scratch() {
  work="$(mktemp -d)"
  server_pid=""
  trap serve_cleanup EXIT
}
serve_cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
#
# serve_start METAIDS LOG STATE [serve options...]: starts `metaids serve --state STATE` on a
# free loopback port in the background, its stderr in LOG (emptied first); sets server_pid,
# port and url. Returns 1, with the log's tail, when the server does not start.
serve_start() {
  local metaids="$1" log="$2" state="$3"
  shift 3
  : > "$log"
  "$metaids" serve --state "$state" --listen 127.0.0.1:0 "$@" 2>> "$log" &
  server_pid=$!
  port=""
  for _ in $(seq 100); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$log")
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "the server did not start:"; tail -n 20 "$log"; return 1; }
  url="http://127.0.0.1:$port"
}

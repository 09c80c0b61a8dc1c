#!/bin/sh
# `make demo`: run Tollgate on simulated providers. tollgate-sim plays every provider on
# 127.0.0.1:9090; the gateway serves http://127.0.0.1:8080/v1 in the foreground until ^C.
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
sim_log=$build/demo-sim.log

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0 || return 1
}
for p in 8080 9090; do
    if port_busy $p; then
        echo "tollgate demo: port $p is already in use (another demo still running?)." >&2
        echo "  stop it, or: pkill -f 'tollgate-sim --listen 127.0.0.1:9090'" >&2
        exit 1
    fi
done

"$build/tollgate-sim" --listen 127.0.0.1:9090 --quiet >"$sim_log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null; wait $sim 2>/dev/null || true' EXIT INT TERM
i=0
until grep -q "listening" "$sim_log" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 50 ] || ! kill -0 $sim 2>/dev/null; then
        echo "tollgate demo: tollgate-sim did not start:" >&2
        cat "$sim_log" >&2
        exit 1
    fi
    sleep 0.1
done

cat <<MSG

  Tollgate demo: http://127.0.0.1:8080/v1  (providers simulated by tollgate-sim on :9090)

  Try it from another terminal:
    curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \\
      -d '{"model":"gpt-4o","messages":[{"role":"user","content":"Hello!"}]}'
    curl -N http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \\
      -d '{"model":"deepseek-chat","stream":true,"messages":[{"role":"user","content":"Hi"}]}'
    $build/tollgatectl -c etc/demo.yaml status

  Access log: $build/demo-access.log    Stop: Ctrl-C

MSG
"$build/tollgate" -c etc/demo.yaml

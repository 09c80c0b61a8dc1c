#!/bin/bash
# `make demo`: run Tollgate on simulated providers. tollgate-sim plays every provider on
# 127.0.0.1:9090; the gateway serves http://127.0.0.1:8080/v1 until ^C. On first start a demo
# tenant and key are created; the key is printed and kept in build/demo.key.
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
sim_log=$build/demo-sim.log
key_file=$build/demo.key
ctl="$build/tollgatectl -c etc/demo.yaml"

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0 || return 1
}
for p in 8080 9090 9091; do
    if port_busy $p; then
        echo "tollgate demo: port $p is already in use (another demo still running?)." >&2
        echo "  stop it, or: pkill -f 'tollgate-sim --listen 127.0.0.1:9090'" >&2
        exit 1
    fi
done

"$build/tollgate-sim" --listen 127.0.0.1:9090 --quiet >"$sim_log" 2>&1 &
sim=$!
gw=
stop() {
    # ^C in a terminal reaches the gateway too (it drains on its own): give it a moment before
    # asking, since a second signal would make it stop at once instead of draining
    if [ -n "$gw" ]; then
        for _ in $(seq 10); do kill -0 "$gw" 2>/dev/null || break; sleep 0.1; done
        kill -TERM "$gw" 2>/dev/null
        wait "$gw" 2>/dev/null
    fi
    kill "$sim" 2>/dev/null
    wait "$sim" 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM
trap 'stop' EXIT
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

# the admin HTTP listener's token (etc/demo.yaml reads it): random, readable by us only
admin_token=build/demo-admin.token
if [ ! -s "$admin_token" ]; then
    (umask 077 && od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$admin_token")
fi

TOLLGATE_DEMO_ADMIN_TOKEN=$(cat "$admin_token") "$build/tollgate" -c etc/demo.yaml &
gw=$!
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/readyz 2>/dev/null)" = 200 ]; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 $gw 2>/dev/null; then
        echo "tollgate demo: the gateway did not start (see the lines above)" >&2
        exit 1
    fi
    sleep 0.1
done

# The demo key: reuse the one from an earlier run if the store still knows it, else make one.
key=
if [ -s "$key_file" ]; then
    key=$(cat "$key_file")
    id=$(printf '%s' "$key" | cut -d_ -f2)
    $ctl --json keys show "$id" 2>/dev/null | grep -q '"status":"active"' || key=
fi
if [ -z "$key" ]; then
    key=$($ctl --json keys create --tenant demo --name demo-key |
          sed -n 's/.*"secret":"\(tg_[A-Za-z0-9_]*\)".*/\1/p')
    [ -n "$key" ] || { echo "tollgate demo: could not create the demo key" >&2; exit 1; }
    (umask 077 && printf '%s\n' "$key" >"$key_file")
fi

cat <<MSG

  Tollgate demo: http://127.0.0.1:8080/v1  (providers simulated by tollgate-sim on :9090)

  Your demo key (also in $key_file):
    $key

  Try it from another terminal:
    export TOLLGATE_KEY=\$(cat $key_file)
    curl http://127.0.0.1:8080/v1/chat/completions -H "Authorization: Bearer \$TOLLGATE_KEY" \\
      -H 'Content-Type: application/json' \\
      -d '{"model":"gpt-4o","messages":[{"role":"user","content":"Hello!"}]}'
    curl -N http://127.0.0.1:8080/v1/chat/completions -H "Authorization: Bearer \$TOLLGATE_KEY" \\
      -H 'Content-Type: application/json' \\
      -d '{"model":"deepseek-chat","stream":true,"messages":[{"role":"user","content":"Hi"}]}'
    $build/tollgatectl -c etc/demo.yaml usage --by model
    $build/tollgatectl -c etc/demo.yaml keys list
    tools/demo-workload.sh 200 && $build/tollgatectl -c etc/demo.yaml savings --by task
    curl -s http://127.0.0.1:9091/metrics -H "Authorization: Bearer \$(cat $admin_token)"

  Access log: $build/demo-access.log    Stop: Ctrl-C

MSG
wait "$gw" || true
gw=

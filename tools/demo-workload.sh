#!/bin/bash
# A mixed workload for the demo (`make demo` running), so the analytics have something to show:
# requests through route `auto` for each row of the classic table (task and complexity headers)
# and some with no labels (the estimator decides), streamed and not, plus feedback on most
# answers (mostly thumbs up, some down, a few escalations). Then try:
#   build/tollgatectl -c etc/demo.yaml savings --by task
#   build/tollgatectl -c etc/demo.yaml usage --by route
#
# usage: tools/demo-workload.sh [REQUESTS] [BASE_URL]     (default 120, http://127.0.0.1:8080/v1)
# The key is $TOLLGATE_KEY, else build/demo.key.
set -eu
n=${1:-120}
base=${2:-http://127.0.0.1:8080/v1}
key=${TOLLGATE_KEY:-$(cat "$(dirname "$0")/../build/demo.key")}

# task complexity prompt: the classic table's rows, and unlabelled traffic
rows=(
    "faq|simple|How do I reset my password?"
    "faq|complex|My order shipped to the wrong address and the refund failed twice; what now?"
    "code_review|simple|Is this variable name clear: usr_cnt?"
    "code_review|complex|Review this function for race conditions: it locks, reads a counter, unlocks, then writes it back."
    "content|creative|Write a tagline for a bakery that only opens at night."
    "content|factual|Summarise what an HTTP 429 status means."
    "extraction|structured|Extract the date and amount from: paid \$42.10 on 2026-11-03."
    "extraction|complex|From this contract, list every party, obligation and deadline with section numbers."
    "||What is the capital of France?"
    "||A train leaves at 3:15 pm at 80 km/h; a second leaves 45 minutes later at 110 km/h. Step by step, derive when the second overtakes the first and prove it."
)

ok=0 fb=0
for i in $(seq 1 "$n"); do
    IFS='|' read -r task cx prompt <<<"${rows[$((i % ${#rows[@]}))]}"
    hdr=()
    [ -n "$task" ] && hdr+=(-H "x-tollgate-task: $task")
    [ -n "$cx" ] && hdr+=(-H "x-tollgate-complexity: $cx")
    stream=false
    [ $((i % 4)) -eq 0 ] && stream=true
    body=$(printf '{"model":"auto","stream":%s,"max_tokens":60,"messages":[{"role":"user","content":"%s"}]}' \
        "$stream" "$prompt")
    id=$(curl -s -o /dev/null -D - "$base/chat/completions" -H "Authorization: Bearer $key" \
        -H 'Content-Type: application/json' "${hdr[@]}" -d "$body" |
        tr -d '\r' | awk -F': ' 'tolower($1) == "x-request-id" {print $2}')
    [ -n "$id" ] || continue
    ok=$((ok + 1))
    # feedback on 3 answers in 4: mostly up; the complex rows get a down and an escalation now and then
    [ $((i % 4)) -eq 3 ] && continue
    rating=up escalated=false
    if [ "$cx" = complex ] && [ $((i % 3)) -eq 0 ]; then rating=down; fi
    if [ $((i % 17)) -eq 0 ]; then escalated=true; fi
    sleep 0.05 # the request is settled within a loop turn; be sure before rating it
    curl -s -o /dev/null "$base/feedback" -H "Authorization: Bearer $key" \
        -H 'Content-Type: application/json' \
        -d "{\"request_id\":\"$id\",\"rating\":\"$rating\",\"escalated\":$escalated}" && fb=$((fb + 1))
done
echo "sent $ok requests through route auto, rated $fb of them"

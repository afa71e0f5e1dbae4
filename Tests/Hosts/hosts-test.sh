#!/usr/bin/env bash
# MServe across hosts, with network namespaces standing in for hosts.
#
# Three namespaces joined by a bridge: "a" (10.77.0.1: hub, broker, one servant), "b"
# (10.77.0.2: two servants) and "c" (10.77.0.3: two servants). Servants listen on loopback
# unless told otherwise, so each is started with --advertise and its namespace's address: it
# binds that address, and prints and registers the endpoint brokers connect to. Queries sent from "a" must be
# answered by servants on both other hosts (the info dictionary's `servant` names host:port).
# Then b's servants are killed -9 and c's link is cut: the broker must stop using them within
# its liveness time, the hub's `down` table must list them, queries sent meanwhile must keep
# being answered, and every query must get exactly one reply. Then c's link comes back: its
# servants, which never stopped, register again, the hub's crash reports say they were no
# crash, and the broker uses them again.
#
# Needs root and iproute2 (`ip`). Without them it prints SKIP and exits 0, or exits 1 when
# CI=true. Uses only 10.77.0.0/24 inside the namespaces it creates, and removes them on exit.
# Run from the package root after `swift build`: Tests/Hosts/hosts-test.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

cannot_run() {
    if [ "${CI:-}" = "true" ]; then
        echo "hosts-test: FAIL: cannot run: $1" >&2
        exit 1
    fi
    echo "hosts-test: SKIP: $1"
    exit 0
}

[ "$(id -u)" -eq 0 ] || cannot_run "needs root to create network namespaces"
command -v ip >/dev/null || cannot_run "needs the ip command (Debian package iproute2)"
mserve="$PWD/.build/debug/mserve"
[ -x "$mserve" ] || cannot_run "no $mserve; run swift build first"

suffix="$$"
ns_a="mserve-a-$suffix" ns_b="mserve-b-$suffix" ns_c="mserve-c-$suffix"
work="$(mktemp -d /tmp/mserve-hosts.XXXXXX)"
hub="tcp://10.77.0.1:5560"
broker="tcp://10.77.0.1:5570"
liveness=1.6
started=$SECONDS
pids=()

cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for ns in "$ns_a" "$ns_b" "$ns_c"; do ip netns del "$ns" 2>/dev/null || true; done
    if [ "$status" -ne 0 ]; then
        echo "hosts-test: logs follow" >&2
        for log in "$work"/*.log; do
            [ -f "$log" ] || continue
            echo "----- $(basename "$log")" >&2
            tail -n 30 "$log" >&2
        done
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

fail() {
    echo "hosts-test: FAIL: $*" >&2
    exit 1
}

step() { echo "hosts-test [$((SECONDS - started))s]: $*"; }

# --- the network -------------------------------------------------------------------------------
step "creating namespaces $ns_a, $ns_b, $ns_c"
ip netns add "$ns_a" || cannot_run "ip netns add failed (no network namespace support?)"
ip netns add "$ns_b"
ip netns add "$ns_c"
for ns in "$ns_a" "$ns_b" "$ns_c"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link add br0 type bridge
ip -n "$ns_a" addr add 10.77.0.1/24 dev br0
ip -n "$ns_a" link set br0 up
index=2
for ns in "$ns_b" "$ns_c"; do
    ip link add "vms$index-$suffix" type veth peer name "vmp$index-$suffix"
    ip link set "vms$index-$suffix" netns "$ns_a"
    ip link set "vmp$index-$suffix" netns "$ns"
    ip -n "$ns_a" link set "vms$index-$suffix" master br0 up
    ip -n "$ns" link set "vmp$index-$suffix" name eth0
    ip -n "$ns" addr add "10.77.0.$index/24" dev eth0
    ip -n "$ns" link set eth0 up
    index=$((index + 1))
done

# Starts `mserve ARGS` in namespace NS, logging to NAME.log; waits for its endpoint line.
start() {
    local ns=$1 name=$2
    shift 2
    ip netns exec "$ns" "$mserve" "$@" >"$work/$name.out" 2>"$work/$name.log" &
    local pid=$!
    pids+=("$pid")
    eval "pid_${name//-/_}=$pid"
    for _ in $(seq 1 150); do
        [ -s "$work/$name.out" ] && return 0
        kill -0 "$pid" 2>/dev/null || fail "$name exited at start"
        sleep 0.1
    done
    fail "$name printed no endpoint within 15 s"
}

# --- the processes -----------------------------------------------------------------------------
export MSERVE_LOG_LEVEL=info
step "starting the hub and the broker in $ns_a"
start "$ns_a" hub hub --bind "$hub" --dir "$work/hub" --liveness 2
# Two failures strike at once below (host b's servants die, host c is cut off), and a query
# caught by the first may be sent next to a servant of the second before the broker knows:
# each query may be sent again twice, once per failure.
start "$ns_a" broker broker --clients "$broker" --hub "$hub" --algorithm even \
    --heartbeat 0.4 --liveness "$liveness" --deadline 10 --redispatch 2
step "starting one servant in $ns_a, two in $ns_b, two in $ns_c"
start "$ns_a" servant-a1 servant --hub "$hub" --advertise 10.77.0.1
start "$ns_b" servant-b1 servant --hub "$hub" --advertise 10.77.0.2
start "$ns_b" servant-b2 servant --hub "$hub" --bind tcp://10.77.0.2:0
start "$ns_c" servant-c1 servant --hub "$hub" --advertise 10.77.0.3
start "$ns_c" servant-c2 servant --hub "$hub" --advertise 10.77.0.3
for name in servant-a1:10.77.0.1 servant-b1:10.77.0.2 servant-b2:10.77.0.2 servant-c1:10.77.0.3 servant-c2:10.77.0.3; do
    grep -q "^tcp://${name#*:}:[0-9]*$" "$work/${name%%:*}.out" \
        || fail "${name%%:*} printed $(head -n 1 "$work/${name%%:*}.out"), not an endpoint at ${name#*:}"
done

# A servant started with neither --advertise nor --bind listens on loopback only: the broker
# never reaches it (its endpoint is not on the bridge), and it is no part of what follows.
start "$ns_b" servant-b-loopback servant
grep -q "^tcp://127\.0\.0\.1:" "$work/servant-b-loopback.out" || fail "a servant without --advertise did not bind loopback"
port=$(sed -n 's/^tcp:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/servant-b-loopback.out")
if ip netns exec "$ns_a" bash -c "exec 3<>/dev/tcp/10.77.0.2/$port" 2>/dev/null; then
    fail "a servant without --advertise is reachable from another host at 10.77.0.2:$port"
fi
kill "$pid_servant_b_loopback"
# It says so at start, as does one whose --advertise names loopback, and a broker whose clients'
# endpoint is loopback only: each registers with a hub on another host.
warning="listens on loopback only, but registers with a hub on another host"
start "$ns_b" servant-b-unadvertised servant --hub "$hub"
kill "$pid_servant_b_unadvertised"
grep -q "$warning.*neither --advertise nor --bind" "$work/servant-b-unadvertised.log" \
    || fail "a servant left on loopback did not warn: $(cat "$work/servant-b-unadvertised.log")"
grep -q "loopback only" "$work/servant-b-loopback.log" && fail "a servant without a hub warned of loopback"
start "$ns_b" servant-b-localhost servant --hub "$hub" --advertise localhost
kill "$pid_servant_b_localhost"
grep -q "$warning.*--advertise localhost looks up to a loopback address" "$work/servant-b-localhost.log" \
    || fail "a servant advertising localhost did not warn: $(cat "$work/servant-b-localhost.log")"
start "$ns_b" broker-b-loopback broker --hub "$hub" --clients tcp://127.0.0.1:0
kill "$pid_broker_b_loopback"
grep -q "takes clients on loopback only, but registers with a hub on another host" "$work/broker-b-loopback.log" \
    || fail "a broker taking clients on loopback did not warn: $(cat "$work/broker-b-loopback.log")"
grep -q "loopback only" "$work/servant-b1.log" "$work/servant-b2.log" && fail "a servant on the bridge warned of loopback"
# In auto mode on a host other than the hub's, a servant follows the hub there; it never can
# serve it, and says so once, not as an error every second.
start "$ns_b" servant-b-auto servant --hub auto --hub-endpoint "$hub" --advertise 10.77.0.2
for _ in $(seq 1 100); do
    grep -q "registered with the hub" "$work/servant-b-auto.log" && break
    sleep 0.1
done
kill "$pid_servant_b_auto"
grep -q "registered with the hub" "$work/servant-b-auto.log" \
    || fail "a servant in auto mode did not register with the hub on another host: $(cat "$work/servant-b-auto.log")"
grep -q "the hub endpoint is on another host" "$work/servant-b-auto.log" \
    || fail "a servant in auto mode did not say the hub is on another host: $(cat "$work/servant-b-auto.log")"
grep -q "cannot serve the hub" "$work/servant-b-auto.log" \
    && fail "a servant in auto mode logged an error for a hub on another host: $(cat "$work/servant-b-auto.log")"
step "each servant printed its namespace address; one left on loopback is unreachable from another host, and says so"

# Waits until the broker has all five servants ready.
for _ in $(seq 1 100); do
    [ "$(grep -c "servant ready" "$work/broker.log" || true)" -ge 5 ] && break
    sleep 0.1
done
[ "$(grep -c "servant ready" "$work/broker.log" || true)" -ge 5 ] || fail "the broker did not get five servants ready"

# Sends QUERY from namespace a; the reply (or error) goes to queries/ID.
mkdir -p "$work/queries"
query() {
    local id=$1 text=$2
    if ip netns exec "$ns_a" "$mserve" send --broker "$broker" --deadline 15 "$text" \
        >"$work/queries/$id.out" 2>"$work/queries/$id.err"; then
        echo ok >"$work/queries/$id.status"
    else
        echo "error $?" >"$work/queries/$id.status"
    fi
}

# --- queries reach both hosts ------------------------------------------------------------------
step "sending queries: every host must answer"
for id in $(seq 1 10); do query "first-$id" "echo $id" & done
wait_queries() { for _ in $(seq 1 300); do [ "$(ls "$work/queries"/*.status 2>/dev/null | wc -l)" -ge "$1" ] && return; sleep 0.1; done; }
wait_queries 10
cat "$work/queries"/first-*.out >"$work/first.txt" || true
grep -q "10\.77\.0\.2:" "$work/first.txt" || fail "no answer came from host b (10.77.0.2)"
grep -q "10\.77\.0\.3:" "$work/first.txt" || fail "no answer came from host c (10.77.0.3)"
grep -q "127\.0\.0\.1" "$work/first.txt" && fail "a servant was named by a loopback address"
step "hosts b and c both answered"

# --- failures: b's servants die, c's link is cut, while queries run ------------------------------
step "sending queries while host b's servants are killed -9 and host c's link is cut"
for id in $(seq 1 12); do query "chaos-$id" "sleep 300" & done
sleep 0.2
kill -9 "$pid_servant_b1" "$pid_servant_b2"
ip -n "$ns_c" link set eth0 down
cut_at=$SECONDS
for id in $(seq 13 24); do query "chaos-$id" "echo $id" & sleep 0.05; done

# The broker takes all four out of dispatch within its liveness time (plus a heartbeat).
for _ in $(seq 1 50); do
    [ "$(grep -c "servant lost" "$work/broker.log" || true)" -ge 4 ] && break
    sleep 0.1
done
lost=$(grep -c "servant lost" "$work/broker.log" || true)
[ "$lost" -ge 4 ] || fail "the broker lost $lost servants, expected 4"
elapsed=$((SECONDS - cut_at))
[ "$elapsed" -le 4 ] || fail "the broker took ${elapsed}s to drop the servants (liveness ${liveness}s)"
step "the broker dropped the four servants within ${elapsed}s"

wait_queries 34
for id in $(seq 1 24); do
    [ -f "$work/queries/chaos-$id.status" ] || fail "query chaos-$id got no reply"
    grep -q ok "$work/queries/chaos-$id.status" || fail "query chaos-$id failed: $(cat "$work/queries/chaos-$id.err")"
done
step "all 24 queries sent during the failures were answered"

# --- after: only host a answers, and the hub lists the four as down ------------------------------
for id in $(seq 1 6); do query "after-$id" "echo $id"; done
cat "$work/queries"/after-*.out >"$work/after.txt"
grep -q "10\.77\.0\.1:" "$work/after.txt" || fail "host a did not answer after the failures"
grep -qE "10\.77\.0\.(2|3):" "$work/after.txt" && fail "the broker still used a lost servant"

for _ in $(seq 1 60); do
    ip netns exec "$ns_a" "$mserve" hub down --all --hub "$hub" >"$work/down.txt" 2>&1 || true
    [ "$(grep -c "missed heartbeats" "$work/down.txt" || true)" -ge 4 ] && break
    sleep 0.1
done
[ "$(grep -c "missed heartbeats" "$work/down.txt" || true)" -ge 4 ] || fail "the hub's down table lacks the four servants: $(cat "$work/down.txt")"
grep -q "10\.77\.0\.2" "$work/down.txt" || fail "the hub's down table lacks host b"
grep -q "10\.77\.0\.3" "$work/down.txt" || fail "the hub's down table lacks host c"
step "the hub's down table lists the four servants"

# --- c's link heals: its servants, still running, come back -------------------------------------
step "host c's link comes back"
ip -n "$ns_c" link set eth0 up
# Each registers with the hub again as the same process: its crash report is amended; b's,
# whose processes were killed, are not.
for _ in $(seq 1 150); do
    ip netns exec "$ns_a" "$mserve" hub down --all --hub "$hub" >"$work/down-healed.txt" 2>&1 || true
    [ "$(grep -c "the same process registered again" "$work/down-healed.txt" || true)" -ge 2 ] && break
    sleep 0.1
done
[ "$(grep "10\.77\.0\.3" "$work/down-healed.txt" | grep -c "the same process registered again" || true)" -ge 2 ] \
    || fail "the hub's crash reports of host c's servants do not say they registered again: $(cat "$work/down-healed.txt")"
grep "10\.77\.0\.2" "$work/down-healed.txt" | grep -q "registered again" \
    && fail "a crash report of host b's killed servants says it registered again: $(cat "$work/down-healed.txt")"
step "the hub's crash reports say host c's servants did not crash"
# The hub lists them again, and the broker sends them queries once more.
healed=0
for id in $(seq 1 100); do
    query "healed-$id" "echo $id"
    grep -q "10\.77\.0\.3:" "$work/queries/healed-$id.out" && { healed=$id; break; }
    sleep 0.1
done
[ "$healed" -gt 0 ] || fail "the broker did not use host c's servants again after the link came back"
step "host c answered again (query $healed after the link came back)"

total=$(ls "$work/queries"/*.status | wc -l)
[ "$total" -eq $((40 + healed)) ] || fail "$total replies for $((40 + healed)) queries"
for id in $(seq 1 "$healed"); do
    grep -q ok "$work/queries/healed-$id.status" || fail "query healed-$id failed: $(cat "$work/queries/healed-$id.err")"
done
step "PASS: $((40 + healed)) queries, $total replies, $((SECONDS - started))s"

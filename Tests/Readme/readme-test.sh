#!/usr/bin/env bash
# The README's examples, run verbatim: the quickstart's first command (`scripts/setup && swift
# build && swift run mserve demo`) and every line of the "Run the pieces yourself" block, on a
# build of the package (the release build in CI), with their output checked. A README command
# that stops working or changes what it prints fails this test.
#
# Verbatim, yet private: the lines run in a network namespace this script creates (only its own
# loopback, so the README's default ports 5560 and 5570 are free and no one else's), with HOME
# and MSERVE_HUB_DIR in a temporary directory, from a directory where `.build/debug` is a link
# to the build under test and `scripts` to the package's scripts. `swift` is a shell function
# there: `swift build` does nothing (the build is made already) and `swift run mserve ARGS`
# runs that build's mserve. Every command must exit 0; background processes are killed at the
# end, with the namespace.
#
# Needs root and iproute2 (`ip`). Without them it prints SKIP and exits 0, or exits 1 when
# CI=true. Run from anywhere: Tests/Readme/readme-test.sh [BUILD_DIR] (default .build/release).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"

fail() {
    echo "readme-test: FAIL: $*" >&2
    exit 1
}

if [ "${1:-}" = "--inside" ]; then
    # ---- inside the namespace: run the examples ----------------------------------------------
    work="$2"
    ip link set lo up
    tree="$work/tree"
    export HOME="$work/home" MSERVE_HUB_DIR="$work/home/hub"
    unset MSERVE_HUB MSERVE_BROKER MSERVE_SERVANTS MSERVE_KEYS MSERVE_ALGO MSERVE_ROUTING MSERVE_PLUGINS \
        MSERVE_KDB_PORT MSERVE_USERS MSERVE_SERVANT_PLUGINS Q_PLUGINS MSERVE_LOG_LEVEL MSERVE_HTTP
    cd "$tree"
    swift() {
        case "$*" in
            build) return 0 ;;
            "run mserve "*)
                shift 2
                "$tree/.build/debug/mserve" "$@"
                ;;
            *)
                echo "readme-test: the README runs 'swift $*', which this test does not map" >&2
                return 1
                ;;
        esac
    }
    background=()
    trap 'for pid in "${background[@]}"; do kill -9 "$pid" 2>/dev/null || true; done' EXIT
    index=0
    while IFS= read -r line; do
        [ -n "${line// /}" ] || continue
        index=$((index + 1))
        printf '%s\n' "$line" >"$work/out/$index.command"
        status=0
        if [[ "$line" =~ \&[[:space:]]*(#.*)?$ ]]; then
            eval "$line" >"$work/out/$index.stdout" 2>"$work/out/$index.stderr" || status=$?
            background+=("$!")
        else
            eval "$line" >"$work/out/$index.stdout" 2>"$work/out/$index.stderr" || status=$?
        fi
        echo "$status" >"$work/out/$index.status"
    done <"$work/examples.sh"
    for pid in "${background[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${background[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    exit 0
fi

cannot_run() {
    if [ "${CI:-}" = "true" ]; then fail "cannot run: $1"; fi
    echo "readme-test: SKIP: $1"
    exit 0
}

build="${1:-.build/release}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
[ "$(id -u)" -eq 0 ] || cannot_run "needs root to create a network namespace"
command -v ip >/dev/null || cannot_run "needs the ip command (Debian package iproute2)"
[ -x "$build/mserve" ] || cannot_run "no $build/mserve; build it first (swift build -c release)"
build="$(cd "$build" && pwd -P)"

ns="mserve-readme-$$"
work="$(mktemp -d /tmp/mserve-readme.XXXXXX)"
cleanup() {
    local status=$?
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    if [ "$status" -ne 0 ] && [ -d "$work/out" ]; then
        echo "readme-test: what each command printed follows" >&2
        for command in "$work"/out/*.command; do
            [ -f "$command" ] || continue
            local base="${command%.command}"
            echo "----- \$ $(cat "$command")   (status $(cat "$base.status" 2>/dev/null || echo none))" >&2
            tail -n 20 "$base.stdout" >&2 2>/dev/null || true
            tail -n 10 "$base.stderr" | sed 's/^/stderr: /' >&2 2>/dev/null || true
        done
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

# ---- the examples, from the README ------------------------------------------------------------
readme="$root/README.md"
quickstart="$(awk '/^```sh$/ { inside = 1; next } inside { print; exit }' "$readme")"
pieces="$(awk '/^Run the pieces yourself/ { found = 1; next }
    found && /^```sh$/ { inside = 1; next }
    inside && /^```$/ { exit }
    inside { print }' "$readme")"
[[ "$quickstart" == *"swift run mserve demo"* ]] || fail "the README's first command no longer runs the demo: $quickstart"
[ -n "$pieces" ] || fail "the README has no \"Run the pieces yourself\" block"
printf '%s\n%s\n' "$quickstart" "$pieces" >"$work/examples.sh"

mkdir -p "$work/tree/.build" "$work/home" "$work/out"
ln -s "$build" "$work/tree/.build/debug"
ln -s "$root/scripts" "$work/tree/scripts"
# scripts/setup finds the Python virtualenvs under HOME: keep the real ones.
export MSERVE_VENV="${MSERVE_VENV:-$HOME/.cache/mserve/venv}"
export MSERVE_QPYTHON_VENV="${MSERVE_QPYTHON_VENV:-$HOME/.cache/mserve/venv-qpython}"

ip netns add "$ns" || cannot_run "ip netns add failed (no network namespace support?)"
echo "readme-test: running $(grep -c . "$work/examples.sh") README lines in namespace $ns on $build"
timeout 300 ip netns exec "$ns" bash "$0" --inside "$work" || fail "the examples did not finish within 300 s"

# ---- the checks --------------------------------------------------------------------------------
# The output of the one README line that contains TEXT (a fixed string); fails when no line does.
output_of() {
    local command
    for command in "$work"/out/*.command; do
        if grep -qF -- "$1" "$command"; then
            cat "${command%.command}.stdout"
            return 0
        fi
    done
    fail "the README no longer shows a command with: $1"
}

for command in "$work"/out/*.command; do
    status="$(cat "${command%.command}.status")"
    [ "$status" = 0 ] || fail "\$ $(cat "$command") exited $status"
done

demo="$(output_of "swift run mserve demo")"
grep -qF 'q)send proc1 `IBM' <<<"$demo" || fail "the demo does not send proc1 \`IBM"
grep -qE '^time +sym +price +size$' <<<"$demo" || fail "the demo prints no proc1 table"
grep -qF 'routing  | `IBM' <<<"$demo" || fail "the demo's info dictionary has no routing \`IBM"
grep -qF 'q)send .mserve.servants[]' <<<"$demo" || fail "the demo does not show the broker's servants"
grep -qF 'from spoke' <<<"$demo" || fail "the demo does not show the hub's spoke table"

proc1="$(output_of "send 'proc1 \`IBM'")"
grep -qE '^time +sym +price +size$' <<<"$proc1" || fail "send 'proc1 \`IBM' prints no table"
[ "$(grep -cE '^[0-9.D:]+ IBM ' <<<"$proc1")" -ge 1 ] || fail "send 'proc1 \`IBM' prints no IBM row"
grep -qF 'routing  | `IBM' <<<"$proc1" || fail "send 'proc1 \`IBM' prints no info dictionary"

lines="$(output_of "send --quiet -")"
grep -qE '^sym +vwap +volume$' <<<"$lines" || fail "send - prints no proc2 table"
grep -qE '^IBM ' <<<"$lines" || fail "send - prints no IBM row for proc2"
grep -qx '42' <<<"$lines" || fail "send - does not print 42 for echo 42"
! grep -qF 'routing' <<<"$lines" || fail "send --quiet - prints an info dictionary"

servants="$(output_of "send '.mserve.servants[]'")"
[ "$(grep -cE '^[^ ]+ +tcp://[^ ]+ +ready ' <<<"$servants")" -eq 2 ] ||
    fail ".mserve.servants[] does not list two ready servants"
grep -qE '^[^ ]+ +tcp://[^ ]+ +ready +[0-9]+ +4 ' <<<"$servants" || fail ".mserve.servants[] shows no servant of 4 threads"

spokes="$(output_of "hub spokes")"
[ "$(grep -cE ' servant +tcp://' <<<"$spokes")" -eq 2 ] || fail "hub spokes does not list the two servants"
[ "$(grep -cE ' broker +tcp://' <<<"$spokes")" -eq 1 ] || fail "hub spokes does not list the broker"

# The demo API's table lists the functions a servant serves by default, no more, no fewer.
listed="$(awk '/^The demo API/ { found = 1 } found && /^\| `/ { split($0, cells, "`"); print cells[2] } found && /^$/ && seen++ { exit }' "$readme" | sort | tr '\n' ' ')"
served="$("$build/mserve" servant --list-functions | cut -f1 | sort | tr '\n' ' ')"
[ "$listed" = "$served" ] || fail "the README's demo API lists [$listed], the servant serves [$served]"

# Every environment variable the command reads is in the README's table of them.
table="$(awk '/^Every command has `--help`/ { found = 1 } found && /^\| `/ { print } found && /^## / { exit }' "$readme")"
for variable in $(grep -rhoE 'environment\("(MSERVE|Q)_[A-Z_]+"\)' "$root/Sources" | grep -oE '(MSERVE|Q)_[A-Z_]+' | sort -u); do
    grep -qF "\`$variable\`" <<<"$table" || fail "the README's table of environment variables lacks $variable, which mserve reads"
done

echo "readme-test: PASS ($(grep -c . "$work/examples.sh") README lines)"

#!/usr/bin/env bash
# A second Docker daemon on the kernel's overlay (the `overlay2` storage driver) beside the
# machine's own, so the container benches can be run against both storage drivers on one
# machine (BENCHMARKS.md, Startup). Root only; it leaves the machine's daemon alone.
#
#   benches/probes/overlay2_daemon.sh start    # starts it, loads the bench image into it
#   DOCKER_HOST=unix:///run/berth-overlay2/docker.sock cargo bench -p berth-benches --bench startup
#   benches/probes/overlay2_daemon.sh stop     # stops it (its images stay for the next start)
#   benches/probes/overlay2_daemon.sh purge    # stops it and removes its images
set -euo pipefail

run=/run/berth-overlay2
data=/var/lib/berth-overlay2
socket=unix://$run/docker.sock
image=${BERTH_OVERLAY2_IMAGE:-${BERTH_BENCH_IMAGE:-berth/python:3.11}}
# A bridge of its own, outside Docker's default address pools (172.17–31.0.0/16,
# 192.168.0.0/16): a daemon started with `--bridge none` would delete the machine's docker0.
bridge=berth-ov2
bridge_address=10.254.254.1/24

# The pid in the pid file, if it is this daemon's (a stale file may name another process).
ours() {
    [[ -f $run/dockerd.pid ]] || return 1
    local pid
    pid=$(cat "$run/dockerd.pid")
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$run/daemon.json" || return 1
    echo "$pid"
}

stop() {
    local pid
    if pid=$(ours); then
        kill "$pid"
        for _ in $(seq 150); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "dockerd $pid did not stop within 30 s; see $run/dockerd.log" >&2
            return 1
        fi
    fi
    rm -f "$run/dockerd.pid"
    ip link del "$bridge" 2>/dev/null || true
}

start() {
    [[ $EUID -eq 0 ]] || { echo "a second Docker daemon needs root" >&2; return 1; }
    grep -qw overlay /proc/filesystems || { echo "the kernel has no overlayfs" >&2; return 1; }
    if ours >/dev/null; then
        echo "already running: DOCKER_HOST=$socket"
        return 0
    fi
    mkdir -p "$run" "$data"
    # Its own configuration file, so the machine's /etc/docker/daemon.json does not apply.
    printf '{"storage-driver": "overlay2", "data-root": "%s"}\n' "$data" >"$run/daemon.json"
    ip link show "$bridge" >/dev/null 2>&1 || ip link add "$bridge" type bridge
    ip -br addr show dev "$bridge" | grep -qF "${bridge_address%/*}/" ||
        ip addr add "$bridge_address" dev "$bridge"
    # No iptables rules (the machine's daemon keeps its own); its own containerd namespaces,
    # should it find a system containerd it shares with the machine's daemon.
    setsid dockerd --config-file "$run/daemon.json" --exec-root "$run/exec" \
        --pidfile "$run/dockerd.pid" -H "$socket" \
        --containerd-namespace berth-ov2 --containerd-plugins-namespace berth-ov2-plugins \
        --bridge "$bridge" --iptables=false --ip-masq=false >>"$run/dockerd.log" 2>&1 &
    local daemon=$!
    for _ in $(seq 100); do
        docker -H "$socket" info >/dev/null 2>&1 && break
        kill -0 "$daemon" 2>/dev/null || break
        sleep 0.2
    done
    docker -H "$socket" info --format 'storage driver: {{.Driver}}' 2>/dev/null || {
        echo "dockerd did not start; see $run/dockerd.log" >&2
        return 1
    }
    if ! docker -H "$socket" image inspect "$image" >/dev/null 2>&1; then
        docker save "$image" | docker -H "$socket" load
    fi
    echo "DOCKER_HOST=$socket"
}

case ${1:-} in
start) start || { stop; exit 1; } ;;
stop) stop ;;
purge)
    stop
    rm -rf "$data" "$run"
    ;;
*)
    echo "usage: $0 start|stop|purge" >&2
    exit 2
    ;;
esac

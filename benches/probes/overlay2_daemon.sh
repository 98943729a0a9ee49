#!/usr/bin/env bash
# A second Docker daemon on the kernel's overlay (the `overlay2` storage driver) beside the
# machine's own, so the container benches can be run against both storage drivers on one
# machine (BENCHMARKS.md, Startup). Root only; it leaves the machine's daemon alone.
#
#   benches/probes/overlay2_daemon.sh start    # starts it, loads berth/python:3.11 into it
#   DOCKER_HOST=unix:///run/berth-overlay2/docker.sock cargo bench -p berth-benches --bench startup
#   benches/probes/overlay2_daemon.sh stop     # stops it (its images stay for the next start)
#   benches/probes/overlay2_daemon.sh purge    # stops it and removes its images
set -euo pipefail

run=/run/berth-overlay2
data=/var/lib/berth-overlay2
socket=unix://$run/docker.sock
image=${BERTH_OVERLAY2_IMAGE:-berth/python:3.11}
bridge=berth-ov2

stop() {
    [[ -f $run/dockerd.pid ]] || return 0
    local pid
    pid=$(cat "$run/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    rm -f "$run/dockerd.pid"
    ip link del "$bridge" 2>/dev/null || true
}

case ${1:-} in
start)
    grep -qw overlay /proc/filesystems || { echo "the kernel has no overlayfs" >&2; exit 1; }
    mkdir -p "$run" "$data"
    # Its own configuration file, so the machine's /etc/docker/daemon.json does not apply.
    printf '{"storage-driver": "overlay2", "data-root": "%s"}\n' "$data" >"$run/daemon.json"
    # A bridge of its own and no iptables rules, so the machine's daemon keeps its docker0 and
    # its rules (a daemon started with `--bridge none` deletes docker0).
    ip link show "$bridge" >/dev/null 2>&1 || {
        ip link add "$bridge" type bridge
        ip addr add 172.31.254.1/24 dev "$bridge"
    }
    setsid dockerd --config-file "$run/daemon.json" --exec-root "$run/exec" \
        --pidfile "$run/dockerd.pid" -H "$socket" \
        --bridge "$bridge" --iptables=false --ip-masq=false >"$run/dockerd.log" 2>&1 &
    for _ in $(seq 100); do
        docker -H "$socket" info >/dev/null 2>&1 && break
        sleep 0.2
    done
    docker -H "$socket" info --format 'storage driver: {{.Driver}}' ||
        { echo "dockerd did not start; see $run/dockerd.log" >&2; exit 1; }
    if ! docker -H "$socket" image inspect "$image" >/dev/null 2>&1; then
        docker save "$image" | docker -H "$socket" load
    fi
    echo "DOCKER_HOST=$socket"
    ;;
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

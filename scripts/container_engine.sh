#!/usr/bin/env bash
# Settings podman needs on hosts where root cannot raise resource limits (CI sandboxes, some VMs).
# Writes a containers.conf and prints `export CONTAINERS_CONF=...`; use as
#   eval "$(scripts/container_engine.sh)"
# Why each setting:
# - default_ulimits: podman raises nofile/nproc for every container; where that is refused
#   ("setrlimit ... Operation not permitted") we ask for exactly the caller's hard limits instead.
#   nproc may not exceed kernel.pid_max.
# - runtime runc: crun 1.8 refuses hybrid cgroup hierarchies; runc runs on them.
# - cgroup_manager cgroupfs: there is no systemd session to delegate cgroups to.
set -euo pipefail
conf=${FERSYNTH_CONTAINERS_CONF:-${XDG_CONFIG_HOME:-$HOME/.config}/fersynth/containers.conf}
mkdir -p "$(dirname "$conf")"
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
pid_max=$(cat /proc/sys/kernel/pid_max)
if [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; then nproc=$pid_max; fi
if [ "$nofile" = unlimited ]; then nofile=1048576; fi
cat > "$conf" <<CONF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
echo "export CONTAINERS_CONF=$conf"

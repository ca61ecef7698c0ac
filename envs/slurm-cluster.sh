#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine (Debian's slurm-wlm and munge), for tests and for trying the SLURM
# profile without a cluster. Needs root (munged and slurmd run as root).
#   bash envs/slurm-cluster.sh start DIR   writes DIR/slurm.conf, starts munged, slurmctld and slurmd; prints
#                                          `export SLURM_CONF=DIR/slurm.conf` (sbatch, squeue, ... read it)
#   bash envs/slurm-cluster.sh stop DIR    stops the three daemons started for DIR (waits until they are gone) and
#                                          removes its links; a DIR where nothing was started is left as it is
# Its slurm.conf and gres.conf are also linked from /etc/slurm/ (refused if other files are there): the SLURM
# executor plugin strips SLURM_* variables, SLURM_CONF included, from the job's environment, so `srun` inside a job
# finds its configuration only at the default path, as on a real cluster. A third link, /etc/slurm/test-cluster to
# DIR, is the folder's name in the configuration: SLURM splits some paths at spaces (gres.conf's File=), this one has
# none, so DIR may contain spaces.
# The node is declared bigger than this machine (SlurmdParameters=config_overrides: CPUS cores, MEM_MB memory and
# GPUS count-only GPUs, defaults 4, 64000, 4), so the project's profile (profiles/slurm: 32 GB and one GPU per
# training job) is submitted as written; partitions `cpu` and `gpu` both hold the node. No accounting daemon: the
# executor plugin must use `--slurm-status-command squeue` (README, "SLURM").
# `start` refuses (exit 2) a DIR whose cluster is still running; if it fails it stops what it had started and
# removes its links; it exits 3 when SLURMCTLD_PORT or SLURMD_PORT is taken (a caller that picked free ports may pick
# others and retry).
set -euo pipefail

die() {  # die STATUS MESSAGE
  echo "slurm-cluster.sh: $2" >&2
  exit "$1"
}

action=${1:-}
[ $# -eq 2 ] && [ -n "$2" ] || die 2 "usage: slurm-cluster.sh start|stop DIR"
case $action in
  start) mkdir -p "$2" ;;
  stop) [ -d "$2" ] || { echo "slurm-cluster.sh: $2 does not exist: nothing to stop" >&2; exit 0; } ;;
  *) die 2 "unknown action $action (start or stop)" ;;
esac
dir=$(cd "$2" && pwd)
conf=$dir/slurm.conf
ETC=/etc/slurm
root=$ETC/test-cluster  # DIR, as the configuration names it
LINKS=(slurm.conf gres.conf test-cluster)
DAEMONS=(slurmd slurmctld munged)  # stopped in this order: munged last, the other two authenticate through it

target() {  # target LINK: what /etc/slurm/LINK points to
  if [ "$1" = test-cluster ]; then echo "$dir"; else echo "$dir/$1"; fi
}

ours() {  # ours LINK: /etc/slurm/LINK is our link
  [ "$(readlink "$ETC/$1" 2>/dev/null)" = "$(target "$1")" ]
}

running() {  # running NAME: prints the pid of DIR's daemon NAME if it runs (the pid file may be stale or reused)
  local pid state
  pid=$(cat "$dir/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
  state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1) || return 1
  [ "$state" != Z ] && echo "$pid"  # a zombie has exited
}

stop() {
  local name pid pids=() left
  for name in "${LINKS[@]}"; do
    if ours "$name"; then rm -f "${ETC:?}/$name"; fi  # ours only
  done
  for name in "${DAEMONS[@]}"; do
    if pid=$(running "$name"); then
      kill "$pid" 2>/dev/null || true
      pids+=("$name")
    fi
  done
  # wait until they are gone, so that a `start` right after (or the next test) finds the ports and socket free
  for _ in $(seq 50); do
    left=()
    for name in "${pids[@]}"; do
      if running "$name" >/dev/null; then left+=("$name"); fi
    done
    if [ ${#left[@]} -eq 0 ]; then break; fi
    sleep 0.2
  done
  for name in "${left[@]}"; do
    if pid=$(running "$name"); then
      kill -9 "$pid" 2>/dev/null || true
      echo "slurm-cluster.sh: $name ($pid) did not stop; killed it" >&2
    fi
  done
  for name in "${DAEMONS[@]}"; do rm -f "$dir/$name.pid"; done
}

write_conf() {
  local host
  host=$(hostname -s)
  mkdir -p "$dir/state" "$dir/spool"
  cat >"$conf" <<CONF
ClusterName=plmtest
SlurmctldHost=$host
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
AuthType=auth/munge
AuthInfo=socket=$root/munge.socket
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$root/state
SlurmdSpoolDir=$root/spool
SlurmctldPidFile=$root/slurmctld.pid
SlurmdPidFile=$root/slurmd.pid
SlurmctldLogFile=$root/slurmctld.log
SlurmdLogFile=$root/slurmd.log
GresTypes=gpu
NodeName=$host CPUs=${CPUS:-4} RealMemory=${MEM_MB:-64000} Gres=gpu:${GPUS:-4} State=UNKNOWN
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP
CONF
  # gres/gpu needs device files; character devices with /dev/null's numbers stand in (no cgroups here, so nothing is bound to them)
  local last=$((${GPUS:-4} - 1)) i
  for i in $(seq 0 "$last"); do [ -e "$dir/gpu$i" ] || mknod "$dir/gpu$i" c 1 3; done  # /dev/null's numbers
  echo "NodeName=$host Name=gpu File=$root/gpu[0-$last]" >"$dir/gres.conf"
}

failed() {  # the EXIT trap of start: on failure, undo what start did
  local status=$?
  if [ "$status" -eq 0 ]; then return; fi
  stop
  if grep -qs "Address already in use" "$dir/slurmctld.log" "$dir/slurmd.log"; then
    echo "slurm-cluster.sh: a port is in use (SlurmctldPort ${SLURMCTLD_PORT:-6817}, SlurmdPort ${SLURMD_PORT:-6818});" \
      "set SLURMCTLD_PORT and SLURMD_PORT to free ones" >&2
    exit 3
  fi
  echo "slurm-cluster.sh: start failed (status $status); stopped what it had started" >&2
}

start() {
  local name pid
  [ "$(id -u)" -eq 0 ] || die 2 "needs root (munged, slurmd)"
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    die 2 "slurm-wlm and munge are not installed (make setup)"
  fi
  # A second munged on the same socket and pid file would replace the first, which `stop` could then not end.
  for name in "${DAEMONS[@]}"; do
    if pid=$(running "$name"); then die 2 "$name of $dir is running (pid $pid): \`stop\` it first"; fi
  done
  for name in "${LINKS[@]}"; do  # a dangling link (its DIR deleted without `stop`) is replaced
    if [ -e "$ETC/$name" ] && ! ours "$name"; then
      die 2 "$ETC/$name exists (a real SLURM installation, or another test cluster?); not replacing it"
    fi
  done
  trap failed EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP
  rm -f "$dir/slurmctld.log" "$dir/slurmd.log"  # `failed` looks for a port in use in this start's logs only
  write_conf
  mkdir -p "$ETC"
  for name in "${LINKS[@]}"; do ln -sfn "$(target "$name")" "$ETC/$name"; done
  munged --socket="$root/munge.socket" --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" \
    --seed-file="$dir/munge.seed" --force
  export SLURM_CONF=$conf
  slurmctld -f "$ETC/slurm.conf"  # the link: a path without spaces, from which SLURM finds gres.conf
  slurmd -f "$ETC/slurm.conf"
  for _ in $(seq 100); do  # the node is up when it reports idle
    if sinfo -h -o %T 2>/dev/null | grep -q idle; then
      trap - EXIT INT TERM HUP
      printf 'export SLURM_CONF=%q\n' "$conf"
      return
    fi
    # a daemon that wrote its pid file and exited (a bad configuration), or one that cannot bind its port (slurmd
    # retries), will not come up: no need to wait on
    for name in "${DAEMONS[@]}"; do
      [ ! -s "$dir/$name.pid" ] || running "$name" >/dev/null || die 1 "$name exited; see $dir/$name.log"
    done
    if grep -qs "Address already in use" "$dir/slurmctld.log" "$dir/slurmd.log"; then exit 1; fi  # `failed` says it
    sleep 0.2
  done
  die 1 "the node did not come up; see $dir/slurmctld.log and $dir/slurmd.log"
}

"$action"

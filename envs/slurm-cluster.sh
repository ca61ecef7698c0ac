#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine (Debian's slurm-wlm and munge), for tests and for trying the SLURM
# profile without a cluster. Needs root (munged and slurmd run as root).
#   bash envs/slurm-cluster.sh start DIR   writes DIR/slurm.conf, starts munged, slurmctld and slurmd; prints
#                                          `export SLURM_CONF=DIR/slurm.conf` (sbatch, squeue, ... read it)
#   bash envs/slurm-cluster.sh stop DIR    stops the three daemons started for DIR
# Its slurm.conf is also linked from /etc/slurm/slurm.conf (refused if another one is there): the SLURM executor
# plugin strips SLURM_* variables, SLURM_CONF included, from the job's environment, so `srun` inside a job finds
# its configuration only at the default path, as on a real cluster.
# The node is declared bigger than this machine (SlurmdParameters=config_overrides: CPUS cores, MEM_MB memory and
# GPUS count-only GPUs, defaults 4, 64000, 4), so the project's profile (profiles/slurm: 32 GB and one GPU per
# training job) is submitted as written; partitions `cpu` and `gpu` both hold the node. No accounting daemon: the
# executor plugin must use `--slurm-status-command squeue` (README, "SLURM").
set -euo pipefail
action=${1:?start or stop}
dir=$(mkdir -p "${2:?state folder}" && cd "$2" && pwd)
conf=$dir/slurm.conf

ETC=/etc/slurm/slurm.conf

stop() {
  if [ "$(readlink "$ETC" 2>/dev/null)" = "$conf" ]; then rm -f "$ETC" /etc/slurm/gres.conf; fi  # ours only
  for pidfile in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
    [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
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
AuthInfo=socket=$dir/munge.socket
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
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
GresTypes=gpu
NodeName=$host CPUs=${CPUS:-4} RealMemory=${MEM_MB:-64000} Gres=gpu:${GPUS:-4} State=UNKNOWN
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP
CONF
  # gres/gpu needs device files; character devices with /dev/null's numbers stand in (no cgroups here, so nothing is bound to them)
  local last=$((${GPUS:-4} - 1))
  for i in $(seq 0 "$last"); do [ -e "$dir/gpu$i" ] || mknod "$dir/gpu$i" c 1 3; done  # /dev/null's numbers
  echo "NodeName=$host Name=gpu File=$dir/gpu[0-$last]" >"$dir/gres.conf"
}

start() {
  [ "$(id -u)" -eq 0 ] || { echo "slurm-cluster.sh: needs root (munged, slurmd)" >&2; exit 2; }
  command -v slurmctld >/dev/null && command -v munged >/dev/null \
    || { echo "slurm-cluster.sh: slurm-wlm and munge are not installed (make setup)" >&2; exit 2; }
  write_conf
  if [ -e "$ETC" ] && [ "$(readlink "$ETC")" != "$conf" ]; then
    echo "slurm-cluster.sh: $ETC exists (a real SLURM installation?); not replacing it" >&2
    exit 2
  fi
  mkdir -p /etc/slurm
  ln -sf "$conf" "$ETC"
  ln -sf "$dir/gres.conf" /etc/slurm/gres.conf
  munged --socket="$dir/munge.socket" --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" \
    --seed-file="$dir/munge.seed" --force
  export SLURM_CONF=$conf
  slurmctld -f "$conf"
  slurmd -f "$conf"
  for _ in $(seq 100); do  # the node is up when it reports idle
    sinfo -h -o %T 2>/dev/null | grep -q idle && { echo "export SLURM_CONF=$conf"; return; }
    sleep 0.2
  done
  echo "slurm-cluster.sh: the node did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
  stop
  exit 1
}

case $action in
  start) start ;;
  stop) stop ;;
  *) echo "slurm-cluster.sh: unknown action $action (start or stop)" >&2; exit 2 ;;
esac

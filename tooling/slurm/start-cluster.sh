#!/bin/bash
# A private single-node SLURM cluster for tests (Debian slurm-wlm + munge, run as root): munged, slurmctld and
# slurmd with a generated slurm.conf under DIR (default /tmp/vlfer-slurm). Prints the SLURM_CONF to export.
# Stop it with stop-cluster.sh DIR.
#
#   start-cluster.sh [DIR [SLURMCTLD_PORT SLURMD_PORT]]
#
# The ports default to two the OS reports free (asked through node), so several clusters (each with its own DIR:
# state, spool, logs and munge socket live there) run side by side. A daemon that exits while the node is coming up
# (a port already taken, a bad key, …) stops the wait at once, and every failure prints the daemons' error lines.
set -euo pipefail
d=${1:-/tmp/vlfer-slurm}
for b in munged slurmctld slurmd sbatch sinfo; do command -v $b >/dev/null || { echo "start-cluster: $b not found (apt-get install slurm-wlm munge)" >&2; exit 3; }; done
[ "$(id -u)" = 0 ] || { echo "start-cluster: needs root (slurmd runs jobs as their user)" >&2; exit 3; }
if [ $# -ge 3 ]; then
  ctld_port=$2 slurmd_port=$3
else
  command -v node >/dev/null || { echo "start-cluster: node not found (needed to pick free ports; or pass SLURMCTLD_PORT SLURMD_PORT)" >&2; exit 3; }
  # two ports the OS hands out for port 0, held until both are known so they differ
  read -r ctld_port slurmd_port < <(node -e '
    const net = require("node:net");
    const a = net.createServer().listen(0, () => { const b = net.createServer().listen(0, () => {
      console.log(a.address().port, b.address().port); a.close(); b.close(); }); });')
fi
for p in "$ctld_port" "$slurmd_port"; do
  [[ $p =~ ^[0-9]+$ ]] && [ "$p" -ge 1 ] && [ "$p" -le 65535 ] || { echo "start-cluster: port '$p' is not a port number" >&2; exit 2; }
done
mkdir -p "$d"/{spool,state,log,etc,munge,run}
chmod 700 "$d/munge"
[ -f "$d/munge/munge.key" ] || { dd if=/dev/urandom bs=1 count=1024 of="$d/munge/munge.key" status=none; chmod 400 "$d/munge/munge.key"; }
host=$(hostname -s)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
cat > "$d/etc/slurm.conf" <<CONF
ClusterName=vlfer-test
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$d/munge/munge.socket
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=3600
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
NodeName=$host CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$d/etc/slurm.conf"

# what the daemons said went wrong: their fatal and error lines, less the harmless start-up noise of this setup
# (no PMIx, no mail program, no saved state yet); a daemon that died before opening its log: its stderr
causes() {
  local f lines
  for f in munged slurmctld slurmd; do
    lines=$( (grep -E 'fatal|[Ee]rror|Unable' "$d/log/$f.log" 2>/dev/null || true) \
      | grep -vE 'pmix|MPI: Cannot create context|MailProg|state file|NOTE: Trying backup' | tail -n 8 || true)
    [ -n "$lines" ] && printf -- '--- %s:\n%s\n' "$d/log/$f.log" "$lines"
    if [ ! -s "$d/log/$f.log" ] && [ -s "$d/log/$f.out" ]; then printf -- '--- %s:\n' "$d/log/$f.out"; tail -n 8 "$d/log/$f.out"; fi
  done
  return 0
}
fail() {
  echo "start-cluster: $1 (SlurmctldPort=$ctld_port SlurmdPort=$slurmd_port); logs in $d/log:" >&2
  causes >&2
  # leave nothing of this attempt running
  "$(dirname "$0")/stop-cluster.sh" "$d"
  exit 4
}

munged --key-file="$d/munge/munge.key" --socket="$d/munge/munge.socket" --pid-file="$d/run/munged.pid" \
  --log-file="$d/log/munged.log" --seed-file="$d/munge/seed" -f 2>>"$d/log/munged.log" || fail "munged did not start"
nohup slurmctld -D -f "$SLURM_CONF" > "$d/log/slurmctld.out" 2>&1 &
echo $! > "$d/run/slurmctld.job"
nohup slurmd -D -f "$SLURM_CONF" > "$d/log/slurmd.out" 2>&1 &
echo $! > "$d/run/slurmd.job"
# wait until the node is idle; give up at once when a daemon has exited, and after 120 s of neither
for i in $(seq 1 240); do
  if sinfo -h -o %T 2>/dev/null | grep -q idle; then echo "$SLURM_CONF"; exit 0; fi
  for daemon in slurmctld slurmd; do
    kill -0 "$(cat "$d/run/$daemon.job")" 2>/dev/null || fail "$daemon exited while the node came up"
  done
  m=$(cat "$d/run/munged.pid" 2>/dev/null || true)
  [[ $m =~ ^[0-9]+$ ]] && kill -0 "$m" 2>/dev/null || fail "munged exited while the node came up"
  sleep 0.5
done
fail "the node did not become idle in 120 s: $(sinfo -h -o '%T %E' 2>&1 | head -n 3)"

#!/bin/bash
# A private single-node SLURM cluster for tests (Debian slurm-wlm + munge, run as root): munged, slurmctld and
# slurmd with a generated slurm.conf under DIR (default /tmp/vlfer-slurm). Prints the SLURM_CONF to export.
# Stop it with stop-cluster.sh DIR.
set -euo pipefail
d=${1:-/tmp/vlfer-slurm}
for b in munged slurmctld slurmd sbatch sinfo; do command -v $b >/dev/null || { echo "start-cluster: $b not found (apt-get install slurm-wlm munge)" >&2; exit 3; }; done
[ "$(id -u)" = 0 ] || { echo "start-cluster: needs root (slurmd runs jobs as their user)" >&2; exit 3; }
mkdir -p "$d"/{spool,state,log,etc,munge,run}
chmod 700 "$d/munge"
[ -f "$d/munge/munge.key" ] || { dd if=/dev/urandom bs=1 count=1024 of="$d/munge/munge.key" status=none; chmod 400 "$d/munge/munge.key"; }
host=$(hostname -s)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
cat > "$d/etc/slurm.conf" <<CONF
ClusterName=vlfer-test
SlurmctldHost=$host
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
munged --key-file="$d/munge/munge.key" --socket="$d/munge/munge.socket" --pid-file="$d/run/munged.pid" --log-file="$d/log/munged.log" --seed-file="$d/munge/seed" -f
nohup slurmctld -D -f "$SLURM_CONF" > "$d/log/slurmctld.out" 2>&1 &
sleep 1
nohup slurmd -D -f "$SLURM_CONF" > "$d/log/slurmd.out" 2>&1 &
for i in $(seq 1 30); do
  if sinfo -h -o %T 2>/dev/null | grep -q idle; then echo "$SLURM_CONF"; exit 0; fi
  sleep 1
done
echo "start-cluster: the node did not become idle in 30 s; see $d/log" >&2
exit 4

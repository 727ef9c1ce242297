#!/bin/bash
# Stop the test cluster started by start-cluster.sh DIR: the daemons whose pids it recorded under DIR/run (no other
# cluster's: a pid counts only while its command line names DIR), TERM first, KILL after 10 s.
d=${1:-/tmp/vlfer-slurm}
pids=()
for f in "$d/run/slurmd.job" "$d/run/slurmctld.job" "$d/run/slurmd.pid" "$d/run/slurmctld.pid" "$d/run/munged.pid"; do
  [ -s "$f" ] || continue
  p=$(cat "$f")
  [[ $p =~ ^[0-9]+$ ]] && [ -r "/proc/$p/cmdline" ] || continue
  # a recorded pid may have been reused since: only a process started with this DIR's files is ours
  tr '\0' ' ' < "/proc/$p/cmdline" | grep -qF "$d/" && pids+=("$p")
done
[ ${#pids[@]} -eq 0 ] && exit 0
kill "${pids[@]}" 2>/dev/null
for _ in $(seq 1 20); do
  alive=()
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
  [ ${#alive[@]} -eq 0 ] && exit 0
  sleep 0.5
done
kill -9 "${alive[@]}" 2>/dev/null
true

#!/bin/bash
# Stop the test cluster started by start-cluster.sh DIR (its daemons are the ones started with DIR's files).
d=${1:-/tmp/vlfer-slurm}
pkill -f "slurmd -D -f $d/etc/slurm.conf" 2>/dev/null
pkill -f "slurmctld -D -f $d/etc/slurm.conf" 2>/dev/null
pkill -f "munged --key-file=$d/munge/munge.key" 2>/dev/null
true

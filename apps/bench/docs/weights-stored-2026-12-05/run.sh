#!/bin/bash
# run from a fresh clone of the commit, so the files say dirty: false
cd /work/bench-clone
D=apps/bench/docs/weights-stored-2026-12-05
vmstat 10 > $D/vmstat.txt &
VM=$!
run() { echo "== $(date -u +%H:%M:%S) $*" >> $D/log.txt; "$@" >> $D/log.txt 2>&1; echo "== exit $? $(date -u +%H:%M:%S)" >> $D/log.txt; }
run pnpm bench:encode --runtime graphs --weights-in graph --models vit-b32 --batch 32 --reps 5 --images 256 --vs torch --rounds 3 --threads 2 --out $D/encode-graphs-stored-b32.json
run pnpm bench:encode --runtime graphs --models vit-b32 --batch 32 --reps 5 --images 256 --vs torch --rounds 3 --threads 2 --out $D/encode-graphs-fed-b32.json
kill $VM
echo ALL-DONE >> $D/log.txt

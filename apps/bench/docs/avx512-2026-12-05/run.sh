#!/bin/bash
# run from a fresh clone of the commit (`git clone` + `pnpm install --frozen-lockfile`), so the files say dirty: false
cd /work/bench-clone
D=apps/bench/docs/avx512-2026-12-05
vmstat 10 > $D/vmstat.txt &
VM=$!
run() { echo "== $(date -u +%H:%M:%S) $*" >> $D/log.txt; "$@" >> $D/log.txt 2>&1; echo "== exit $? $(date -u +%H:%M:%S)" >> $D/log.txt; }
run pnpm bench:encode --models vit-b32 --batch 32 --reps 5 --images 256 --vs torch --rounds 3 --threads 2 --out $D/encode-b32.json
run pnpm bench:encode --runtime graphs --models vit-b32 --batch 32 --reps 5 --images 256 --vs torch --rounds 3 --threads 2 --out $D/encode-graphs-b32.json
run pnpm bench:encode --models vit-b32 --batch 8 --reps 5 --images 64 --vs torch --rounds 3 --threads 2 --out $D/encode-b8.json
run pnpm bench:train-head --vs torch --rounds 3 --threads 2 --out $D/train-head.json
run pnpm bench:hesp-step --clips 8 --frames 8 --steps 2 --vs torch --rounds 3 --threads 2 --out $D/hesp-step.json
run pnpm bench:load --rounds 3 --threads 2 --vs torch --out $D/load-encode.json
run pnpm bench:load --rounds 3 --threads 2 --gradients --variants inputs,graph-external --vs torch --out $D/load-hesp.json
run pnpm bench:encode --dtype int8 --models vit-b32 --batch 32 --reps 5 --rounds 3 --vs torch --threads 2 --out $D/int8-b32.json
kill $VM
echo ALL-DONE >> $D/log.txt

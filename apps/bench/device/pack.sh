#!/bin/bash
# apps/bench/device/pack.sh <set> — packs what `run.sh <set>` needs on a GPU machine that has no Node.js and reaches no
# registry, into .devcarry/<set>/ (git-ignored; the device tool carries it):
#   node.xz      this machine's Node binary, stripped
#   nm.tar.xz    the node_modules files and folders that the set's commands open or look at here on the CPU (traced with strace: the WebGPU
#                runs load the same modules), with every pnpm symlink
#   shared.tar.xz the ../shared files they open (FER2013: a 280-image subset; the bench samples from whatever is there)
#   debs/        Debian's Vulkan loader and glvnd libraries: the NVIDIA Vulkan driver needs both (node-stack.md §4.1)
#   commit       the commit the run is of
# Sets: `test` (the WebGPU test file under vitest), `bench` (bench:encode and bench:hesp-step) and `step` (the test and
# bench:hesp-step): one set with all of it would be over the tool's 64 MiB per call. Needs strace, xz, apt-get download. Takes 3–5 minutes on 2 cores.
set -euo pipefail
set=${1:-}
case $set in
test | bench | step) ;;
*) echo "usage: pack.sh test|bench|step (got '$set')" >&2; exit 2 ;;
esac
for tool in strace xz apt-get python3 strip git tar node; do
  command -v $tool >/dev/null || { echo "pack.sh: needs $tool on the PATH (Debian: strace, xz-utils, binutils, tar, git)" >&2; exit 2; }
done
root=$(git rev-parse --show-toplevel)
cd "$root"
shared=$(realpath "${VLFER_SHARED:-../shared}")
[ -d "$shared/fixtures" ] || { echo "pack.sh: no shared folder at $shared (set VLFER_SHARED)" >&2; exit 2; }
out=.devcarry/$set
trace=$(mktemp -d)
m=$(mktemp -d)
trap 'rm -rf "$trace" "$m" packages/encoders/src/node/zz-device-trace.test.ts' EXIT
rm -rf "$out" && mkdir -p "$out/debs"
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx '/.devcarry/' "$exclude" 2>/dev/null || echo '/.devcarry/' >>"$exclude"
# tsx's transform cache would hide esbuild (a fresh machine has none)
run() { TSX_DISABLE_CACHE=1 strace -f -qq -e trace=openat,execve,stat,lstat,newfstatat,statx,access,faccessat2,readlink -o "$trace/$(date +%s%N)" "$@" >"$trace/log" 2>&1 || { cat "$trace/log"; exit 1; }; }
trace_test() { # the test's GPU path, run on the CPU: same modules and fixture files
  # (on the CPU the forward graphs are the fused ones and the residuals are host tensors)
  sed "s/device: 'webgpu'/device: 'cpu'/g; s/it.runIf(probe.available)/it/; s/it.runIf(!probe.available)/it.skip/; /forwardGraphs).toEqual/d; s/new Set(\['gpu-buffer'\])/new Set(['cpu'])/" \
    packages/encoders/src/node/webgpu.test.ts >packages/encoders/src/node/zz-device-trace.test.ts
  run node_modules/.bin/vitest run packages/encoders/src/node/zz-device-trace.test.ts
}
trace_encode() {
  run node --conditions=@vlfer/source --import tsx apps/bench/src/bench-encode.ts --reps 1 --images 8 --batch 4 \
    --dtypes fp32,fp16 --models-dir "$m" --out "$m/e.json"
}
trace_hesp() {
  run node --conditions=@vlfer/source --import tsx apps/bench/src/bench-hesp-step.ts --clips 1 --frames 2 --steps 1 \
    --warmup 0 --weights-in graph --models-dir "$m" --out "$m/h.json" --profile "$m/prof/hesp"
}
case $set in
test) trace_test ;;
bench) trace_encode && trace_hesp ;;
step) trace_test && trace_hesp ;;
esac
# every file or folder opened, executed or looked at (resolved through pnpm's links), relative to the repo root or the shared folder
python3 - "$trace" "$root" "$shared" "$out" <<'PY'
import os, re, sys
trace, root, shared, out = sys.argv[1:]
nm, sh = set(), set()
for f in os.listdir(trace):
    if f == "log": continue
    for line in open(os.path.join(trace, f), errors="replace"):
        m = re.search(r'^\d+ +[a-z0-9]+\([^"]*"([^"]+)"', line)
        if not m or "ENOENT" in line: continue
        p = os.path.realpath(os.path.join(root, m.group(1)))
        # files, and folders as bare entries (tar --no-recursion): code that checks a folder exists finds it
        if not os.path.exists(p): continue
        if p.startswith(root + "/") and "/node_modules/" in p: nm.add(os.path.relpath(p, root))
        elif p.startswith(shared + "/"): sh.add(os.path.relpath(p, shared))
fer = "data/fer2013-privatetest"
if any(s.startswith(fer) for s in sh):
    sh = {s for s in sh if not s.startswith(fer)}
    for c in sorted(os.listdir(os.path.join(shared, fer))):
        d = os.path.join(shared, fer, c)
        if os.path.isdir(d): sh.update(os.path.join(fer, c, x) for x in sorted(os.listdir(d))[:40])
open(os.path.join(out, "nm.txt"), "w").write("\n".join(sorted(nm)) + "\n")
open(os.path.join(out, "shared.txt"), "w").write("\n".join(sorted(sh)) + "\n")
PY
find . -path ./.git -prune -o -path ./.devcarry -prune -o -type l -path '*node_modules*' -print | sed 's#^\./##' >>"$out/nm.txt"
tar cf - --no-recursion -T "$out/nm.txt" | xz -9 -T2 >"$out/nm.tar.xz"
tar cf - --no-recursion -C "$shared" -T "$out/shared.txt" | xz -9 -T2 >"$out/shared.tar.xz"
strip -o "$trace/node" "$(command -v node)" && xz -9 -T2 -c "$trace/node" >"$out/node.xz"
(cd "$out/debs" && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >"$trace/apt" 2>&1) ||
  { cat "$trace/apt" >&2; echo "pack.sh: apt-get download of the Vulkan/glvnd packages failed" >&2; exit 1; }
git rev-parse HEAD >"$out/commit"
du -sh "$out"/* | sed "s#^#pack.sh: #"
# the device tool sends the working tree (tracked and untracked, not ignored) with the carried folder: 64 MiB in all
# (files deleted from the working tree are still listed: stat skips them)
tree=$({ git ls-files -co --exclude-standard -z | xargs -0 stat -c %s 2>/dev/null || true; } | awk '{s += $1} END {print s + 0}')
carry=$(du -sb "$out" | cut -f1)
echo "pack.sh: working tree $((tree / 1048576)) MiB + .devcarry/$set $((carry / 1048576)) MiB (the tool takes 64 MiB)"
if [ $((tree + carry)) -gt $((64 * 1048576)) ]; then # a warning: the advice below brings it under
  echo "pack.sh: over 64 MiB; before the call delete tracked files the set does not read, e.g." \
    "git ls-files | grep -E '(^|/)docs/|/test-data/|\.md\$|\.png\$|\.jpg\$' | grep -v '^\.changeset' | xargs rm -f" \
    "(git checkout -- . restores them after it)"
fi

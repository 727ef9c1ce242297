#!/bin/bash
# apps/bench/device/run.sh <set> — on the GPU machine (the device tool; a copy of the repo as the working directory,
# .devcarry/<set> made by pack.sh and carried): unpacks Node, node_modules and the shared files, sets up Vulkan for
# ONNX Runtime's WebGPU execution provider (Dawn), and runs
#   test:  the WebGPU test file (packages/encoders/src/node/webgpu.test.ts) under vitest
#   bench: bench:encode and bench:hesp-step with --device webgpu, and their PyTorch peers on CUDA (same shapes)
#   step:  the WebGPU test file, then bench:hesp-step with --device webgpu (profiled once)
# Logs and result JSON go to $OUT; the exit status is 1 when any part failed (the log's last line names them).
# Usage with the device tool: carry [".devcarry/<set>"], command "bash apps/bench/device/run.sh <set>".
set -uo pipefail
set=${1:-}
case $set in
test | bench | step) ;;
*) echo "usage: run.sh test|bench|step (got '$set')" >&2; exit 2 ;;
esac
: "${OUT:?run.sh writes its results to \$OUT (set by the device tool)}"
C=$PWD/.devcarry/$set
[ -f "$C/node.xz" ] && [ -f "$C/nm.tar.xz" ] && [ -f "$C/shared.tar.xz" ] ||
  { echo "run.sh: $C is incomplete: make it with apps/bench/device/pack.sh $set and carry it" >&2; exit 2; }
exec > >(tee "$OUT/$set.log") 2>&1
T0=$(date +%s)
el() { echo "[t=$(($(date +%s) - T0))s] $*"; }
failed=()
# runs a part, prints its exit status and remembers a failure
part() { local name=$1; shift; "$@"; local rc=$?; echo "$name exit $rc"; [ $rc -eq 0 ] || failed+=("$name ($rc)"); }
el "== $set of $(cat "$C/commit") on $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader), $(nproc) CPUs"
mkdir -p /tmp/nb && xz -dc "$C/node.xz" >/tmp/nb/node && chmod +x /tmp/nb/node || { echo "run.sh: cannot unpack $C/node.xz"; exit 1; }
export PATH=/tmp/nb:$PATH
node --version || exit 1
tar xJf "$C/nm.tar.xz" && mkdir -p /tmp/shared && tar xJf "$C/shared.tar.xz" -C /tmp/shared || exit 1
for f in "$C"/debs/*.deb; do dpkg -x "$f" /; done
ldconfig
export VLFER_SHARED=/tmp/shared XDG_RUNTIME_DIR=/tmp
[ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ] && export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
el "== ONNX Runtime backends: $(cd packages/encoders && node -e "console.log(JSON.stringify(require('onnxruntime-node').listSupportedBackends()))")"
webgpu_test() {
  el "== vitest webgpu.test.ts"
  part vitest timeout 200 node_modules/.bin/vitest run packages/encoders/src/node/webgpu.test.ts --reporter verbose
}
bench() { part "$1" timeout "$2" node --conditions=@vlfer/source --import tsx "apps/bench/src/$1" "${@:3}"; }
case $set in
test) webgpu_test ;;
bench)
  # most wanted first: what ran before a timeout is in $OUT
  ck=.vlfer-cache/models/vit-b32-hf-random # the random checkpoint bench:hesp-step writes, which the PyTorch peer loads
  # the PyTorch peers' JSON lines, each under the run's name, in one file (the tool brings back 8 files at most)
  peer() { local r; r=$(timeout 90 python3 "apps/bench/torch/$2" "${@:3}") && echo "{\"run\": \"$1\", \"result\": $r}" >>"$OUT/torch-cuda.jsonl"; }
  torch_encode() { part "encode $2 batch $1" peer "encode $2 batch $1" encode.py --config /tmp/shared/fixtures/graphs/vit-b32/config.json --device cuda --batch "$1" --dtype "$2" --reps 5; }
  torch_hesp() { part "hesp-step $1 clips" peer "hesp-step $1 clips" hesp_step.py --config $ck/config.json --checkpoint $ck/model.safetensors --device cuda --clips "$1" --frames 8 --steps 3 --warmup 2; }
  el "== bench:encode --device webgpu"
  bench bench-encode.ts 180 --device webgpu --dtypes fp32,fp16 --batch 32 --raw-batches 256 --reps 5 --images 256 --out "$OUT/encode-webgpu.json"
  el "== bench:hesp-step --device webgpu, 8 clips × 8 frames"
  bench bench-hesp-step.ts 150 --device webgpu --clips 8 --frames 8 --steps 3 --warmup 2 --out "$OUT/hesp-step-webgpu-8.json"
  el "== PyTorch CUDA: HESP step (same checkpoint and shapes), raw encode (fp32 batch 32 and 256, fp16 batch 256)"
  torch_hesp 8
  torch_encode 32 fp32
  torch_encode 256 fp32
  torch_encode 256 fp16
  el "== bench:hesp-step --device webgpu, 64 clips × 8 frames"
  bench bench-hesp-step.ts 150 --device webgpu --clips 64 --frames 8 --steps 3 --warmup 2 --out "$OUT/hesp-step-webgpu-64.json"
  torch_hesp 64
  ;;
step)
  webgpu_test
  el "== bench:hesp-step --device webgpu, 8 clips × 8 frames, profiled (kernel time by op and by execution provider)"
  mkdir -p /tmp/prof
  bench bench-hesp-step.ts 200 --device webgpu --frames 8 --warmup 2 --clips 8 --steps 2 --profile /tmp/prof/hesp --out "$OUT/hesp-step-webgpu-8-profile.json"
  el "== the same, not profiled; then 64 clips × 8 frames"
  bench bench-hesp-step.ts 200 --device webgpu --frames 8 --warmup 2 --clips 8 --steps 3 --out "$OUT/hesp-step-webgpu-8.json"
  bench bench-hesp-step.ts 200 --device webgpu --frames 8 --warmup 2 --clips 64 --steps 3 --out "$OUT/hesp-step-webgpu-64.json"
  ;;
esac
if [ ${#failed[@]} -gt 0 ]; then
  el "== end: failed: ${failed[*]}"
  exit 1
fi
el "== end: every part passed"

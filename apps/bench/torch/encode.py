"""PyTorch side of `pnpm bench:encode --vs torch`: CLIP vision tower (random weights, config.json) images/s on a
ready [batch, 3, 224, 224] tensor (raw), PIL + torchvision preprocessing alone, and both together on image files.
Preprocessing is Exp-CLIP's: PIL open, RGB, resize to 224x224 bilinear, ToTensor (vlfer's 'exp-clip' mode).

The encoder is whichever of eager, torch.jit.freeze(trace) and torch.jit.optimize_for_inference(trace) is fastest
here: each is timed in the warm-up (--trial-reps runs, median) and the result records every variant's time (or the
error that ruled it out) and which one the timed rows used (`encoder`).

With --quantize dynamic the timed model is torch.quantization.quantize_dynamic(model, {nn.Linear}, qint8) (every
linear layer: attention q/k/v/out, MLP fc1/fc2, the projection, as vlfer's int8 graphs), on the default quantized
engine (recorded); the result adds the cosine of its features to the fp32 model's on the same tensor.

    python3 encode.py --config vit-b32/config.json --batch 32 --reps 5 --threads 2 [--list paths.txt] [--quantize dynamic] [--device cuda [--dtype fp16]] [--parent PID]
"""
import argparse
import time
import torch
from clip_model import load
from common import add_parent, emit, median, now, setup

a = argparse.ArgumentParser()
a.add_argument("--config", required=True)
a.add_argument("--batch", type=int, default=32)
a.add_argument("--reps", type=int, default=5)
a.add_argument("--threads", type=int, default=2)
a.add_argument("--trial-reps", type=int, default=2, help="timed warm-up runs per encoder variant")
a.add_argument("--list", help="image files, one per line (the ones vlfer's pipeline row reads)")
a.add_argument("--quantize", choices=["none", "dynamic"], default="none")
a.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="torch device: cpu, or cuda for the GPU peer of --device webgpu runs (raw rows only)")
a.add_argument("--dtype", choices=["fp32", "fp16"], default="fp32", help="fp16: half-precision weights and inputs (cuda only)")
add_parent(a)
o = a.parse_args()
if o.device == "cuda" and not torch.cuda.is_available():
    a.error(f"--device cuda: torch {torch.__version__} sees no CUDA device here")
setup(o.threads, o.parent)
dev = torch.device(o.device)
if dev.type != "cpu" and (o.list or o.quantize != "none"):
    a.error("--device cuda times the raw rows only: leave out --list and --quantize")
if o.dtype == "fp16" and dev.type != "cuda":
    a.error("--dtype fp16 needs --device cuda")
half = (lambda t: t.half()) if o.dtype == "fp16" else (lambda t: t)
vision, _, _ = load(o.config)
vision = half(vision.eval().to(dev))
x = half(torch.sin(torch.arange(o.batch * 3 * 224 * 224, dtype=torch.float32) * 0.001).view(o.batch, 3, 224, 224).to(dev))
# the GPU runs asynchronously: a timed run ends when its queue has drained
sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
fp32_features = None
if o.quantize == "dynamic":
    with torch.no_grad():
        fp32_features = vision(x)
    vision = torch.quantization.quantize_dynamic(vision, {torch.nn.Linear}, dtype=torch.qint8)


def time_runs(f, reps):
    f(x)  # two untimed runs: TorchScript's profiling executor optimises the graph on its second run
    f(x)
    ts = []
    for _ in range(reps):
        sync()
        t0 = now()
        f(x)
        sync()
        ts.append(now() - t0)
    return median(ts)


variants = {"eager": vision}
trials = {}
with torch.no_grad():
    traced = torch.jit.trace(vision, x)
    for name, make in (("jit.freeze", lambda: torch.jit.freeze(traced.eval())), ("jit.optimize_for_inference", lambda: torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval())))):
        try:
            variants[name] = make()
        except Exception as e:  # recorded in the result: the variant is not used, and the reason is printed
            trials[name] = {"error": f"{type(e).__name__}: {e}"}
    for name, f in variants.items():
        try:
            trials[name] = {"medianSeconds": time_runs(f, o.trial_reps)}
        except Exception as e:
            trials[name] = {"error": f"{type(e).__name__}: {e}"}
timed = {k: v["medianSeconds"] for k, v in trials.items() if "medianSeconds" in v}
best = min(timed, key=timed.get)
vision = variants[best]
out = {"encoder": best, "encoderTrials": trials}
if fp32_features is not None:
    with torch.no_grad():
        cos = torch.nn.functional.cosine_similarity(vision(x), fp32_features, dim=1)
    out["quantize"] = {"method": "quantize_dynamic", "modules": "nn.Linear", "dtype": "qint8", "engine": torch.backends.quantized.engine}
    out["int8CosineToFp32"] = {"min": cos.min().item(), "mean": cos.mean().item()}
with torch.no_grad():
    vision(x)
    ts, cpu = [], []
    for _ in range(o.reps):
        sync()
        t0, c0 = now(), time.process_time()
        vision(x)
        sync()
        ts.append(now() - t0)
        cpu.append(time.process_time() - c0)
    out["rawImagesPerSecond"] = o.batch / median(ts)
    # CPU seconds of this process (all its threads) per batch: less moved by other processes' load than wall time
    out["rawCpuSecondsPerBatch"] = median(cpu)
    if o.list:
        # only the --list rows need PIL and torchvision; the raw rows run without them
        from PIL import Image
        from torchvision import transforms

        files = [l for l in open(o.list).read().split("\n") if l]
        tf = transforms.Compose([transforms.Resize((224, 224), interpolation=transforms.InterpolationMode.BILINEAR), transforms.ToTensor()])
        prep = lambda f: tf(Image.open(f).convert("RGB"))
        [prep(f) for f in files]  # one untimed pass, then the median of three timed ones, as vlfer's side does
        passes = []
        for _ in range(3):
            t0 = now()
            [prep(f) for f in files]
            passes.append(now() - t0)
        out["preprocessImagesPerSecond"] = len(files) / median(passes)
        vision(torch.stack([prep(f) for f in files[: o.batch]]))
        t0 = now()
        for i in range(0, len(files), o.batch):
            vision(torch.stack([prep(f) for f in files[i : i + o.batch]]))
        out["pipelineImagesPerSecond"] = len(files) / (now() - t0)
out["device"] = o.device
out["dtype"] = o.dtype
out["batch"] = o.batch
if dev.type == "cuda":
    out["deviceName"] = torch.cuda.get_device_name(dev)
emit(out, peak=dev.type == "cpu")

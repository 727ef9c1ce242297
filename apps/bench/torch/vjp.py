"""PyTorch side of `pnpm bench:vjp --vs torch`: the CLIP vision tower's forward and vector-Jacobian product to the
pixels for `images` images (image_embeds · cotangent summed, backward to pixel_values; weights frozen), the work
HESP's visual prompts need per step. Random weights from a config.json (speed does not depend on values).

    python3 vjp.py --config vit-b32/config.json --images 64 --reps 3 --warmup 2 [--parent PID]
"""
import argparse
import torch
from clip_model import load
from common import add_parent, emit, median, now, setup

a = argparse.ArgumentParser()
a.add_argument("--config", required=True)
a.add_argument("--images", type=int, default=64)
a.add_argument("--reps", type=int, default=3)
a.add_argument("--warmup", type=int, default=2)
a.add_argument("--threads", type=int, default=2)
add_parent(a)
o = a.parse_args()
setup(o.threads, o.parent)
vision, _, cfg = load(o.config)
for p in vision.parameters():
    p.requires_grad_(False)
n, e = o.images, cfg["projection_dim"]
pixels = torch.sin(torch.arange(n * 3 * 224 * 224, dtype=torch.float32) * 0.001).view(n, 3, 224, 224)
cotangent = torch.cos(torch.arange(n * e, dtype=torch.float32) * 0.01).view(n, e)


def vjp():
    x = pixels.clone().requires_grad_(True)
    (vision(x) * cotangent).sum().backward()
    return x.grad


times = []
for s in range(o.warmup + o.reps):
    t0 = now()
    vjp()
    if s >= o.warmup:
        times.append(now() - t0)
emit({"secondsPerVjp": times, "medianSeconds": median(times)})

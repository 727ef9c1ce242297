"""PyTorch side of `pnpm bench:hesp-step --vs torch`: one HESP training step at the same shapes — clips x frames
images with a learnable pixel patch through the CLIP vision tower, K learnable-context prompts through the text
tower, K learnable negative prompt images through the vision tower; cosine logits (scale 100), cross-entropy, an
ARPL-style distance loss and supervised contrastive loss; backward to every prompt; SGD. The weights are those of
--checkpoint (the .safetensors file vlfer loads, memory-mapped); without it, random weights from config.json (speed
does not depend on values). Load = getting the towers with their weights; warm-up steps are not reported. The load
row of the bench comes from load.py (its own process, with the .pt as well).

    python3 hesp_step.py --config vit-b32/config.json --checkpoint model.safetensors --clips 8 --frames 8 --classes 5 [--device cuda] [--parent PID]

With --device cuda it is the GPU peer of `bench:hesp-step --device webgpu` (run by hand: apps/bench/device/run.sh); the
fp32 matmul peak, a CPU figure, is then left out.
"""
import argparse
import torch
import torch.nn.functional as F
from clip_model import load, load_checkpoint
from common import add_parent, emit, median, now, setup

a = argparse.ArgumentParser()
a.add_argument("--config", required=True)
a.add_argument("--checkpoint", help="the .safetensors file vlfer loads")
a.add_argument("--clips", type=int, default=8)
a.add_argument("--frames", type=int, default=8)
a.add_argument("--classes", type=int, default=5)
a.add_argument("--steps", type=int, default=3)
a.add_argument("--warmup", type=int, default=1)
a.add_argument("--n-ctx", type=int, default=16)
a.add_argument("--patch", type=int, default=56)
a.add_argument("--threads", type=int, default=2)
a.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="torch device: cpu, or cuda for the GPU peer of --device webgpu runs")
add_parent(a)
o = a.parse_args()
if o.device == "cuda" and not torch.cuda.is_available():
    a.error(f"--device cuda: torch {torch.__version__} sees no CUDA device here")
setup(o.threads, o.parent)
t0 = now()
vision, text, cfg = load_checkpoint(o.config, o.checkpoint) if o.checkpoint else load(o.config)
for p in list(vision.parameters()) + list(text.parameters()):
    p.requires_grad_(False)
dev = torch.device(o.device)
vision, text = vision.to(dev), text.to(dev)
load_seconds = now() - t0
K, B, T, E = o.classes, o.clips, o.frames, cfg["projection_dim"]
d_text = cfg["text_config"]["hidden_size"]
L = 77
ctx = torch.nn.Parameter((torch.randn(K, o.n_ctx, d_text) * 0.02).to(dev))
patch = torch.nn.Parameter(torch.zeros(3, o.patch, o.patch, device=dev))
neg = torch.nn.Parameter(torch.rand(K, 3, 224, 224).to(dev))
radius = torch.nn.Parameter(torch.zeros(1, device=dev))
opt = torch.optim.SGD([ctx, neg, radius], lr=2e-3, momentum=0.9, weight_decay=5e-4)
token_embeds = (torch.randn(K, L, d_text) * 0.02).to(dev)
eot = torch.full((K,), 1 + o.n_ctx + 3, device=dev)
neg_text = F.normalize(torch.randn(K, E), dim=-1).to(dev)
frames = (0.5 + 0.3 * torch.sin(torch.arange(B * T * 3 * 224 * 224, dtype=torch.float32) * 0.001)).view(B * T, 3, 224, 224).to(dev)
labels = (torch.arange(B) % K).to(dev)
mean = torch.tensor([0.4815, 0.4578, 0.4082], device=dev).view(1, 3, 1, 1)
std = torch.tensor([0.2686, 0.2613, 0.2758], device=dev).view(1, 3, 1, 1)
eye = torch.eye(B, device=dev)
classes = torch.arange(K, device=dev)


def step():
    px = frames.clone()
    r0 = (224 - o.patch) // 2
    px[:, :, r0 : r0 + o.patch, r0 : r0 + o.patch] = px[:, :, r0 : r0 + o.patch, r0 : r0 + o.patch] + patch
    v = vision((px - mean) / std).view(B, T, E).mean(1)
    t = text(torch.cat([token_embeds[:, :1], ctx, token_embeds[:, 1 + o.n_ctx :]], 1), eot)
    c = vision(neg)
    vn, tn, cn = F.normalize(v, dim=-1), F.normalize(t, dim=-1), F.normalize(c, dim=-1)
    logits = 100 * vn @ tn.t()
    dist = ((v.unsqueeze(1) - c.unsqueeze(0)) ** 2).mean(-1)
    arpl = F.cross_entropy(dist, labels) + ((v - c[labels]) ** 2).mean(-1).sub(radius).pow(2).mean()
    ens = F.cross_entropy((logits.softmax(-1) + dist.softmax(-1)) / 2, labels)
    sim = vn @ vn.t() / 0.5
    pos = (labels.unsqueeze(0) == labels.unsqueeze(1)).float() - eye
    supcon = -((sim.log_softmax(-1) * pos).sum(-1) / pos.sum(-1).clamp(min=1)).mean()
    uncl = F.cross_entropy(100 * cn @ neg_text.t(), classes)
    loss = F.cross_entropy(logits, labels) + arpl + ens + supcon + uncl
    opt.zero_grad(set_to_none=True)
    patch.grad = None
    loss.backward()
    with torch.no_grad():
        patch.sub_(50 * 1e-3 * patch.grad / patch.grad.norm().clamp(min=1e-12))
    opt.step()
    return float(loss)


times = []
for s in range(o.warmup + o.steps):
    t0 = now()
    step()  # float(loss) waits for the GPU's queue on cuda
    if s >= o.warmup:
        times.append(now() - t0)
out = {"loadSeconds": load_seconds, "secondsPerStep": times, "medianSeconds": median(times), "device": o.device}
if dev.type == "cuda":
    out["deviceName"] = torch.cuda.get_device_name(dev)
    out["cudaPeakBytes"] = torch.cuda.max_memory_allocated(dev)
emit(out, peak=dev.type == "cpu")

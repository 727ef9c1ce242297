"""PyTorch side of `pnpm bench:train-head --vs torch`: Exp-CLIP's head (Linear(D, 4096, bias=False)) trained with
the symmetric InfoNCE (scale 100) against fixed targets, SGD (lr 1e-3, momentum 0.9, weight decay 1e-4), shuffled
batches, over synthetic pairs of the same sizes.

    python3 train_head.py --pairs 49152 --dim 512 --out-dim 4096 --batch 512 --epochs 5 --threads 2 [--parent PID]
"""
import argparse
import torch
import torch.nn.functional as F
from common import add_parent, emit, now, setup

a = argparse.ArgumentParser()
a.add_argument("--pairs", type=int, default=49152)
a.add_argument("--dim", type=int, default=512)
a.add_argument("--out-dim", type=int, default=4096)
a.add_argument("--batch", type=int, default=512)
a.add_argument("--epochs", type=int, default=5)
a.add_argument("--threads", type=int, default=2)
add_parent(a)
o = a.parse_args()
setup(o.threads, o.parent)
torch.manual_seed(1)
features = torch.rand(o.pairs, o.dim) - 0.5
targets = F.normalize(torch.rand(o.pairs, o.out_dim) - 0.5, dim=-1)  # fixed targets, normalised once
head = torch.nn.Linear(o.dim, o.out_dim, bias=False)
opt = torch.optim.SGD(head.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
labels = torch.arange(o.batch)
steps = o.pairs // o.batch
t0 = now()
for epoch in range(o.epochs):
    order = torch.randperm(o.pairs)
    for s in range(steps):
        idx = order[s * o.batch : (s + 1) * o.batch]
        y = F.normalize(head(features[idx]), dim=-1)
        logits = 100 * y @ targets[idx].t()
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
seconds = now() - t0
emit({"seconds": seconds, "steps": steps * o.epochs, "msPerStep": 1000 * seconds / (steps * o.epochs), "lastLoss": float(loss)})

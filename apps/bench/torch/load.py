"""PyTorch side of the "load" row of `pnpm bench:hesp-step --vs torch`: the time to get both CLIP towers holding the
weights of the same checkpoint file vlfer loads — the .safetensors memory-mapped (clip_model.read_safetensors_mmap,
the equivalent of safetensors.safe_open), and the same weights as a .pt state dict through torch.load. The .pt is
written next to the checkpoint first if absent or older than it (untimed; `ptWritten` says so). Each load runs in this fresh process
in turn, the .pt one first, so neither finds the other's pages in this process.

    python3 load.py --config model/config.json --checkpoint model/model.safetensors [--pt model/model.pt]
"""
import argparse, os
import torch
from clip_model import load_checkpoint, read_safetensors_mmap
from common import emit, now, setup

a = argparse.ArgumentParser()
a.add_argument("--config", required=True)
a.add_argument("--checkpoint", required=True, help="the .safetensors file vlfer loads")
a.add_argument("--pt", help="the same weights as a .pt state dict (written from --checkpoint if absent)")
a.add_argument("--threads", type=int, default=2)
o = a.parse_args()
setup(o.threads)
if not os.path.isfile(o.checkpoint):
    raise SystemExit(f"--checkpoint: {o.checkpoint} is not a file")
out = {"checkpoint": os.path.abspath(o.checkpoint), "checkpointBytes": os.path.getsize(o.checkpoint)}
if o.pt:
    # (re)written when absent or older than the checkpoint (writeRandomClip rewrites the .safetensors every run)
    out["ptWritten"] = not os.path.isfile(o.pt) or os.path.getmtime(o.pt) < os.path.getmtime(o.checkpoint)
    if out["ptWritten"]:
        tmp = o.pt + ".tmp"
        torch.save({k: v.clone() for k, v in read_safetensors_mmap(o.checkpoint).items()}, tmp)
        os.replace(tmp, o.pt)
    t0 = now()
    vision, text, _ = load_checkpoint(o.config, o.pt)
    out["ptSeconds"] = now() - t0
    out["pt"] = os.path.abspath(o.pt)
    out["ptBytes"] = os.path.getsize(o.pt)
    del vision, text
t0 = now()
vision, text, _ = load_checkpoint(o.config, o.checkpoint)
out["safetensorsSeconds"] = now() - t0
out["parameters"] = sum(p.numel() for m in (vision, text) for p in m.parameters())
# a checksum of the loaded weights, so a test can see they are the file's and not a random initialisation
out["visualProjectionSum"] = float(vision.proj.weight.double().sum())
emit(out, peak=False)

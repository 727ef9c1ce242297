"""PyTorch side of the load rows: the time to get both CLIP towers holding the weights of the same checkpoint file
vlfer loads — the .safetensors memory-mapped (clip_model.read_safetensors_mmap, the equivalent of
safetensors.safe_open), and the same weights as a .pt state dict through torch.load. The .pt is written next to the
checkpoint first if absent or older than it (untimed; `ptWritten` says so).

Without --only (`pnpm bench:hesp-step --vs torch`): both loads in this fresh process in turn, the .pt one first, so
neither finds the other's pages in this process; `safetensorsSeconds` and `ptSeconds`.

With --only safetensors|pt (`pnpm bench:load --vs torch`, one fresh process per format): the stages vlfer's rows
measure, each as seconds since the load began (wall, and CPU time of this process in `cpuSeconds`):
- `startupSeconds`: process start to the load's start (the interpreter and `import torch`), before the clock starts;
- `open`: the file mapped (or read, for the .pt) and both towers built holding its tensors (`load_checkpoint`);
- `ready`: able to run the first batch. For PyTorch it is the same moment as `open`: a built module with its
  state dict loaded has nothing left to prepare (no graph to optimize, no weights to pack);
- `firstBatch`: `ready` + the first 2 images (pixel i = sin(0.01 i), as vlfer's bench) and 2 prompts encoded under
  torch.inference_mode; the image embeddings are returned (`imageEmbeds`) so the bench can compare them with vlfer's.

    python3 load.py --config model/config.json --checkpoint model/model.safetensors [--pt model/model.pt] [--only pt] [--parent PID]
"""
import argparse, os, resource, time
import torch
from clip_model import load_checkpoint, read_safetensors_mmap
from common import add_parent, emit, now, setup

a = argparse.ArgumentParser()
a.add_argument("--config", required=True)
a.add_argument("--checkpoint", required=True, help="the .safetensors file vlfer loads")
a.add_argument("--pt", help="the same weights as a .pt state dict (written from --checkpoint if absent)")
a.add_argument("--only", choices=["safetensors", "pt"], help="one format in this process, timed by stage")
a.add_argument("--threads", type=int, default=2)
add_parent(a)
o = a.parse_args()
setup(o.threads, o.parent)
if not os.path.isfile(o.checkpoint):
    raise SystemExit(f"--checkpoint: {o.checkpoint} is not a file")
if o.only == "pt" and not o.pt:
    raise SystemExit("--only pt needs --pt <file>")
out = {"checkpoint": os.path.abspath(o.checkpoint), "checkpointBytes": os.path.getsize(o.checkpoint)}


def startup_seconds():
    """Seconds since this process started (/proc/self/stat field 22, in clock ticks since boot)."""
    ticks = os.sysconf("SC_CLK_TCK")
    start = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19]) / ticks
    return float(open("/proc/uptime").read().split()[0]) - start


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def first_batch(vision, text):
    """image_embeds of 2 images and text_embeds of 2 prompts, the batch vlfer's bench encodes."""
    s = vision.patch.weight.shape[-1] * int(vision.pos.shape[0] - 1) ** 0.5
    n = 2 * 3 * int(s) * int(s)
    with torch.inference_mode():
        px = torch.sin(torch.arange(n, dtype=torch.float64) * 0.01).float().view(2, 3, int(s), int(s))
        image = vision(px)
        ids = torch.tensor([[49406, 320, 1125, 49407, 49407], [49406, 518, 49407, 49407, 49407]])
        text(text.tok(ids), torch.tensor([3, 2]))
    return image.flatten().tolist()


if o.pt:
    # (re)written when absent or older than the checkpoint (writeRandomClip rewrites the .safetensors every run)
    out["ptWritten"] = not os.path.isfile(o.pt) or os.path.getmtime(o.pt) < os.path.getmtime(o.checkpoint)
    if out["ptWritten"]:
        tmp = o.pt + ".tmp"
        torch.save({k: v.clone() for k, v in read_safetensors_mmap(o.checkpoint).items()}, tmp)
        os.replace(tmp, o.pt)
    out["pt"] = os.path.abspath(o.pt)
    out["ptBytes"] = os.path.getsize(o.pt)

if o.only:
    path = o.pt if o.only == "pt" else o.checkpoint
    out["format"] = o.only
    out["startupSeconds"] = startup_seconds()
    t0, c0 = now(), time.process_time()
    vision, text, _ = load_checkpoint(o.config, path)
    out["open"] = {"seconds": now() - t0, "cpuSeconds": time.process_time() - c0, "peakRssBytes": peak_rss()}
    out["ready"] = dict(out["open"])
    out["imageEmbeds"] = first_batch(vision, text)
    out["firstBatch"] = {"seconds": now() - t0, "cpuSeconds": time.process_time() - c0, "peakRssBytes": peak_rss()}
else:
    if o.pt:
        t0 = now()
        vision, text, _ = load_checkpoint(o.config, o.pt)
        out["ptSeconds"] = now() - t0
        del vision, text
    t0 = now()
    vision, text, _ = load_checkpoint(o.config, o.checkpoint)
    out["safetensorsSeconds"] = now() - t0
out["parameters"] = sum(p.numel() for m in (vision, text) for p in m.parameters())
# a checksum of the loaded weights, so a test can see they are the file's and not a random initialisation
out["visualProjectionSum"] = float(vision.proj.weight.double().sum())
emit(out, peak=False)

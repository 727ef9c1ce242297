"""PIL + torchvision side of `pnpm bench:preprocess`: decode + resize + to-tensor of image files, as the reference
pipelines do it, on one process (--workers 0) or a torch DataLoader with --workers worker processes (the way torch
code uses more cores for preprocessing). Prints one JSON line: the seconds of each timed pass and the CPU seconds.

Modes, as vlfer's (packages/encoders/src/preprocess.ts):
- exp-clip: Image.open(f).convert('RGB'), Resize((crop, crop), BILINEAR), ToTensor (the Exp-CLIP paper code);
- clip: Image.open(f).convert('RGB'), Resize(size, BICUBIC), CenterCrop(crop), ToTensor, Normalize (what
  CLIPImageProcessor computes; torchvision's crop offset rounds where HF floors, which costs nothing here);
- openai: OpenAI CLIP's transform: Resize(size, BICUBIC) and CenterCrop on the image in the mode Pillow opened it
  in, then convert('RGB'), ToTensor, Normalize.
--draft 1 calls Image.draft('RGB', (side, side)) first, side = crop (exp-clip) or size: Pillow's reduced-scale JPEG
decode (libjpeg DCT scaling by 2, 4 or 8), which changes the pixels.

    python3 preprocess.py --list files.txt --mode exp-clip --draft 0 --workers 0 --batch 32 --passes 3 --threads 1 [--parent PID]
"""
import argparse
import time

import torch
from PIL import Image
from torchvision import transforms
from common import add_parent, emit, setup

a = argparse.ArgumentParser()
a.add_argument("--list", required=True, help="image files, one per line")
a.add_argument("--mode", choices=["exp-clip", "clip", "openai"], required=True)
a.add_argument("--draft", type=int, choices=[0, 1], default=0)
a.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (0: this process)")
a.add_argument("--batch", type=int, default=32)
a.add_argument("--passes", type=int, default=3, help="timed passes after one untimed pass")
a.add_argument("--size", type=int, default=224)
a.add_argument("--crop", type=int, default=224)
a.add_argument("--threads", type=int, default=1)
add_parent(a)
o = a.parse_args()
setup(o.threads, o.parent)

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
BICUBIC = transforms.InterpolationMode.BICUBIC
if o.mode == "exp-clip":
    tf = transforms.Compose([transforms.Resize((o.crop, o.crop), interpolation=transforms.InterpolationMode.BILINEAR), transforms.ToTensor()])
elif o.mode == "clip":
    tf = transforms.Compose([transforms.Resize(o.size, interpolation=BICUBIC), transforms.CenterCrop(o.crop), transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
else:
    tf = transforms.Compose([transforms.Resize(o.size, interpolation=BICUBIC), transforms.CenterCrop(o.crop), lambda im: im.convert("RGB"), transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
side = o.crop if o.mode == "exp-clip" else o.size


def load(f):
    im = Image.open(f)
    if o.draft:
        im.draft("RGB", (side, side))
    return tf(im if o.mode == "openai" else im.convert("RGB"))


class Files(torch.utils.data.Dataset):
    def __init__(self, files):
        self.files = files

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return load(self.files[i])


files = [l for l in open(o.list).read().split("\n") if l]
if o.workers > 0:
    loader = torch.utils.data.DataLoader(Files(files), batch_size=o.batch, num_workers=o.workers, persistent_workers=True)
    run = lambda: [b for b in loader]
else:
    run = lambda: [torch.stack([load(f) for f in files[i : i + o.batch]]) for i in range(0, len(files), o.batch)]
run()  # untimed: file cache, worker start-up
seconds, cpu = [], []
for _ in range(o.passes):
    t0, c0 = time.perf_counter(), time.process_time()
    run()
    seconds.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)  # this process only: DataLoader workers are not counted
emit({"images": len(files), "seconds": seconds, "cpuSeconds": cpu, "mode": o.mode, "draft": bool(o.draft), "workers": o.workers, "pillow": Image.__version__}, peak=False)

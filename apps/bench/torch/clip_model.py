"""CLIP towers in PyTorch with the Hugging Face CLIPModel architecture (pre-LN transformer, QuickGELU, causal text
mask), randomly initialised from a config.json: the PyTorch side of vlfer's `--vs torch` benchmarks. Speed does not
depend on the weights' values, so no checkpoint is needed. The shapes and ops are those of vlfer's TypeScript
graphs (packages/encoders/src/clip-graphs.ts)."""
import json
import torch
from torch import nn


class Layer(nn.Module):
    def __init__(self, d, heads, inner, eps):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, inner), nn.Linear(inner, d)

    def forward(self, x, mask=None):
        b, t, d = x.shape
        h = self.ln1(x)
        split = lambda y: y.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(self.q(h) * (d // self.heads) ** -0.5), split(self.k(h)), split(self.v(h))
        s = q @ k.transpose(-1, -2)
        if mask is not None:
            s = s + mask
        x = x + self.o((s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d))
        z = self.fc1(self.ln2(x))
        return x + self.fc2(z * torch.sigmoid(1.702 * z))


class Vision(nn.Module):
    def __init__(self, c, proj):
        super().__init__()
        d, p, s = c["hidden_size"], c["patch_size"], c["image_size"]
        self.patch = nn.Conv2d(3, d, p, p, bias=False)
        self.cls = nn.Parameter(torch.randn(d) * 0.02)
        self.pos = nn.Parameter(torch.randn((s // p) ** 2 + 1, d) * 0.02)
        self.pre, self.post = nn.LayerNorm(d, eps=c["layer_norm_eps"]), nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.layers = nn.ModuleList(Layer(d, c["num_attention_heads"], c["intermediate_size"], c["layer_norm_eps"]) for _ in range(c["num_hidden_layers"]))
        self.proj = nn.Linear(d, proj, bias=False)

    def forward(self, px):
        x = self.patch(px).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], 1) + self.pos
        x = self.pre(x)
        for layer in self.layers:
            x = layer(x)
        return self.proj(self.post(x[:, 0]))


class Text(nn.Module):
    def __init__(self, c, proj):
        super().__init__()
        d = c["hidden_size"]
        self.tok = nn.Embedding(c["vocab_size"], d)
        self.pos = nn.Parameter(torch.randn(c["max_position_embeddings"], d) * 0.01)
        self.layers = nn.ModuleList(Layer(d, c["num_attention_heads"], c["intermediate_size"], c["layer_norm_eps"]) for _ in range(c["num_hidden_layers"]))
        self.final = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.proj = nn.Linear(d, proj, bias=False)

    def forward(self, embeds, eot):
        t = embeds.shape[1]
        mask = torch.full((t, t), -1e9, device=embeds.device).triu(1)
        x = embeds + self.pos[:t]
        for layer in self.layers:
            x = layer(x, mask)
        return self.proj(self.final(x)[torch.arange(x.shape[0], device=x.device), eot])


def load(config_file):
    cfg = json.load(open(config_file))
    torch.manual_seed(0)
    return Vision(cfg["vision_config"], cfg["projection_dim"]), Text(cfg["text_config"], cfg["projection_dim"]), cfg


# Hugging Face CLIPModel key -> (tower, this file's parameter name), for the layer-independent keys
_TOP = {
    "vision_model.embeddings.class_embedding": ("vision", "cls"),
    "vision_model.embeddings.patch_embedding.weight": ("vision", "patch.weight"),
    "vision_model.embeddings.position_embedding.weight": ("vision", "pos"),
    "vision_model.pre_layrnorm.weight": ("vision", "pre.weight"),
    "vision_model.pre_layrnorm.bias": ("vision", "pre.bias"),
    "vision_model.post_layernorm.weight": ("vision", "post.weight"),
    "vision_model.post_layernorm.bias": ("vision", "post.bias"),
    "visual_projection.weight": ("vision", "proj.weight"),
    "text_model.embeddings.token_embedding.weight": ("text", "tok.weight"),
    "text_model.embeddings.position_embedding.weight": ("text", "pos"),
    "text_model.final_layer_norm.weight": ("text", "final.weight"),
    "text_model.final_layer_norm.bias": ("text", "final.bias"),
    "text_projection.weight": ("text", "proj.weight"),
}
_LAYER = {
    "self_attn.q_proj": "q",
    "self_attn.k_proj": "k",
    "self_attn.v_proj": "v",
    "self_attn.out_proj": "o",
    "mlp.fc1": "fc1",
    "mlp.fc2": "fc2",
    "layer_norm1": "ln1",
    "layer_norm2": "ln2",
}


def map_key(key):
    """(tower, parameter name) of a Hugging Face CLIPModel key; None for keys these towers do not use
    (logit_scale, position_ids)."""
    if key in _TOP:
        return _TOP[key]
    for tower, prefix in (("vision", "vision_model.encoder.layers."), ("text", "text_model.encoder.layers.")):
        if key.startswith(prefix):
            i, rest = key[len(prefix) :].split(".", 1)
            mod, leaf = rest.rsplit(".", 1)
            if mod in _LAYER:
                return tower, f"layers.{i}.{_LAYER[mod]}.{leaf}"
    return None


def read_safetensors_mmap(path):
    """{key: tensor} of a .safetensors file, memory-mapped (private copy-on-write pages: nothing is read until used),
    what safetensors.safe_open(framework="pt") does; written out here because Debian 12 packages no
    python3-safetensors. The format: 8-byte little-endian header length, a JSON header {key: {dtype, shape,
    data_offsets}}, then the data. Only F32 tensors are accepted (what vlfer writes)."""
    import mmap, struct

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    base = 8 + n
    out = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {key} has dtype {info['dtype']}, expected F32")
        start, end = info["data_offsets"]
        count = (end - start) // 4
        t = torch.frombuffer(mm, dtype=torch.float32, count=count, offset=base + start) if count else torch.empty(0)
        if (base + start) % 4:  # unaligned data: copy rather than hand misaligned floats to BLAS
            t = t.clone()
        out[key] = t.view(info["shape"])
    return out


class _no_init:
    """Skip the random initialisation of nn.Linear / LayerNorm / Conv / Embedding while building modules whose
    parameters are replaced by a checkpoint's anyway (what transformers' no_init_weights does)."""

    names = ("kaiming_uniform_", "uniform_", "normal_", "ones_", "zeros_", "trunc_normal_")

    def __enter__(self):
        self.saved = {n: getattr(nn.init, n) for n in self.names}
        for n in self.names:
            setattr(nn.init, n, lambda t, *a, **k: t)

    def __exit__(self, *exc):
        for n, f in self.saved.items():
            setattr(nn.init, n, f)


def from_state_dict(config_file, tensors):
    """Vision and Text towers of config.json holding the given Hugging Face-named tensors as their parameters
    (no copy: a memory-mapped tensor stays mapped). @raises KeyError naming a parameter the checkpoint lacks"""
    cfg = json.load(open(config_file))
    with _no_init():
        towers = {"vision": Vision(cfg["vision_config"], cfg["projection_dim"]), "text": Text(cfg["text_config"], cfg["projection_dim"])}
    want = {(t, n) for t, m in towers.items() for n, _ in m.named_parameters()}
    for key, value in tensors.items():
        target = map_key(key)
        if target is None:
            continue
        tower, name = target
        *path, leaf = name.split(".")
        mod = towers[tower]
        for p in path:
            mod = getattr(mod, p)
        old = getattr(mod, leaf)
        if tuple(old.shape) != tuple(value.shape):
            raise ValueError(f"{key}: shape {tuple(value.shape)} in the checkpoint, {tuple(old.shape)} in config.json")
        setattr(mod, leaf, nn.Parameter(value, requires_grad=False))
        want.discard(target)
    if want:
        raise KeyError(f"checkpoint lacks {len(want)} parameters, e.g. {sorted(want)[:3]}")
    return towers["vision"], towers["text"], cfg


def load_checkpoint(config_file, path):
    """Vision and Text towers with the weights of a checkpoint: `.safetensors` memory-mapped (read_safetensors_mmap),
    or a `.pt` state dict with Hugging Face key names (torch.load; torch 1.13 has no mmap for it, so it reads the file)."""
    if path.endswith(".safetensors"):
        tensors = read_safetensors_mmap(path)
    elif path.endswith(".pt"):
        tensors = torch.load(path, map_location="cpu")
    else:
        raise ValueError(f"{path}: expected a .safetensors or .pt checkpoint")
    return from_state_dict(config_file, tensors)

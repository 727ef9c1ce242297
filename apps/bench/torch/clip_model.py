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
        mask = torch.full((t, t), -1e9).triu(1)
        x = embeds + self.pos[:t]
        for layer in self.layers:
            x = layer(x, mask)
        return self.proj(self.final(x)[torch.arange(x.shape[0]), eot])


def load(config_file):
    cfg = json.load(open(config_file))
    torch.manual_seed(0)
    return Vision(cfg["vision_config"], cfg["projection_dim"]), Text(cfg["text_config"], cfg["projection_dim"]), cfg

"""Transformer LM speed: a training step against torch built-ins, and KV-cache generation.

1. Training step (forward, cross-entropy, backward, clipping, AdamW) of the 4-layer, d=256,
   8-head, context-256, vocabulary-10,000 model (SwiGLU, RMSNorm, RoPE; the configuration of
   ``../shared/research/perf_baselines.md`` §2 (b)), batch 16:
   * ours: ``utils.nn.transformer_lm.TransformerLM`` (``attention="flash"``) with
     ``utils.train.lm.cross_entropy``, ``utils.train.optim.AdamW`` and ``clip_grad_norm``;
   * reference, the same shape from torch built-ins: ``nn.Embedding``, ``nn.Linear``,
     ``nn.RMSNorm``, ``F.silu``, RoPE by complex multiplication, ``F.scaled_dot_product_attention``,
     ``F.cross_entropy``, ``torch.optim.AdamW``, ``clip_grad_norm_``; same weights, same batch.
   Target: ours/reference ≤ 1.0 (median per-round ratio). Also reported: the fraction of the
   matmul peak measured in this process (2048³ fp32 matmul) that our step reaches, counting the
   step's FLOPs with ``torch.utils.flop_counter`` (target ≥ 0.70 on 2 threads), and the
   from-scratch attention path relative to the flash path (no target).
2. Generation: decode tokens/s with and without the KV cache when the context holds 128 and
   512 tokens (after an untimed prefill; without the cache each step re-runs the whole window),
   and a check that ``generate`` gives the same text both ways.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from bench.common import Result, compare, ratio_result
from utils.generate import generate
from utils.nn.transformer_lm import TransformerConfig, TransformerLM
from utils.train.lm import cross_entropy
from utils.train.optim import AdamW, clip_grad_norm

V, C, D, L, H = 10_000, 256, 256, 4, 8


class RefBlock(nn.Module):
    def __init__(self, d, h, d_ff):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.RMSNorm(d, eps=1e-5), nn.RMSNorm(d, eps=1e-5)
        self.qkv, self.out = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.w1, self.w3 = nn.Linear(d, d_ff, bias=False), nn.Linear(d, d_ff, bias=False)
        self.w2 = nn.Linear(d_ff, d, bias=False)

    def forward(self, x, rot):
        B, S, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, -1)
        q, k, v = (t.view(B, S, self.h, d // self.h).transpose(1, 2) for t in (q, k, v))

        def rope(t):
            z = torch.view_as_complex(t.float().reshape(*t.shape[:-1], -1, 2))
            return torch.view_as_real(z * rot).flatten(-2).type_as(t)

        a = F.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=True)
        x = x + self.out(a.transpose(1, 2).reshape(B, S, d))
        y = self.ln2(x)
        return x + self.w2(F.silu(self.w1(y)) * self.w3(y))


class RefLM(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(RefBlock(cfg.d_model, cfg.num_heads, cfg.hidden_dim)
                                    for _ in range(cfg.num_layers))
        self.ln_f = nn.RMSNorm(cfg.d_model, eps=1e-5)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        dh = cfg.d_head
        freqs = cfg.rope_theta ** (-torch.arange(0, dh, 2, dtype=torch.float64) / dh)
        ang = torch.outer(torch.arange(cfg.context_length, dtype=torch.float64), freqs)
        self.register_buffer("rot", torch.polar(torch.ones_like(ang), ang).to(torch.complex64))

    def forward(self, ids):
        x = self.emb(ids)
        rot = self.rot[:ids.shape[1]]
        for b in self.blocks:
            x = b(x, rot)
        return self.head(self.ln_f(x))

    def load_from(self, ours: TransformerLM):
        with torch.no_grad():
            self.emb.weight.copy_(ours.token_embeddings.weight)
            self.ln_f.weight.copy_(ours.ln_final.weight)
            self.head.weight.copy_(ours.lm_head.weight)
            for b, o in zip(self.blocks, ours.layers):
                for name, src in [("ln1", o.ln1), ("ln2", o.ln2), ("qkv", o.attn.qkv),
                                  ("out", o.attn.out), ("w1", o.ffn.w1), ("w2", o.ffn.w2),
                                  ("w3", o.ffn.w3)]:
                    getattr(b, name).weight.copy_(src.weight)


def matmul_peak(n: int = 2048, reps: int = 3) -> float:
    """Best-of-``reps`` fp32 GFLOP/s of an n³ matmul in this process (the "measured peak")."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def step_flops(model, x, y) -> float:
    """FLOPs of one training step (forward + backward), counted by torch's flop counter."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def run(quick: bool) -> list[Result]:
    """``quick``: batch 1, one thread, one round, 2 decode steps (proves the code path only)."""
    threads = torch.get_num_threads()
    if quick:
        torch.set_num_threads(1)
    try:
        return _run(quick)
    finally:
        torch.set_num_threads(threads)


def _run(quick: bool) -> list[Result]:
    torch.manual_seed(0)
    B = 1 if quick else 16
    cfg = TransformerConfig(vocab_size=V, context_length=C, d_model=D, num_layers=L,
                            num_heads=H, attention="flash")
    ours = TransformerLM(cfg)
    scratch = TransformerLM(TransformerConfig(**{**cfg.to_dict(), "attention": "scratch"}))
    scratch.load_state_dict(ours.state_dict())
    ref = RefLM(cfg)
    ref.load_from(ours)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, V, (B, C), generator=g)
    y = torch.randint(0, V, (B, C), generator=g)
    with torch.no_grad():
        diff = (ours(x[:1]) - ref(x[:1])).abs().max().item()

    opt_o = AdamW(ours.parameters(), lr=1e-4, weight_decay=0.1)
    opt_s = AdamW(scratch.parameters(), lr=1e-4, weight_decay=0.1)
    opt_r = torch.optim.AdamW(ref.parameters(), lr=1e-4, weight_decay=0.1)

    def ours_step(model=ours, opt=opt_o):
        loss = cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm(model.parameters(), 1.0)
        opt.step()

    def ref_step():
        loss = F.cross_entropy(ref(x).view(-1, V), y.view(-1))
        opt_r.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
        opt_r.step()

    flops = step_flops(scratch, x, y)
    peak = matmul_peak(512 if quick else 2048)
    stats = compare({"ours": ours_step, "reference": ref_step,
                     "scratch": lambda: ours_step(scratch, opt_s)}, reference="reference",
                    rounds=1 if quick else 5, warmup=1)
    threads = torch.get_num_threads()
    gflops = flops / stats["ours"]["median_s"] / 1e9
    frac = gflops / peak
    out = [
        ratio_result(f"LM train step (L4 d256 S256 B{B}) ours/torch built-ins", stats["ours"],
                     target_max=1.0, detail=f"ours {stats['ours']['median_s'] * 1e3:.0f} ms, "
                     f"ref {stats['reference']['median_s'] * 1e3:.0f} ms; logits max diff "
                     f"{diff:.1e}"),
        Result(f"LM train step: fraction of measured matmul peak (t={threads})", frac, "",
               detail=f"{gflops:.1f} GFLOP/s of {peak:.1f} (n³ matmul); "
                      f"{flops / 1e9:.1f} GFLOP/step counted",
               target=">= 0.7", ok=frac >= 0.7),
        Result("LM train step: scratch attention / flash path", stats["scratch"]["median_s"]
               / stats["ours"]["median_s"], "x",
               detail=f"scratch {stats['scratch']['median_s'] * 1e3:.0f} ms"),
    ]

    # generation: per-token decode speed when the context holds 128 and 512 tokens
    gcfg = TransformerConfig(vocab_size=V, context_length=512, d_model=D, num_layers=L,
                             num_heads=H, attention="flash")
    torch.manual_seed(0)
    gm = TransformerLM(gcfg).eval()
    n_new = 2 if quick else 32
    for ctx_len in (128, 512):
        prompt = torch.randint(0, V, (1, ctx_len - n_new), generator=g)
        new = torch.randint(0, V, (1, n_new), generator=g)
        with torch.no_grad():
            cache = gm.new_cache()
            gm(prompt, cache=cache)                       # prefill (not timed)
            t0 = time.perf_counter()
            for i in range(n_new):                        # one new token per step, cached
                gm(new[:, i:i + 1], cache=cache)
            cached = n_new / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i in range(n_new):                        # the whole window every step
                gm(torch.cat([prompt, new[:, :i + 1]], 1))
            uncached = n_new / (time.perf_counter() - t0)
        short = prompt[0, -20:].tolist()
        same = generate(gm, short, 8, temperature=0, use_cache=True) == \
            generate(gm, short, 8, temperature=0, use_cache=False)
        out.append(Result(f"decode at context {ctx_len}: tokens/s with KV cache", cached,
                          "tok/s", detail=f"{n_new} steps after a {ctx_len - n_new}-token "
                                          f"prefill; generate() same text without cache: {same}"))
        out.append(Result(f"decode at context {ctx_len}: tokens/s without cache", uncached,
                          "tok/s", detail=f"speed-up from the cache {cached / uncached:.1f}x"))
    return out

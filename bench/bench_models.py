"""Training step of the sanity-check models (seed 001) against torch built-ins of the same shape.

The step is the trainer's: forward on the 480 training equations of p = 31 (batch 512 = the whole
training set), the right-hand-side loss of ``utils.train.losses``, backward, gradient clipping at
1.0 and ``torch.optim.AdamW`` (lr 1e-3, weight decay 1). Same weights, same batch, timed in
alternating rounds (``bench.common.compare``):

* LSTM (2 layers, d = 128, V = 36): ours (``utils.nn.lstm.LSTMLM``, the fused path the trainer
  uses) against an LSTM LM built on ``torch.nn.LSTM``. Target: ≤ 1.1. The readable path (four
  gate layers per step) is reported without a target.
* GPT (2 layers, d = 128, 4 heads, post-LN, GELU FFN 4d): ours with ``fast=True`` (what the
  trainer uses: hand-derived LayerNorm backward, torch softmax) against the same model from
  ``nn.Linear``, ``nn.LayerNorm`` and ``F.scaled_dot_product_attention``. Target: ≤ 1.0. The
  readable path (``fast=False``) is reported without a target.
* The trainer's own GPT step, which computes the last block and the classifier only from the
  first right-hand-side position on (same loss and gradients, about a quarter fewer FLOPs), is
  reported against the same reference without a target.
* ms per step, and the fraction of the matmul peak measured in this process (an n³ fp32 matmul,
  ``utils.hardware.measure_matmul``) that the GPT step reaches, its FLOPs counted with
  ``torch.utils.flop_counter`` (matrix products only).

The full mode runs at the process's thread count and at 1 thread (the sanity-check notebook
trains independent runs in 1-thread worker processes); ``--quick`` runs 2 rounds at 1 thread.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.common import Result, compare, ratio_result
from utils.nn.gpt import GPT, create_sinusoidal_embeddings
from utils.nn.lstm import LSTMLM
from utils.train.arithmetic import build_data, make_config
from utils.train.losses import get_loss_and_accuracy

V, D, L, H = 36, 128, 2, 4


class TorchLSTMLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(V, D, padding_idx=V - 1)
        self.lstm = nn.LSTM(D, D, L, batch_first=True)
        self.classifier = nn.Linear(D, V)

    def forward(self, x):
        out, state = self.lstm(self.embedding(x))
        return self.classifier(out), state

    def load_from(self, ours: LSTMLM):
        with torch.no_grad():
            self.embedding.weight.copy_(ours.embedding.weight)
            self.classifier.load_state_dict(ours.classifier.state_dict())
            for k, cell in enumerate(ours.lstm.layers):
                weight, bias = cell.fused_parameters()
                getattr(self.lstm, f"weight_ih_l{k}").copy_(weight[:, :cell.input_size])
                getattr(self.lstm, f"weight_hh_l{k}").copy_(weight[:, cell.input_size:])
                getattr(self.lstm, f"bias_ih_l{k}").copy_(bias)
                getattr(self.lstm, f"bias_hh_l{k}").zero_()
        return self


class TorchBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(D, D) for _ in range(4))
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.ffn = nn.Sequential(nn.Linear(D, 4 * D, bias=False), nn.GELU(),
                                 nn.Linear(4 * D, D, bias=False))

    def forward(self, x):
        B, S, _ = x.shape
        heads = lambda t: t.view(B, S, H, D // H).transpose(1, 2)  # noqa: E731
        a = F.scaled_dot_product_attention(heads(self.q(x)), heads(self.k(x)), heads(self.v(x)),
                                           is_causal=True)
        x = self.norm1(x + self.o(a.transpose(1, 2).reshape(B, S, D)))
        return self.norm2(x + self.ffn(x))


class TorchGPT(nn.Module):
    def __init__(self, S: int):
        super().__init__()
        self.tokens = nn.Embedding(V, D, padding_idx=V - 1)
        self.register_buffer("pe", create_sinusoidal_embeddings(S, D))
        self.blocks = nn.ModuleList([TorchBlock() for _ in range(L)])
        self.classifier = nn.Linear(D, V)

    def forward(self, x):
        h = self.tokens(x) + self.pe[:x.shape[1]]
        for block in self.blocks:
            h = block(h)
        return self.classifier(h), None

    def load_from(self, ours: GPT):
        with torch.no_grad():
            self.tokens.weight.copy_(ours.embedding.tokens.weight)
            self.classifier.load_state_dict(ours.classifier.state_dict())
            for mine, theirs in zip(ours.decoder.blocks, self.blocks):
                a = mine.self_attn
                for lin, ref in ((a.W_Q, theirs.q), (a.W_K, theirs.k), (a.W_V, theirs.v),
                                 (a.W_O, theirs.o)):
                    ref.load_state_dict(lin.state_dict())
                theirs.norm1.load_state_dict(mine.self_attn_norm.state_dict())
                theirs.norm2.load_state_dict(mine.ffn_norm.state_dict())
                theirs.ffn.load_state_dict(mine.ffn.state_dict())
        return self


def make_step(model, batch, from_position: int = 0):
    x, y, eq, mask = batch
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1.0)
    p = from_position

    def step():
        opt.zero_grad(set_to_none=True)
        logits, *_ = model(x, from_position=p) if p else model(x)
        loss, _ = get_loss_and_accuracy(logits, y[:, p:], eq - p, mask[:, p:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        opt.step()
        return float(loss.detach())
    return step


def first_loss(model, batch) -> float:
    with torch.no_grad():
        return float(get_loss_and_accuracy(model(batch[0])[0], *batch[1:])[0])


def count_flops(step) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def matmul_peak(n: int, threads: int) -> float:
    from utils.hardware import measure_matmul

    return max(measure_matmul(n, threads=threads, repeats=3 if n <= 1024 else 5)["gflops"])


def bench_threads(threads: int, quick: bool) -> list[Result]:
    torch.set_num_threads(threads)
    rounds = 2 if quick else 9
    train, _, _, S, _ = build_data(make_config())
    out = []
    tag = f"(t={threads})"

    torch.manual_seed(0)
    lstm = LSTMLM(V, D, D, L, padding_index=V - 1, fused=True)
    lstm_readable = LSTMLM(V, D, D, L, padding_index=V - 1, fused=False)
    lstm_readable.load_state_dict(lstm.state_dict())
    lstm_ref = TorchLSTMLM().load_from(lstm)
    same = abs(first_loss(lstm, train) - first_loss(lstm_ref, train))
    stats = compare({"ours": make_step(lstm, train), "readable": make_step(lstm_readable, train),
                     "torch": make_step(lstm_ref, train)}, reference="torch", rounds=rounds)
    out.append(ratio_result(f"LSTM train step, ours (fused) / torch.nn.LSTM {tag}",
                            stats["ours"], target_max=1.1,
                            detail=f"same weights, |Δ loss| {same:.1e}"))
    out.append(ratio_result(f"LSTM train step, readable cell / torch.nn.LSTM {tag}",
                            stats["readable"]))
    for name in ("ours", "torch"):
        out.append(Result(f"LSTM train step, {name} {tag}", stats[name]["median_s"] * 1e3, "ms",
                          detail=f"batch {len(train[0])}, S={S}"))

    torch.manual_seed(0)
    gpt = GPT(H, L, D, V, S, padding_index=V - 1, fast=True)
    gpt_readable = GPT(H, L, D, V, S, padding_index=V - 1, fast=False)
    gpt_readable.load_state_dict(gpt.state_dict())
    gpt_ref = TorchGPT(S).load_from(gpt)
    same = abs(first_loss(gpt, train) - first_loss(gpt_ref, train))
    gpt_rhs = GPT(H, L, D, V, S, padding_index=V - 1, fast=True)
    gpt_rhs.load_state_dict(gpt.state_dict())
    start = int(train[2].min()) + 1
    steps = {"fast": make_step(gpt, train), "readable": make_step(gpt_readable, train),
             "torch": make_step(gpt_ref, train), "trainer": make_step(gpt_rhs, train, start)}
    stats = compare(steps, reference="torch", rounds=rounds)
    out.append(ratio_result(f"GPT train step, ours (fast) / torch built-ins {tag}",
                            stats["fast"], target_max=1.0,
                            detail=f"same weights, |Δ loss| {same:.1e}"))
    out.append(ratio_result(f"GPT train step, readable / torch built-ins {tag}",
                            stats["readable"]))
    out.append(ratio_result(f"GPT trainer step (RHS logits only) / torch full step {tag}",
                            stats["trainer"], detail=f"last block and classifier from "
                            f"position {start} on: less work, same loss and gradients"))
    for name in ("fast", "trainer", "torch"):
        out.append(Result(f"GPT train step, {name} {tag}", stats[name]["median_s"] * 1e3, "ms",
                          detail=f"batch {len(train[0])}, S={S}"))
    flops = count_flops(steps["fast"])
    peak = matmul_peak(1024 if quick else 2048, threads)
    achieved = flops / stats["fast"]["median_s"] / 1e9
    out.append(Result(f"GPT train step: fraction of measured matmul peak {tag}",
                      achieved / peak, "",
                      detail=f"{flops / 1e9:.2f} GFLOP/step (matmuls), {achieved:.1f} GFLOP/s "
                             f"of {peak:.1f} ({1024 if quick else 2048}³ matmul)"))
    return out


def run(quick: bool = False) -> list[Result]:
    """quick: 1 thread, 2 rounds (proves the code path; robust on a busy machine)."""
    threads = torch.get_num_threads()
    try:
        if quick:
            return bench_threads(1, quick)
        results = bench_threads(threads, quick)
        if threads != 1:
            results += bench_threads(1, quick)
        return results
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":  # pragma: no cover
    for r in run(quick=True):
        print(r.line())

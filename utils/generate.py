"""Text generation with a trained language model: greedy, temperature, top-p, KV cache.

Taught in notebooks 06 (seed 004, CS336 problem ``decoding``) and 07 (seed 003 §2.7,
question 2.8). At each step the model gives logits o over the vocabulary for the next token:

* **greedy**: w = argmax_w o_w (``temperature=0``); deterministic, prone to loops;
* **temperature** τ > 0: p = softmax(o / τ); τ < 1 sharpens, τ > 1 flattens;
* **top-p / nucleus** (Holtzman et al., 2020): sort p in descending order and keep the smallest
  prefix S whose mass Σ_{w∈S} p_w ≥ p_top; renormalise over S and sample (``top_p_filter``);
* stop after ``max_new_tokens`` or when the end-of-text id ``eos_id`` is drawn (not returned).

**KV cache.** Without a cache, every step re-runs the model on the whole context: O(S²) work
per new token in attention, O(S) in the matrix products. With ``use_cache=True`` the keys and
values of earlier tokens are kept (``utils.nn.transformer_lm.KVCache``) and each step feeds
only the new token: O(S) per token. Both paths see exactly the same window of tokens, so they
give the same logits (up to float rounding) and, with the same generator, the same text
(``tests/test_generate.py``).

**Longer than the context.** When the text outgrows the model's ``context_length`` C, the
oldest tokens are dropped so that the newest ⌈C/2⌉ remain, and generation continues from that
window (positions restart at 0); the cached path re-fills its cache once at each such shift, so
the cost per token stays O(C) on average.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .nn.functional import softmax


def top_p_filter(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero all but the smallest most-probable set with mass ≥ ``top_p``; renormalise.

    ``probs`` (..., V) sums to 1 over the last dimension. A token is kept when the mass of
    the tokens ranked strictly above it is still < ``top_p``, so the first token is always
    kept and the kept set is the shortest prefix of the sorted distribution reaching top_p.
    """
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    # >>> exercise: top_p
    # hint: sort descending; keep a token while the mass ranked strictly above it is < top_p (the
    # hint: first always); scatter back to vocabulary order; zero the rest, renormalise.
    sorted_p, order = probs.sort(dim=-1, descending=True)                 # (..., V)
    mass_before = sorted_p.double().cumsum(dim=-1) - sorted_p.double()
    keep_sorted = mass_before < top_p
    keep_sorted[..., 0] = True
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    kept = probs * keep
    return kept / kept.sum(dim=-1, keepdim=True)
    # <<< exercise


def next_token_distribution(logits: torch.Tensor, temperature: float = 1.0,
                            top_p: float = 1.0) -> torch.Tensor:
    """p(next) from logits (..., V) with temperature τ > 0 and nucleus filtering."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 here (0 means greedy), got {temperature}")
    probs = softmax(logits.double() / temperature, dim=-1)
    return top_p_filter(probs, top_p) if top_p < 1.0 else probs


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_p: float = 1.0,
                generator: torch.Generator | None = None) -> int:
    """One token id from the logits (V,) of the last position: greedy if temperature == 0."""
    if temperature == 0:
        return int(torch.argmax(logits))
    probs = next_token_distribution(logits, temperature, top_p)
    if generator is not None and probs.device != generator.device:
        probs = probs.to(generator.device)       # torch draws only on the generator's device
    return int(torch.multinomial(probs, 1, generator=generator))


def _window_start(start: int, n: int, context_length: int) -> int:
    """Start of the token window the model sees when ``n`` tokens exist (see module doc)."""
    if n - start <= context_length:
        return start
    return n - max(1, (context_length + 1) // 2)


@torch.no_grad()
def generate(model, prompt: Sequence[int] | torch.Tensor, max_new_tokens: int,
             temperature: float = 1.0, top_p: float = 1.0, eos_id: int | None = None,
             use_cache: bool = True, generator: torch.Generator | None = None) -> list[int]:
    """Continue ``prompt`` (token ids) with up to ``max_new_tokens`` new ids; returns them.

    ``temperature=0`` is greedy decoding; ``top_p < 1`` samples from the nucleus; ``eos_id``
    stops generation when drawn (the end-of-text id is not included in the result).
    """
    if isinstance(prompt, torch.Tensor):
        if prompt.dim() != 1:
            raise ValueError(f"prompt must be a 1-D sequence of token ids, got shape "
                             f"{tuple(prompt.shape)}")
        prompt = prompt.tolist()
    tokens = [int(t) for t in prompt]
    if not tokens:
        raise ValueError("the prompt must hold at least one token (e.g. an end-of-text id)")
    V, C = model.config.vocab_size, model.config.context_length
    bad = [t for t in tokens if not 0 <= t < V]
    if bad:
        raise ValueError(f"prompt token ids must lie in [0, {V - 1}]; got {bad[:5]}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
            or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    new: list[int] = []
    start, cache, cached_upto = 0, None, 0
    try:
        for _ in range(max_new_tokens):
            n = len(tokens)
            window = _window_start(start, n, C)
            if use_cache:
                if cache is None or window != start:
                    cache, cached_upto = model.new_cache(), window     # (re)fill from window
                feed = torch.tensor([tokens[cached_upto:n]], device=device)
                logits = model(feed, cache=cache)[0, -1]                # (V,)
                cached_upto = n
            else:
                logits = model(torch.tensor([tokens[window:n]], device=device))[0, -1]
            start = window
            nxt = sample_next(logits, temperature, top_p, generator)
            if eos_id is not None and nxt == eos_id:
                break
            tokens.append(nxt)
            new.append(nxt)
    finally:
        model.train(was_training)
    return new


def generate_text(model, tokenizer, prompt: str, max_new_tokens: int, **kwargs) -> str:
    """``generate`` on text: encode the prompt, generate, decode the new tokens."""
    ids = tokenizer.encode(prompt)
    return tokenizer.decode(generate(model, ids, max_new_tokens, **kwargs))

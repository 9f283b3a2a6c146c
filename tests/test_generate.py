"""Generation (utils/generate.py): KV cache equals no cache, top-p's kept set, temperature,
greedy, stopping; and the character tokenizer (utils/data/chars.py)."""

import numpy as np
import pytest
import torch

from utils.data.chars import CharTokenizer
from utils.generate import (generate, generate_text, next_token_distribution, sample_next,
                            top_p_filter)
from utils.nn.transformer_lm import TransformerConfig, TransformerLM

D64 = torch.float64


def lm(seed=0, dtype=D64, **kw):
    base = dict(vocab_size=40, context_length=24, d_model=32, num_layers=2, num_heads=4)
    base.update(kw)
    torch.manual_seed(seed)
    m = TransformerLM(TransformerConfig(**base)).to(dtype).eval()
    with torch.no_grad():   # sharpen the random model a bit so greedy text is not constant
        m.lm_head.weight.mul_(4)
    return m


@pytest.mark.parametrize("positions,attention", [("rope", "scratch"), ("rope", "flash"),
                                                 ("learned", "scratch"), ("none", "flash")])
@pytest.mark.parametrize("temperature,top_p", [(0.0, 1.0), (1.0, 1.0), (0.8, 0.9)])
def test_kv_cache_generation_equals_uncached(positions, attention, temperature, top_p):
    m = lm(positions=positions, attention=attention)
    prompt = [3, 1, 4, 1, 5, 9, 2, 6]
    # 60 new tokens: the text outgrows the 24-token context twice (window shifts)
    runs = [generate(m, prompt, 60, temperature=temperature, top_p=top_p, use_cache=c,
                     generator=torch.Generator().manual_seed(7)) for c in (True, False)]
    assert runs[0] == runs[1]
    assert len(runs[0]) == 60 and len(set(runs[0])) > 3


def test_kv_cache_logits_equal_uncached_float32():
    m = lm(dtype=torch.float32)
    prompt = torch.randint(0, 40, (10,), generator=torch.Generator().manual_seed(1))
    full = m(prompt[None])[0]
    cache = m.new_cache()
    step = [m(prompt[None, :4], cache=cache)[0]] + [m(prompt[None, i:i + 1], cache=cache)[0]
                                                    for i in range(4, 10)]
    torch.testing.assert_close(torch.cat(step), full, rtol=1e-5, atol=1e-5)
    assert generate(m, prompt, 30, temperature=0) == generate(m, prompt, 30, temperature=0,
                                                              use_cache=False)


def test_greedy_is_argmax_of_the_full_forward():
    m = lm()
    prompt = [5, 6, 7]
    out = generate(m, prompt, 5, temperature=0)
    seq = list(prompt)
    for t in out:
        assert t == int(m(torch.tensor([seq]))[0, -1].argmax())
        seq.append(t)


def test_top_p_keeps_the_smallest_set_with_enough_mass():
    p = torch.tensor([0.05, 0.5, 0.15, 0.3], dtype=D64)
    assert (top_p_filter(p, 0.75) > 0).tolist() == [False, True, False, True]
    assert (top_p_filter(p, 0.85) > 0).tolist() == [False, True, True, True]
    assert (top_p_filter(p, 0.4) > 0).tolist() == [False, True, False, False]
    assert (top_p_filter(p, 1.0) > 0).all()
    torch.testing.assert_close(top_p_filter(p, 0.75), torch.tensor([0, 0.625, 0, 0.375],
                                                                    dtype=D64))
    g = torch.Generator().manual_seed(2)
    for trial in range(300):
        probs = torch.softmax(torch.randn(2, 30, generator=g, dtype=D64) * 3, -1)
        top = float(torch.rand(1, generator=g)) * 0.98 + 0.01
        kept = top_p_filter(probs, top) > 0
        for row, k in zip(probs, kept):
            mass = row[k].sum().item()
            assert mass >= top - 1e-12                              # enough mass
            assert mass - row[k].min().item() < top                 # and no smaller set works
            if (~k).any():
                assert row[k].min() >= row[~k].max()                # the most probable ones
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(p, 0.0)


def test_temperature_and_sampling_frequencies():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0], dtype=D64)
    for tau in (0.5, 1.0, 2.0):
        torch.testing.assert_close(next_token_distribution(logits, tau),
                                   torch.softmax(logits / tau, -1), rtol=0, atol=1e-15)
    g = torch.Generator().manual_seed(3)
    draws = np.bincount([sample_next(logits, 1.0, 0.9, g) for _ in range(4000)], minlength=4)
    expected = top_p_filter(torch.softmax(logits, -1), 0.9).numpy() * 4000
    assert draws[3] == 0                                           # outside the nucleus
    assert np.abs(draws - expected).max() < 5 * np.sqrt(expected.max())
    assert sample_next(logits, 0.0) == 0


def test_stops_at_end_of_text_and_checks_input():
    m = lm()
    free = generate(m, [1, 2], 20, temperature=0)
    eos = free[5]
    first = free.index(eos)
    assert generate(m, [1, 2], 20, temperature=0, eos_id=eos) == free[:first]
    assert generate(m, [1, 2], 0) == []
    with pytest.raises(ValueError, match="at least one token"):
        generate(m, [], 5)
    with pytest.raises(ValueError, match=r"\[0, 39\]"):
        generate(m, [40], 5)
    with pytest.raises(ValueError, match="temperature"):
        generate(m, [1], 5, temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        generate(m, [1], 5, top_p=1.5)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(m, [1], -1)


def test_char_tokenizer_round_trip_and_errors():
    text = "Once upon a time, a king.\nThe end!"
    tok = CharTokenizer.from_text(text)
    assert tok.itos == sorted(set(text)) and tok.vocab_size == len(set(text))
    ids = tok.encode(text)
    assert tok.decode(ids) == text and ids[0] == tok.itos.index("O")
    assert tok.encode_array(text).dtype == np.uint16
    assert CharTokenizer.from_dict(tok.to_dict()).encode(text) == ids
    with pytest.raises(ValueError, match="not in the vocabulary: 'Zq'"):
        tok.encode("qZ")
    with pytest.raises(ValueError, match=r"\[0, "):
        tok.decode([tok.vocab_size])
    with pytest.raises(ValueError, match="non-empty"):
        CharTokenizer.from_text("")
    m = lm(vocab_size=tok.vocab_size)
    out = generate_text(m, tok, "Once", 10, temperature=0)
    assert len(out) == 10 and set(out) <= set(text)

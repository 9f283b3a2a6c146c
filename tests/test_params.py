"""Parameter validation: every bad input gets an error naming what is allowed."""

import pytest

from utils import params as P


def ns(**kw):
    base = {"profile": "smoke", "seeds": [0, 1]}
    base.update(kw)
    return base


def test_defaults_pass_and_are_normalised():
    n = ns(seeds="0 1 2", steps=3.0)
    p = P.validate(n, {"steps": P.Int(min=1)})
    assert p.seeds == [0, 1, 2] and p.steps == 3 and n["seeds"] == [0, 1, 2]
    assert p.pick(smoke=1, laptop=2, full=3) == 1


@pytest.mark.parametrize("profile", ["nonsense", "Laptop", "", None])
def test_unknown_profile_lists_choices(profile):
    with pytest.raises(P.ParameterError, match="'smoke', 'laptop', 'full'"):
        P.validate(ns(profile=profile))


@pytest.mark.parametrize("seeds,msg", [([], "non-empty"), ("a b", "list of ints"),
                                       ([0, 0], "repeat"), ([-1], ">= 0"), ([1.5], "int")])
def test_bad_seeds(seeds, msg):
    with pytest.raises(P.ParameterError, match=msg):
        P.validate(ns(seeds=seeds))


def test_single_int_seed_becomes_list():
    assert P.validate(ns(seeds=7)).seeds == [7]


def test_int_range_and_type():
    with pytest.raises(P.ParameterError, match="between 1 and 5, got 9"):
        P.validate(ns(k=9), {"k": P.Int(1, 5)})
    with pytest.raises(P.ParameterError, match="must be an int"):
        P.validate(ns(k="3"), {"k": P.Int(1, 5)})
    with pytest.raises(P.ParameterError, match="must be an int"):
        P.validate(ns(k=True), {"k": P.Int(1, 5)})


def test_float_bool_choice_text():
    spec = {"lr": P.Float(0, 1), "flag": P.Bool(), "kind": P.Choice(("a", "b")), "path": P.Text()}
    p = P.validate(ns(lr=1, flag="true", kind="b", path=None), spec)
    assert (p.lr, p.flag, p.kind, p.path) == (1.0, True, "b", "")
    with pytest.raises(P.ParameterError, match="between 0 and 1"):
        P.validate(ns(lr=2.0, flag=True, kind="a", path=""), spec)
    with pytest.raises(P.ParameterError, match="'a', 'b'"):
        P.validate(ns(lr=0.1, flag=True, kind="c", path=""), spec)
    with pytest.raises(P.ParameterError, match="True or False"):
        P.validate(ns(lr=0.1, flag=3, kind="a", path=""), spec)


def test_injected_misspelled_name_is_rejected_with_valid_names():
    history = ["", "profile = 'laptop'\nseeds = [0]\n", "# Parameters\nseed = 3\nprofile = 'smoke'\n"]
    assert P.injected_names(history) == ["seed", "profile"]
    with pytest.raises(P.ParameterError) as err:
        P.validate(ns(seed=3, steps=1), {"steps": P.Int()}, history=history)
    text = str(err.value)
    assert "unknown parameter 'seed'" in text and "seeds" in text and "steps" in text


def test_declared_but_missing():
    with pytest.raises(P.ParameterError, match="declared but not defined"):
        P.validate(ns(), {"steps": P.Int()})


def test_pick_rejects_unknown_profile_keyword():
    with pytest.raises(TypeError):
        P.validate(ns()).pick(smoke=1, laptp=2)


def test_show_source_displays_the_code_that_runs(monkeypatch):
    import IPython.display

    from utils.notebook import show_source

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)

    def taught(x):
        return x + 1

    show_source(taught)
    out = shown[0].data
    assert out.startswith("```python\n")
    assert "def taught(x):" in out and "return x + 1" in out
    with pytest.raises(TypeError, match="at least one"):
        show_source()


def test_n_sentences_counts_sentence_ends_not_decimals_or_abbreviations():
    from utils.notebook import n_sentences

    # hand-counted: decimals, "e.g." and "vs." do not end one; a bold "**" closes one, and a
    # sentence may start in lower case (an identifier such as "lr")
    assert n_sentences("The loss fell to 1.2 at step 5. Then it rose.") == 2
    assert n_sentences("Rates, e.g. 1e2 vs. 1e3, differ by 0.5 nats per token.") == 1
    assert n_sentences("**lr 100 decays fastest.** lr 1000 diverges! Why? 3 reasons.") == 4
    assert n_sentences("No full stop at the end") == 0
    assert n_sentences("'Quoted.' (Bracketed.) \"Double.\"") == 3

"""utils.stance.DecisionRule: the stance follows the recorded criteria and the threshold."""

import pytest

from utils.stance import DecisionRule


def rule(k=2):
    return DecisionRule("Q9", assertion="X is always better.", agree_if_at_least=k,
                        criteria={"a": "X wins on A", "b": "X wins on B", "c": "X is cheaper"},
                        nuance={"Disagree": "X wins only on A."})


@pytest.mark.parametrize("held,k,expected", [
    ((True, True, False), 2, "Agree"), ((True, False, False), 2, "Disagree"),
    ((True, True, True), 3, "Agree"), ((True, True, False), 3, "Disagree"),
    ((False, False, True), 1, "Agree"), ((False, False, False), 1, "Disagree")])
def test_stance_is_computed_from_the_rule(held, k, expected):
    r = rule(k)
    for name, h in zip("abc", held):
        r.record(name, h, f"measured {name}")
    assert r.stance() == expected
    md = r.markdown_stance()
    assert f"**{expected}**" in md and f"{sum(held)} of the 3 criteria hold" in md


def test_strongest_evidence_only_names_criteria_that_support_the_stance():
    r = rule(2)
    r.record("a", True, "A: 0.9 vs 0.5, p = 0.01")
    r.record("b", False, "B: 0.5 vs 0.5, p = 0.9")
    r.record("c", False, "C: 1.0x")
    assert r.stance() == "Disagree"
    # 'a' held (it supports Agree), so it is skipped although named first
    assert r.supporting(["a", "c"]) == ["c", "b"]
    md = r.markdown_stance(["a", "c"])
    assert "1. *c* (fails): C: 1.0x" in md and "2. *b* (fails)" in md
    assert "X wins only on A." in md


def test_rule_markdown_states_threshold_before_runs():
    md = rule(2).markdown()
    assert "at least 2 of the 3" in md and "1. **a**: X wins on A" in md
    assert "all criteria" in rule(3).markdown()


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"agree_if_at_least must be an int in 1..3"):
        rule(4)
    with pytest.raises(ValueError, match="at least one criterion"):
        DecisionRule("Q9", "x", {}, 1)
    with pytest.raises(ValueError, match="nuance keys"):
        DecisionRule("Q9", "x", {"a": "y"}, 1, nuance={"Maybe": "z"})
    r = rule()
    with pytest.raises(KeyError, match="unknown criterion 'd'"):
        r.record("d", True, "x")
    with pytest.raises(ValueError, match="evidence must be a non-empty sentence"):
        r.record("a", True, " ")
    r.record("a", True, "ok")
    with pytest.raises(RuntimeError, match=r"criteria \['b', 'c'\] have no recorded outcome"):
        r.stance()
    r.record("b", True, "ok")
    r.record("c", True, "ok")
    with pytest.raises(KeyError, match="strongest names 'z'"):
        r.supporting(["z"])

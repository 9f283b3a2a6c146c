"""Decision rule → stance: the verdict of an assertion study computed from its runs.

The assertion studies (notebooks 30-35, seed 000) each take a stand, Agree or Disagree, on an
assertion. So that the stand follows from the evidence and not the other way round, every
notebook states its rule *before* any experiment runs, as a list of measurable criteria each
phrased so that "it holds" supports the assertion, and a threshold:

    Agree  ⇔  at least k of the n criteria hold.

After the runs, each criterion is recorded with the measured evidence, and the stance is
rendered from the rule, so a rerun with other seeds can change it and the text stays true::

    rule = DecisionRule("Q5", assertion=ASSERTION, agree_if_at_least=2, criteria={
        "accuracy": "one head matches every multi-head model (Welch p ≥ 0.05) on both data sets",
        "memory": "one head's measured peak memory is ≥ 20 % lower"})
    rule.show()                                    # section 2, before the experiments
    ...
    rule.record("accuracy", holds=bool(p >= 0.05), evidence=f"p = {p:.3f}, n = 3 seeds")
    rule.show_stance(strongest=["accuracy", "memory"])  # section 6
"""

from __future__ import annotations

from dataclasses import dataclass, field

STANCES = ("Agree", "Disagree")


@dataclass
class _Record:
    holds: bool
    evidence: str


@dataclass
class DecisionRule:
    """Criteria fixed before the runs; the stance computed from what was recorded."""

    question: str
    assertion: str
    criteria: dict[str, str]
    agree_if_at_least: int
    nuance: dict[str, str] = field(default_factory=dict)   # optional text per stance
    records: dict[str, _Record] = field(default_factory=dict, init=False)

    def __post_init__(self):
        if not isinstance(self.criteria, dict) or not self.criteria:
            raise ValueError("a decision rule needs at least one criterion "
                             "(a dict: name -> what would have to hold)")
        n = len(self.criteria)
        k = self.agree_if_at_least
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
            raise ValueError(f"agree_if_at_least must be an int in 1..{n} (the number of "
                             f"criteria), got {k!r}")
        unknown = sorted(set(self.nuance) - set(STANCES))
        if unknown:
            raise ValueError(f"nuance keys must be among {STANCES}, got {unknown}")

    # -- before the runs ---------------------------------------------------------------------
    def markdown(self) -> str:
        n, k = len(self.criteria), self.agree_if_at_least
        need = "all" if k == n else f"at least {k} of the {n}"
        lines = [f"**Decision rule ({self.question}), fixed before any experiment runs.** "
                 f"The answer is **Agree** if {need} criteria below hold, and **Disagree** "
                 f"otherwise. Each criterion is phrased so that *holding* supports the "
                 f"assertion; section 6 renders the stance from the measured outcomes.", ""]
        lines += [f"{i}. **{name}**: {text}" for i, (name, text) in
                  enumerate(self.criteria.items(), 1)]
        return "\n".join(lines)

    def show(self) -> None:
        from IPython.display import Markdown, display

        display(Markdown(self.markdown()))

    # -- after the runs ----------------------------------------------------------------------
    def record(self, name: str, holds: bool, evidence: str) -> None:
        """Record one criterion's outcome and the measured evidence (a sentence with numbers)."""
        if name not in self.criteria:
            raise KeyError(f"unknown criterion {name!r}; the rule has {list(self.criteria)}")
        if not isinstance(holds, bool):
            holds = bool(holds)   # numpy bools
        if not isinstance(evidence, str) or not evidence.strip():
            raise ValueError(f"criterion {name!r}: evidence must be a non-empty sentence")
        self.records[name] = _Record(holds, evidence.strip())

    def _check_complete(self) -> None:
        missing = [c for c in self.criteria if c not in self.records]
        if missing:
            raise RuntimeError(f"{self.question}: criteria {missing} have no recorded outcome; "
                               f"call rule.record(name, holds, evidence) for each first")

    @property
    def n_hold(self) -> int:
        return sum(r.holds for r in self.records.values())

    def stance(self) -> str:
        """'Agree' if at least ``agree_if_at_least`` criteria hold, else 'Disagree'."""
        self._check_complete()
        return "Agree" if self.n_hold >= self.agree_if_at_least else "Disagree"

    def supporting(self, strongest: list[str] | None = None) -> list[str]:
        """Criteria whose outcome supports the computed stance (held for Agree, failed for
        Disagree), those named in ``strongest`` first, in that order."""
        stance = self.stance()
        for name in strongest or []:
            if name not in self.criteria:
                raise KeyError(f"strongest names {name!r}, not a criterion of "
                               f"{list(self.criteria)}")
        order = list(strongest or []) + [c for c in self.criteria if c not in (strongest or [])]
        return [c for c in order if self.records[c].holds == (stance == "Agree")]

    def markdown_stance(self, strongest: list[str] | None = None) -> str:
        stance = self.stance()
        n, k = len(self.criteria), self.agree_if_at_least
        lines = [f"### Stance on {self.question}: **{stance}**", "",
                 f"{self.n_hold} of the {n} criteria hold; the rule says Agree when at least "
                 f"{k} hold.", ""]
        if stance in self.nuance:
            lines += [self.nuance[stance], ""]
        lines += ["| criterion | holds? | measured evidence |", "|---|---|---|"]
        for name in self.criteria:
            r = self.records[name]
            evidence = r.evidence.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {name} | {'yes' if r.holds else 'no'} | {evidence} |")
        best = self.supporting(strongest)[:2]
        if best:
            lines += ["", "**The strongest evidence for this stance:**", ""]
            lines += [f"{i}. *{name}* ({'holds' if self.records[name].holds else 'fails'}): "
                      f"{self.records[name].evidence}" for i, name in enumerate(best, 1)]
        return "\n".join(lines)

    def show_stance(self, strongest: list[str] | None = None) -> str:
        """Render the stance (Markdown) and return 'Agree' or 'Disagree'."""
        from IPython.display import Markdown, display

        display(Markdown(self.markdown_stance(strongest)))
        return self.stance()

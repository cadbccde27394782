"""Explanations: why a pair scored what it scored, as data and as one readable line.

Batch scoring keeps only the level matrix; an :class:`Explanation` is built on demand for the
pairs someone looks at (a steward's review task, an audit of an automatic merge).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

DecisionKind = Literal["match", "review", "no_match"]


@dataclass(frozen=True, slots=True)
class ComparisonExplanation:
    """One comparison's part in a pair's score."""

    comparison: str
    level: str
    level_index: int
    weight: float
    tf_adjustment: float
    left_value: Any
    right_value: Any
    similarity: float | None = None
    scorer: str | None = None

    @property
    def total(self) -> float:
        """Weight including the term-frequency adjustment."""
        return self.weight + self.tf_adjustment

    def text(self) -> str:
        """One readable fragment, e.g. ``name jw>=0.92 (jaro_winkler 0.95) +4.1``.

        >>> ComparisonExplanation("city", "else", 3, -2.04, 0.0, "koln", "bonn").text()
        'city else -2.0'
        """
        sim = ""
        if self.similarity is not None:
            shown = (
                f"{self.similarity:.0f}"
                if (self.scorer or "").endswith("distance")
                else f"{self.similarity:.2f}"
            )
            sim = f" ({self.scorer} {shown})"
        tf = f" (tf {self.tf_adjustment:+.1f})" if self.tf_adjustment else ""
        return f"{self.comparison} {self.level}{sim} {self.total:+.1f}{tf}"


@dataclass(frozen=True, slots=True)
class Explanation:
    """Everything that made a pair's match weight and probability."""

    left_id: str
    right_id: str
    prior_weight: float
    comparisons: tuple[ComparisonExplanation, ...]
    rules_fired: tuple[str, ...]
    must_link: bool
    cannot_link: bool
    match_weight: float
    probability: float
    decision: DecisionKind

    def text(self) -> str:
        """The explanation as one line a steward can read.

        >>> e = Explanation("a", "b", -10.0, (
        ...     ComparisonExplanation("tax_id", "same", 1, 9.21, 0.0, "x", "x"),),
        ...     (), False, False, -0.79, 0.366, "no_match")
        >>> e.text()
        'tax_id same +9.2; prior -10.0; weight -0.8, p=0.366 -> no_match'
        """
        parts = [c.text() for c in self.comparisons if c.level != "null"]
        line = ", ".join(parts) if parts else "no comparable fields"
        line += f"; prior {self.prior_weight:+.1f}"
        if self.rules_fired:
            effect = (
                "cannot-link" if self.cannot_link else "must-link" if self.must_link else "review"
            )
            line += f"; rules: {', '.join(self.rules_fired)} ({effect})"
        return f"{line}; weight {self.match_weight:+.1f}, p={self.probability:.3f} -> " + (
            self.decision
        )

    def __str__(self) -> str:
        return self.text()

    def to_dict(self) -> dict[str, Any]:
        """Plain data, e.g. to store with a review task.

        >>> Explanation("a", "b", -1.0, (), (), False, False, -1.0, 0.33, "no_match"
        ...             ).to_dict()["decision"]
        'no_match'
        """
        # As dataclasses.asdict would build it, without its deep copy of every value (a fifth
        # of a match-on-query request's time).
        out = {name: getattr(self, name) for name in _EXPLANATION_FIELDS}
        out["comparisons"] = tuple(
            {name: getattr(c, name) for name in _COMPARISON_FIELDS} for c in self.comparisons
        )
        out["rules_fired"] = tuple(self.rules_fired)
        out["text"] = self.text()
        return out


_COMPARISON_FIELDS = tuple(f.name for f in fields(ComparisonExplanation))
_EXPLANATION_FIELDS = tuple(f.name for f in fields(Explanation))

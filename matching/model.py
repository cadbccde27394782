"""The trained match model: a versioned JSON document holding everything scoring needs.

The document carries the spec it was trained with, the prior (lambda), per-comparison ``m`` and
``u`` probabilities per level, term-frequency tables and IDF tables, the training counts and
when it was trained. Scoring reads only this document and the standardised records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from matching.comparisons import IdfTable, multi_columns
from matching.spec import MatchSpec

MODEL_FORMAT_VERSION = 1
PROBABILITY_FLOOR = 1e-6
TF_ADJUSTMENT_BOUNDS = (-6.0, 10.0)


class ComparisonParameters(BaseModel):
    """``m`` and ``u`` for each level of one comparison (the null level has neither)."""

    model_config = ConfigDict(extra="forbid")

    comparison: str
    m: list[float | None]
    u: list[float | None]
    m_sessions: int = 0

    def weights(self) -> list[float]:
        """The match weight (log2 Bayes factor) of each level; 0 for the null level.

        >>> ComparisonParameters(comparison="x", m=[None, 0.9, 0.1], u=[None, 0.01, 0.99]
        ...                      ).weights()[1].__round__(2)
        6.49
        """
        out: list[float] = []
        for m, u in zip(self.m, self.u, strict=True):
            if m is None or u is None:
                out.append(0.0)
            else:
                out.append(math.log2(max(m, PROBABILITY_FLOOR) / max(u, PROBABILITY_FLOOR)))
        return out


class TermFrequencies(BaseModel):
    """Relative frequency of the most common values of one column."""

    model_config = ConfigDict(extra="forbid")

    column: str
    frequencies: dict[str, float]
    default: float


@dataclass(frozen=True, slots=True)
class TermFrequencyTerm:
    """A comparison whose exact agreements are weighed by how common the agreed value is."""

    comparison: int  # position in the spec's comparisons
    column: str
    exact_level: int
    u_exact: float
    table: TermFrequencies


class IdfDocument(BaseModel):
    """Document frequencies of tokens in one column."""

    model_config = ConfigDict(extra="forbid")

    column: str
    n_docs: int
    doc_freq: dict[str, int]


class MatchModel(BaseModel):
    """A trained Fellegi-Sunter model for one match spec.

    >>> from matching.spec import person_spec
    >>> model = MatchModel(spec=person_spec(fields=("surname",)), prior=0.001, parameters=[])
    >>> MatchModel.from_json(model.to_json()).prior
    0.001
    """

    model_config = ConfigDict(extra="forbid")

    format_version: int = MODEL_FORMAT_VERSION
    model_version: str = "1"
    trained_at: str = ""
    spec: MatchSpec
    prior: float = Field(gt=0.0, lt=1.0)
    parameters: list[ComparisonParameters]
    term_frequencies: list[TermFrequencies] = Field(default_factory=list)
    idf: list[IdfDocument] = Field(default_factory=list)
    training_counts: dict[str, Any] = Field(default_factory=dict)

    _weights: list[npt.NDArray[np.float64]] | None = PrivateAttr(default=None)
    _idf_tables: dict[str, IdfTable] | None = PrivateAttr(default=None)
    _tf: dict[str, TermFrequencies] | None = PrivateAttr(default=None)
    _tf_terms: list[TermFrequencyTerm] | None = PrivateAttr(default=None)

    def to_json(self) -> str:
        """Serialise the model (spec included) as a JSON document."""
        return self.model_dump_json(indent=1)

    @classmethod
    def from_json(cls, document: str | bytes) -> MatchModel:
        """Load a model saved with :meth:`to_json`; refuses newer format versions."""
        model = cls.model_validate_json(document)
        if model.format_version > MODEL_FORMAT_VERSION:
            raise ValueError(
                f"model format {model.format_version} is newer than {MODEL_FORMAT_VERSION}"
            )
        return model

    @property
    def prior_weight(self) -> float:
        """log2 of the prior odds that two random records match."""
        return math.log2(self.prior / (1.0 - self.prior))

    def weight_tables(self) -> list[npt.NDArray[np.float64]]:
        """Per comparison, the weight of each level (indexed by level)."""
        if self._weights is None:
            by_name = {p.comparison: p for p in self.parameters}
            tables = []
            for comp in self.spec.comparisons:
                params = by_name.get(comp.name)
                if params is None:
                    tables.append(np.zeros(len(comp.levels)))
                else:
                    tables.append(np.asarray(params.weights(), dtype=np.float64))
            self._weights = tables
        return self._weights

    def idf_tables(self) -> dict[str, IdfTable]:
        """IDF tables by column, ready for the comparisons."""
        if self._idf_tables is None:
            self._idf_tables = {d.column: IdfTable(d.n_docs, d.doc_freq) for d in self.idf}
        return self._idf_tables

    def tf_table(self, column: str) -> TermFrequencies | None:
        """The term-frequency table of a column, if the model has one."""
        if self._tf is None:
            self._tf = {t.column: t for t in self.term_frequencies}
        return self._tf.get(column)

    def parameters_for(self, comparison: str) -> ComparisonParameters | None:
        """The trained parameters of the named comparison."""
        return next((p for p in self.parameters if p.comparison == comparison), None)

    def tf_terms(self) -> list[TermFrequencyTerm]:
        """The comparisons whose exact level is adjusted for term frequency.

        That is each single-valued ``tf_adjust`` comparison with an exact level, a frequency
        table and a trained ``u`` at that level.
        """
        if self._tf_terms is None:
            multi = multi_columns(self.spec)
            terms = []
            for c, comp in enumerate(self.spec.comparisons):
                if not comp.tf_adjust or comp.column in multi:
                    continue
                k = next((k for k, lv in enumerate(comp.levels) if lv.kind == "exact"), None)
                table = self.tf_table(comp.column)
                params = self.parameters_for(comp.name)
                u_exact = None if k is None or params is None else params.u[k]
                if k is None or table is None or u_exact is None:
                    continue
                terms.append(TermFrequencyTerm(c, comp.column, k, u_exact, table))
            self._tf_terms = terms
        return self._tf_terms

"""Record matching as a pure library: standardise, block, compare, score, cluster, evaluate.

Records are plain mappings; a :class:`MatchSpec` (pydantic) says how to match one entity type.
The stages live in their own modules, in the order data flows through them:

``spec`` -> ``standardise`` -> ``blocking`` -> ``comparisons`` -> ``training`` (-> ``model``)
-> ``scoring`` + ``rules`` -> ``explanations`` -> ``clustering`` -> ``evaluation``.

This package never imports the hub (``mdm``), ``publishers``, an ORM or a web framework.

>>> from matching import default_customer_spec, standardise_record, blocking_keys
>>> spec = default_customer_spec()
>>> std = standardise_record({"id": "1", "name": "Acme Ltd", "phones": ["+44 20 7946 0000"]},
...                          spec)
>>> blocking_keys(std, spec)
[('phone', '+442079460000')]
"""

from matching.blocking import (
    BlockingResult,
    CappedKey,
    blocking_keys,
    candidate_pairs,
    frame_blocking_keys,
)
from matching.clustering import Clustering, Decision, Links, cluster, decide, one_to_one
from matching.evaluation import (
    BlockingMetrics,
    ClusterMetrics,
    PairMetrics,
    blocking_metrics,
    evaluate_clusters,
    evaluate_pairs,
    pairs_from_clusters,
)
from matching.explanations import ComparisonExplanation, Explanation
from matching.model import MatchModel
from matching.scoring import ScoredCandidate, ScoredPairs, score, score_one
from matching.spec import (
    BlockingRule,
    Comparison,
    Condition,
    KeyPart,
    Level,
    MatchRule,
    MatchSpec,
    Standardiser,
    Thresholds,
    default_customer_spec,
    default_product_spec,
    person_spec,
)
from matching.standardisation import standardise, standardise_record, warm_up
from matching.training import train

__all__ = [
    "BlockingMetrics",
    "BlockingResult",
    "BlockingRule",
    "CappedKey",
    "ClusterMetrics",
    "Clustering",
    "Comparison",
    "ComparisonExplanation",
    "Condition",
    "Decision",
    "Explanation",
    "KeyPart",
    "Level",
    "Links",
    "MatchModel",
    "MatchRule",
    "MatchSpec",
    "PairMetrics",
    "ScoredCandidate",
    "ScoredPairs",
    "Standardiser",
    "Thresholds",
    "blocking_keys",
    "blocking_metrics",
    "candidate_pairs",
    "cluster",
    "decide",
    "default_customer_spec",
    "default_product_spec",
    "evaluate_clusters",
    "evaluate_pairs",
    "frame_blocking_keys",
    "one_to_one",
    "pairs_from_clusters",
    "person_spec",
    "score",
    "score_one",
    "standardise",
    "standardise_record",
    "train",
    "warm_up",
]

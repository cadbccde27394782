"""Training: EM recovers known parameters, stays monotone, round-trips as JSON, uses labels."""

from __future__ import annotations

import itertools
import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import matching as m
from matching.training import expectation_maximisation, monotone_m


def test_em_recovers_parameters_of_sampled_data() -> None:
    rng = np.random.default_rng(3)
    n, prior = 40_000, 0.1
    m_true = [np.array([0.85, 0.1, 0.05]), np.array([0.9, 0.1]), np.array([0.7, 0.2, 0.1])]
    u_true = [np.array([0.01, 0.04, 0.95]), np.array([0.05, 0.95]), np.array([0.02, 0.08, 0.9])]
    is_match = rng.random(n) < prior
    cols = []
    for mt, ut in zip(m_true, u_true, strict=True):
        lv = np.where(is_match, rng.choice(len(mt), n, p=mt), rng.choice(len(ut), n, p=ut))
        cols.append(lv + 1)
    levels = np.column_stack(cols).astype(np.int8)
    m_hat, prior_hat, _ = expectation_maximisation(levels, u_true)
    assert abs(prior_hat - prior) < 0.01
    for got, want in zip(m_hat, m_true, strict=True):
        assert np.abs(got - want).max() < 0.03


def test_em_ignores_null_levels() -> None:
    levels = np.array([[1, 0], [2, 0], [1, 1], [2, 2]] * 50, dtype=np.int8)
    m_hat, _, _ = expectation_maximisation(levels, [np.array([0.1, 0.9]), np.array([0.1, 0.9])])
    assert all(np.isclose(x.sum(), 1.0) for x in m_hat)


@given(st.lists(st.floats(0.001, 1.0), min_size=2, max_size=7), st.data())
def test_monotone_m_orders_ratios_and_keeps_mass(m_raw: list[float], data: st.DataObject) -> None:
    u_raw = data.draw(st.lists(st.floats(0.001, 1.0), min_size=len(m_raw), max_size=len(m_raw)))
    mm = np.array(m_raw) / sum(m_raw)
    uu = np.array(u_raw) / sum(u_raw)
    out = monotone_m(mm, uu)
    ratios = out / uu
    assert np.all(np.diff(ratios) <= 1e-9 * ratios.max())
    assert np.isclose(out.sum(), mm.sum())


def test_trained_model_is_sensible_and_round_trips(customers, customer_model) -> None:
    model = customer_model
    for params in model.parameters:
        weights = params.weights()
        # Monotone: a better level never weighs less than a worse one.
        assert all(a >= b - 1e-9 for a, b in itertools.pairwise(weights[1:]))
    assert 0 < model.prior < 0.01
    doc = json.loads(model.to_json())
    assert {
        "format_version",
        "model_version",
        "trained_at",
        "spec",
        "prior",
        "parameters",
        "training_counts",
    } <= set(doc)
    again = m.MatchModel.from_json(model.to_json())
    spec = model.spec
    std = m.standardise(customers, spec)
    pairs = m.candidate_pairs(std, spec)
    a = m.score(model, std, None, pairs)
    b = m.score(again, std, None, pairs)
    assert np.allclose(a.match_weight, b.match_weight)


def test_accepted_labels_raise_m_of_their_levels(customers) -> None:
    spec = m.default_customer_spec()
    std = m.standardise(customers, spec)
    base = m.train(std, spec, seed=1)
    # Stewards accepted pairs whose websites agree: website exact becomes surer evidence.
    ids = std["id"].tolist()
    labels = [(ids[i], ids[i + 1], True) for i in range(0, 120, 2)]
    tuned = m.train(std, spec, seed=1, labels=labels)
    assert tuned.training_counts["accepted_labels"] == 60
    base_m = base.parameters_for("website").m[1]
    tuned_m = tuned.parameters_for("website").m[1]
    assert base_m is not None
    assert tuned_m is not None
    assert tuned_m >= base_m


def test_em_learns_from_the_pairs_the_rules_leave_open() -> None:
    # Forty companies, each with two records of its legal entity (same name, street and
    # phone: a match) and a ship-to site (same name and phone, another street). Blocking on
    # the name finds three pairs a company; the two legal-entity / ship-to pairs are decided
    # by the different-role rule. Fitted on all three, EM would take "same phone" for a match
    # and learn that matches disagree on the street two times in three; fitted on the open
    # pair only, matches agree on the street.
    std = m.Standardiser
    null, exact, else_ = (
        m.Level(label="null", kind="null"),
        m.Level(label="exact", kind="exact"),
        m.Level(label="else", kind="else"),
    )
    spec = m.MatchSpec(
        name="companies",
        entity_type="customer",
        standardisers=(
            std(field="name", kind="text"),
            std(field="street", kind="text"),
            std(field="phone", kind="text"),
            std(field="role", kind="code"),
        ),
        blocking_rules=(m.BlockingRule(name="name", parts=(m.KeyPart(column="name"),)),),
        comparisons=tuple(
            m.Comparison(name=c, column=c, levels=(null, exact, else_))
            for c in ("name", "street", "phone")
        ),
        rules=(
            m.MatchRule(
                name="different_role",
                effect="cannot_link",
                all_of=(m.Condition(column="role", test="differ"),),
            ),
        ),
    )
    rows = [
        {
            "id": f"{i}{copy}",
            "name": f"firm {i}",
            "street": f"site {i}" if copy == "s" else f"street {i}",
            "phone": f"{i:07d}",
            "role": "ship_to" if copy == "s" else "legal_entity",
        }
        for i in range(40)
        for copy in ("a", "b", "s")
    ]
    model = m.train(m.standardise(rows, spec), spec)
    street = model.parameters_for("street")
    assert street is not None
    assert street.m[1] is not None
    assert street.m[1] > 0.95  # matches agree on the street; with all pairs it was 1/3
    assert model.training_counts["em_pairs"] == 40  # the one open pair of each company

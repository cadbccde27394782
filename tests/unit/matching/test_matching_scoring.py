"""Scoring, rules and explanations on the small customer world (roles and sites)."""

from __future__ import annotations

import numpy as np

import matching as m


def _scored(customers, model):
    spec = model.spec
    std = m.standardise(customers, spec)
    return std, m.score(model, std, None, m.candidate_pairs(std, spec))


def test_same_site_in_two_systems_matches_but_roles_and_sites_never_do(customers, customer_model):
    std, scored = _scored(customers, customer_model)
    entity = std["id"].map({r["id"]: r["entity_id"] for r in customers}).to_numpy()
    same_entity = entity[scored.left] == entity[scored.right]
    decisions = scored.decisions()
    # Different golden records (a company vs its ship-to, two ship-tos) never auto-match.
    assert not (decisions[~same_entity] == 2).any()
    # The same site seen by ERP and CRM does, for nearly all of them.
    assert (decisions[same_entity] == 2).mean() > 0.95
    roles = std["role"].to_numpy()
    cross_role = roles[scored.left] != roles[scored.right]
    assert cross_role.any()
    assert (scored.probability[cross_role] == 0).all()


def test_explanation_lists_every_comparison_and_the_rules(customers, customer_model):
    std, scored = _scored(customers, customer_model)
    roles = std["role"].to_numpy()
    i = int(np.flatnonzero(roles[scored.left] != roles[scored.right])[0])
    exp = scored.explain(i)
    assert [c.comparison for c in exp.comparisons] == [
        c.name for c in customer_model.spec.comparisons
    ]
    assert "different_role" in exp.rules_fired
    assert exp.cannot_link
    assert exp.probability == 0.0
    assert exp.decision == "no_match"
    total = exp.prior_weight + sum(c.weight + c.tf_adjustment for c in exp.comparisons)
    assert abs(total - exp.match_weight) < 1e-4
    assert "different_role (cannot-link)" in exp.text()


def test_must_link_and_cannot_link_on_tax_ids(customer_model):
    spec = customer_model.spec
    base = {"role": "legal_entity", "name": "Totally Different Name", "country": "DE"}
    recs = [
        {**base, "id": "1", "tax_ids": [{"scheme": "vat", "value": "DE136695976"}]},
        {
            **base,
            "id": "2",
            "name": "Other Thing",
            "city": "Bonn",
            "tax_ids": [{"scheme": "vat", "value": "136695976", "country": "DE"}],
        },
        {**base, "id": "3", "tax_ids": [{"scheme": "vat", "value": "DE129273398"}]},
    ]
    std = [m.standardise_record(r, spec) for r in recs]
    out = {c.candidate_id: c for c in m.score_one(customer_model, std[0], std[1:])}
    assert out["2"].must_link
    assert out["2"].probability == 1.0
    assert out["3"].cannot_link
    assert out["3"].probability == 0.0
    assert out["3"].explanation.match_weight > 0  # same name: the evidence is still shown


def test_score_one_agrees_with_batch(customers, customer_model):
    spec = customer_model.spec
    std, scored = _scored(customers, customer_model)
    records = std.to_dict("records")
    first = int(scored.left[0])
    partners = scored.right[scored.left == first]
    batch = dict(
        zip(
            scored.right_ids[scored.left == first],
            scored.match_weight[scored.left == first],
            strict=True,
        )
    )
    single = m.score_one(customer_model, records[first], [records[j] for j in partners])
    assert len(single) == len(partners)
    for cand in single:
        assert abs(cand.match_weight - batch[cand.candidate_id]) < 1e-9
    # Best first.
    assert [c.probability for c in single] == sorted((c.probability for c in single), reverse=True)
    assert spec.name == "customer"


def test_small_input_fast_paths_agree_with_vectorised_paths(customers, customer_model, monkeypatch):
    import matching.comparisons as comparisons

    spec = customer_model.spec
    std = m.standardise(customers, spec)
    pairs = m.candidate_pairs(std, spec)
    small = m.score(customer_model, std, None, pairs)
    monkeypatch.setattr(comparisons, "_SMALL", -1)  # force pandas / sparse paths
    large = m.score(customer_model, std, None, pairs)
    assert (small.levels == large.levels).all()
    assert np.allclose(small.match_weight, large.match_weight)
    assert (small.rules.fired == large.rules.fired).all()


def test_column_arrays_of_stored_features_score_as_the_frame(customers, customer_model):
    """A few records (an API upsert) are scored on column arrays of their stored features:
    blanks left out, tuples through JSON and back. Every pair scores as on the frame a bulk
    chunk scores on."""
    import orjson

    from matching.comparisons import Columns
    from mdm.linkage.service import _storable, stored_features

    std, scored = _scored(customers, customer_model)
    stored = [orjson.loads(orjson.dumps(_storable(r))) for r in std.to_dict("records")]
    assert any(len(r) < len(std.columns) for r in stored)  # some blanks were left out
    columns = Columns([stored_features(r) for r in stored])
    again = m.score(customer_model, columns, None, (scored.left, scored.right))
    assert (again.levels == scored.levels).all()
    assert np.allclose(again.match_weight, scored.match_weight)
    assert (again.rules.fired == scored.rules.fired).all()
    assert again.right_ids.tolist() == scored.right_ids.tolist()


# A hand-made handful, as an upsert or a match-on-query scores it: every comparison of the
# customer spec reaches its levels (names through exact, IDF cosine, ratio and token set;
# addresses with the same and with other house numbers; a postcode one keystroke off; a city
# compared only where the postcode is missing; shared phones, e-mails and company domains;
# one VAT number shared and one different; two roles; two ship-to sites of one company).
_HANDFUL: list[dict[str, object]] = [
    {
        "id": "q",
        "role": "legal_entity",
        "name": "Wayne Tools GmbH",
        "tax_ids": [{"scheme": "vat", "value": "DE136695976"}],
        "address": "12 Main Street",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
        "phones": ["+49 30 1234567", "+49 30 7654321"],
        "emails": ["orders@wayne.example"],
        "website": "www.wayne.de",
        "duns": "15-048-3782",
    },
    {
        "id": "same",
        "role": "legal_entity",
        "name": "Wayne Tools GmbH",
        "tax_ids": [{"scheme": "vat", "value": "136695976", "country": "DE"}],
        "address": "12 Main St",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "Germany",
        "phones": ["+49 30 1234567"],
        "emails": ["orders@wayne.example"],
        "website": "https://wayne.de",
        "duns": "150483782",
    },
    {
        "id": "typo",
        "role": "legal_entity",
        "name": "Wanye Tools",
        "tax_ids": [{"scheme": "vat", "value": "DE129273398"}],
        "address": "14 Main Street",
        "city": "Berlin",
        "postal_code": "10151",
        "country": "DE",
        "emails": ["sales@wayne.example"],
    },
    {
        "id": "reordered",
        "role": "legal_entity",
        "name": "Tools Wayne Berlin GmbH",
        "address": "Main Street 12",
        "city": "Berlni",
        "country": "DE",
        "phones": ["+49 30 7654321"],
    },
    {
        "id": "other",
        "role": "legal_entity",
        "name": "Acme Foods Ltd",
        "address": "1 Harbour Road",
        "city": "London",
        "postal_code": "SW1A 1AA",
        "country": "GB",
        "website": "www.acme.co.uk",
        "duns": "316712452",
    },
    {"id": "bare", "name": "Wayne Tools"},
    {
        "id": "nearby",
        "role": "legal_entity",
        "name": "Berlin Wayne Tools",
        "address": "12 Mian Strasse",
        "city": "Berlin",
        "country": "DE",
        "emails": ["info@acme.co.uk"],
    },
    {
        "id": "site-1",
        "role": "ship_to",
        "name": "Wayne Tools GmbH",
        "address": "3 Mill Lane",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    },
    {
        "id": "site-2",
        "role": "ship_to",
        "name": "Wayne Tools GmbH",
        "address": "5 Mill Lane",
        "city": "Berlin",
        "postal_code": "10117",
        "country": "DE",
    },
]


def test_a_handful_of_records_scores_as_the_vectorised_frame(customer_model, monkeypatch):
    """Column arrays of a few records (the single-record path) give every pair the levels,
    term-frequency adjustments, weights, probabilities and rule outcomes that the frame gives
    on the paths built for many records."""
    import matching.comparisons as comparisons
    from matching.comparisons import Columns
    from mdm.linkage.service import spec_for

    spec = spec_for("customer")
    assert customer_model.spec == spec
    assert customer_model.idf_tables()  # the name's IDF levels are exercised
    frame = m.standardise(_HANDFUL, spec)
    records = [m.standardise_record(r, spec) for r in _HANDFUL]
    n = len(records)
    left, right = (
        np.array(p, dtype=np.int64)
        for p in zip(*((i, j) for i in range(n) for j in range(i + 1, n)), strict=True)
    )
    small = m.score(customer_model, Columns(records), None, (left, right))
    with monkeypatch.context() as patched:
        patched.setattr(comparisons, "_SMALL", -1)  # pandas, sparse matrices, cpdist in bulk
        large = m.score(customer_model, frame, None, (left, right))

    for c, comp in enumerate(spec.comparisons):  # null, agreement and disagreement at least
        assert len(set(large.levels[:, c].tolist())) > 2, comp.name
    assert large.rules.must_link.any()
    assert large.rules.cannot_link.any()
    assert (small.levels == large.levels).all()
    assert (small.tf_adjustments == large.tf_adjustments).all()
    assert (small.match_weight == large.match_weight).all()
    assert (small.probability == large.probability).all()
    assert (small.rules.fired == large.rules.fired).all()
    assert (small.rules.must_link == large.rules.must_link).all()
    assert (small.rules.cannot_link == large.rules.cannot_link).all()
    for i in range(len(left)):
        assert small.explain(i) == large.explain(i)

    # One record against its candidates, as score_one holds them: two sets of column arrays.
    single = {c.candidate_id: c for c in m.score_one(customer_model, records[0], records[1:])}
    first = left == 0
    for j, weight, probability in zip(
        right[first], large.match_weight[first], large.probability[first], strict=True
    ):
        cand = single[str(_HANDFUL[j]["id"])]
        assert (cand.match_weight, cand.probability) == (weight, probability)
        assert cand.explanation == large.explain(int(np.flatnonzero(first & (right == j))[0]))

"""The product spec: identifiers first, titles weighted by token rarity, one-to-one links."""

from __future__ import annotations

import numpy as np

import matching as m
from matching.comparisons import compare_all


def catalogue() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    shop = [
        {
            "id": "s1",
            "brand": "Sony",
            "name": "Sony WH-1000XM4 Wireless Headphones Black",
            "mpn": None,
            "gtin": None,
            "price": 279.0,
        },
        {
            "id": "s2",
            "brand": "Sony",
            "name": "Sony WH-1000XM5 Wireless Headphones Black",
            "mpn": "WH1000XM5",
            "gtin": None,
            "price": 349.0,
        },
        {
            "id": "s3",
            "brand": "Bosch",
            "name": "Bosch GSR 18V-55 cordless drill",
            "mpn": None,
            "gtin": "4059952512341",
            "price": 129.0,
        },
        {
            "id": "s4",
            "brand": "Apple",
            "name": "Apple USB-C charge cable 1m",
            "mpn": "MUF72ZM/A",
            "gtin": None,
            "price": 19.0,
        },
    ]
    feed = [
        {
            "id": "f1",
            "brand": "SONY",
            "name": "WH1000XM4 headphones, black",
            "mpn": "WH-1000XM4",
            "gtin": None,
            "price": 285.0,
        },
        {
            "id": "f2",
            "brand": "Sony",
            "name": "Sony WH-1000XM5 noise cancelling",
            "mpn": "WH-1000XM5",
            "gtin": None,
            "price": 339.0,
        },
        {
            "id": "f3",
            "brand": "Bosch",
            "name": "Bosch Professional drill driver",
            "mpn": None,
            "gtin": "04059952512341",
            "price": 135.0,
        },
        {
            "id": "f4",
            "brand": "Apple",
            "name": "Apple USB-C charge cable 2m",
            "mpn": "MLL82ZM/A",
            "gtin": None,
            "price": 25.0,
        },
    ]
    return shop, feed


def test_product_link_identifiers_titles_and_part_number_conflicts() -> None:
    spec = m.default_product_spec().model_copy(update={"one_to_one": True})
    shop, feed = catalogue()
    left, right = m.standardise(shop, spec), m.standardise(feed, spec)
    assert left.loc[0, "mpn_all"] == ("WH1000XM4",)  # found in the title
    pairs = m.candidate_pairs(left, spec, other=right)
    model = m.train(left, spec, other=right)
    scored = m.score(model, left, right, pairs)
    frame = scored.to_frame()
    best = {r.left_id: r.right_id for r in frame.sort_values("match_weight").itertuples()}
    assert best["s1"] == "f1"
    assert best["s2"] == "f2"
    gtin_pair = frame[(frame.left_id == "s3") & (frame.right_id == "f3")]
    assert gtin_pair["must_link"].item()
    # Two different part numbers of one brand: s4/f4 share brand and most title words
    # but must weigh less than the true pairs that share a part number.
    pn = frame[(frame.left_id == "s4") & (frame.right_id == "f4")]
    if len(pn):
        exp = scored.explain(int(pn.index[0]))
        part = next(c for c in exp.comparisons if c.comparison == "part_number")
        assert part.level == "else"
        assert part.weight < 0
    kept = m.one_to_one(scored, min_probability=0.0)
    lefts = scored.left_ids[kept]
    assert len(set(lefts)) == len(lefts)
    assert len(set(scored.right_ids[kept])) == len(kept)
    assert np.all(scored.probability[kept] >= 0)


def _levels(records: list[dict[str, object]], pairs: list[tuple[int, int]]) -> dict[str, list[str]]:
    """The level label of each pair, per comparison, by the shipped product spec."""
    spec = m.default_product_spec()
    frame = m.standardise(records, spec)
    li = np.array([a for a, _ in pairs])
    ri = np.array([b for _, b in pairs])
    levels, _ = compare_all(spec, frame, None, li, ri)
    return {
        comp.name: [comp.levels[k].label for k in levels[:, c].tolist()]
        for c, comp in enumerate(spec.comparisons)
    }


def test_sizes_of_one_family_are_told_apart() -> None:
    # Two sizes of one wrench (part numbers differ in their digits, titles in their size) and
    # the same 13 mm wrench written by a second source (its title adds nothing conflicting).
    wrenches = [
        {"id": "a", "brand": "Kronmark", "name": "Ring-Maulschlüssel 13 mm", "mpn": "CW1015-13"},
        {"id": "b", "brand": "Kronmark", "name": "Ring-Maulschlüssel 19 mm", "mpn": "CW1015-19"},
        {
            "id": "c",
            "brand": "KRONMARK",
            "name": "Combination wrench 13mm, chrome",
            "mpn": "CW1015/13",
        },
        {"id": "d", "brand": "Sony", "name": "Camera DSC-W120 silver", "mpn": "DSCW120"},
        {"id": "e", "brand": "Sony", "name": "DSC W120 camera", "mpn": "DSC-W120B"},
    ]
    levels = _levels(wrenches, [(0, 1), (0, 2), (3, 4)])
    assert levels["part_number"] == ["else", "shared", "jw>=0.95, same digits"]
    assert levels["title_numbers"] == ["conflict", "same", "same"]


def test_a_title_listing_more_numbers_is_no_conflict() -> None:
    nuts = [
        {"id": "a", "brand": "Harvo", "name": "Sechskantmutter DIN 934 verzinkt M6"},
        {"id": "b", "brand": "Harvo", "name": "Hex nut DIN 934 zinc plated 200 pcs M6"},
        {"id": "c", "brand": "Harvo", "name": "Hex nut DIN 934 zinc plated 200 pcs M8"},
        {"id": "d", "brand": "Harvo", "name": "Hex nut"},
    ]
    levels = _levels(nuts, [(0, 1), (0, 2), (1, 2), (0, 3)])
    assert levels["title_numbers"] == ["one lists more", "conflict", "conflict", "null"]

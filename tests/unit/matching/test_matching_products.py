"""The product spec: identifiers first, titles weighted by token rarity, one-to-one links."""

from __future__ import annotations

import numpy as np

import matching as m


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

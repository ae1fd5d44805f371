"""Issue 17: the ring section of the nightly report (pictures, reasons, order)."""

from __future__ import annotations

import json
import re

import pandas as pd

from collections_engine.config.graph import GraphConfig
from collections_engine.report.rings import ring_order, ring_picture, ring_section
from collections_engine.rings import detect_rings
from tests.ring_books import DATE, KINDS, book_of, clique


def _rings() -> pd.DataFrame:
    rows = clique("r", 5) + clique("r", 3, "phone") + clique("s", 4, "address") + clique("s", 4, "device")
    graph = GraphConfig(kinds=KINDS, ring={"min_size": 3, "threshold": 0.3})
    return detect_rings(book_of(rows, labels=["r0", "r1"]), graph, DATE).rings


def test_picture_draws_every_member_every_shared_value_and_marks_the_confirmed() -> None:
    rings = _rings()
    ring = rings[rings["customer_ids"].map(lambda c: c[0] == "r0")].iloc[0]
    pic = ring_picture(list(ring["customer_ids"]), ring["links"])
    links = json.loads(ring["links"])
    assert pic.count("<circle") == len(ring["customer_ids"]) + 1  # + the legend's
    assert pic.count("fill='#c62828'") == len(links["confirmed"]) + 1 == 3
    assert len(re.findall(r"<rect [^>]*><title>", pic)) == len(links["values"]) == 2
    assert "device shared by 5" in pic and "phone shared by 3" in pic
    assert ring_picture(list(ring["customer_ids"]), ring["links"]) == pic  # same bytes


def test_order_puts_new_rings_first_then_expected_unconfirmed_fraud() -> None:
    r = pd.DataFrame({"ring_id": ["A", "B", "C", "D"], "size": [10, 4, 6, 3], "confirmed": [2, 0, 1, 3],
                      "score": [0.9, 0.5, 0.6, 1.0], "evidence_unconfirmed": [0.9, 0.5, 0.9, 1.0],
                      "first_flagged": pd.to_datetime(["2026-01-01", "2026-01-31", "2026-01-31", "2026-01-31"])})
    out = ring_order(r, DATE)
    # new tonight: C (0.9 x 5 = 4.5), B (0.5 x 4 = 2), D (all confirmed: 0); then A.
    assert out["ring_id"].tolist() == ["C", "B", "D", "A"]


def test_section_says_why_in_words_and_escapes_it() -> None:
    rings = _rings()
    html = ring_section(rings, DATE)
    assert html.count("<svg") == len(rings) and "confirmed fraud" in html
    for reason in rings["reason"]:
        assert reason.startswith("score ") and reason.replace("'", "&#x27;") in html
    weird = rings.assign(reason="<script>x</script>")
    assert "<script>" not in ring_section(weird, DATE)
    assert "no rings" in ring_section(rings.iloc[:0], DATE)

"""The fraud-ring section of the nightly report: one small network picture per ring, its score
and why it was flagged in words, sorted by what an analyst should look at first.

The pictures are hand-written inline SVG (no matplotlib figure per ring: a night can flag
hundreds), fixed layout, so the same rings give the same bytes.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from collections_engine.report.html import esc, table

__all__ = ["ring_order", "ring_picture", "ring_section", "PICTURED"]

PICTURED = 20          # rings drawn; the table lists up to 50
KIND_COLOURS = {"device": "#d62728", "phone": "#1f77b4", "emergency_contact": "#ff7f0e",
                "address": "#2ca02c", "email": "#9467bd", "employer": "#8c564b", "ip": "#7f7f7f"}
OTHER_COLOUR = "#17becf"
SIZE = 260


def ring_order(rings: pd.DataFrame, date: pd.Timestamp) -> pd.DataFrame:
    """Rings in the order to look at them: new tonight first (a case nobody has opened), then by
    the expected number of fraudsters not confirmed yet (`evidence_unconfirmed` x unconfirmed
    members: the people a decision tonight is about), then score, then ring id."""
    r = rings.copy()
    ev = r["evidence_unconfirmed"] if "evidence_unconfirmed" in r.columns else r["score"]
    r["new_tonight"] = pd.to_datetime(r["first_flagged"]) >= pd.Timestamp(date)
    r["expected_unconfirmed_fraud"] = ev.astype(float) * (r["size"] - r["confirmed"]).astype(float)
    return r.sort_values(["new_tonight", "expected_unconfirmed_fraud", "score", "ring_id"],
                         ascending=[False, False, False, True], kind="mergesort", ignore_index=True)


def _colour(kind: str) -> str:
    return KIND_COLOURS.get(kind, OTHER_COLOUR)


def ring_picture(customer_ids: list[str], links: str | None) -> str:
    """Members on a circle (confirmed: filled red with a dark border), each shared value a small
    square coloured by kind, linked to the members holding it; a legend of the kinds drawn."""
    n = len(customer_ids)
    d = json.loads(links) if links else {"confirmed": [], "values": []}
    conf = set(d.get("confirmed", []))
    c, rad = SIZE / 2, SIZE / 2 - 34
    pos = [(c + rad * math.cos(2 * math.pi * i / n - math.pi / 2),
            c + rad * math.sin(2 * math.pi * i / n - math.pi / 2)) for i in range(n)]
    lines, squares, kinds = [], [], []
    for kind, members in d.get("values", []):
        mx = sum(pos[m][0] for m in members) / len(members)
        my = sum(pos[m][1] for m in members) / len(members)
        vx, vy = c + 0.55 * (mx - c), c + 0.55 * (my - c)
        col = _colour(kind)
        kinds.append(kind)
        for m in members:
            lines.append(f"<line x1='{vx:.1f}' y1='{vy:.1f}' x2='{pos[m][0]:.1f}' y2='{pos[m][1]:.1f}' "
                         f"stroke='{col}' stroke-opacity='0.6' stroke-width='1.5'/>")
        squares.append(f"<rect x='{vx - 4:.1f}' y='{vy - 4:.1f}' width='8' height='8' fill='{col}'>"
                       f"<title>{esc(kind)} shared by {len(members)}</title></rect>")
    dots = []
    for i, (x, y) in enumerate(pos):
        fill, stroke = ("#c62828", "#4a0000") if i in conf else ("#ffffff", "#1d2733")
        label = esc(customer_ids[i]) + (" (confirmed)" if i in conf else "")
        dots.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='7' fill='{fill}' stroke='{stroke}' stroke-width='2'>"
                    f"<title>{label}</title></circle>")
        if n <= 12:
            tx, ty = c + (rad + 18) * (x - c) / rad, c + (rad + 18) * (y - c) / rad + 3
            dots.append(f"<text x='{tx:.1f}' y='{ty:.1f}' font-size='8' text-anchor='middle'>{esc(customer_ids[i])}</text>")
    legend = [f"<rect x='4' y='{SIZE + 4 + 12 * j}' width='8' height='8' fill='{_colour(k)}'/>"
              f"<text x='16' y='{SIZE + 12 + 12 * j}' font-size='9'>{esc(k.replace('_', ' '))}</text>"
              for j, k in enumerate(sorted(set(kinds)))]
    legend.append(f"<circle cx='{SIZE / 2 + 8}' cy='{SIZE + 8}' r='4' fill='#c62828' stroke='#4a0000'/>"
                  f"<text x='{SIZE / 2 + 16}' y='{SIZE + 12}' font-size='9'>confirmed fraud</text>")
    h = SIZE + 8 + 12 * max(1, len(set(kinds)))
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{SIZE}' height='{h}' viewBox='0 0 {SIZE} {h}' "
            f"role='img'><title>ring of {n} members</title>{''.join(lines)}{''.join(squares)}"
            f"{''.join(dots)}{''.join(legend)}</svg>")


def ring_section(rings: pd.DataFrame, date: pd.Timestamp) -> str:
    """HTML of the ring section: the ordering rule, one card per ring (picture, score, reason)
    for the first PICTURED rings, then the table of up to 50."""
    if rings is None or len(rings) == 0:
        return "<p><i>no rings flagged tonight</i></p>"
    r = ring_order(rings, date)
    intro = ("<p>Ordered by what to look at first: rings new tonight, then the expected number of "
             "members not confirmed yet who are fraud (their evidence times their count), then score. "
             "Squares are shared values (colour: kind), circles members (red: confirmed fraud). "
             "A ring is flagged only when its unconfirmed members carry evidence of their own "
             "(graph key <code>ring.evidence_threshold</code>).</p>")
    cards = []
    for row in r.head(PICTURED).itertuples(index=False):
        pic = ring_picture(list(row.customer_ids), getattr(row, "links", None))
        why = getattr(row, "reason", "") or ""
        new = " <b>new tonight</b>" if row.new_tonight else f" (flagged since {pd.Timestamp(row.first_flagged).date()})"
        cards.append(f"<div class='card' style='max-width:540px'><div><b style='font-size:14px;display:inline'>"
                     f"{esc(row.ring_id)}</b>{new}: {int(row.size)} members, {int(row.confirmed)} confirmed, "
                     f"score {row.score:.2f}</div>{pic}<p style='font-size:12px'>{esc(why)}</p></div>")
    cols = [c for c in ("ring_id", "new_tonight", "size", "confirmed", "score", "evidence_unconfirmed",
                        "expected_unconfirmed_fraud", "evidence", "first_flagged") if c in r.columns]
    tab = r[cols].copy()
    tab["first_flagged"] = pd.to_datetime(tab["first_flagged"]).dt.date.astype(str)
    return intro + "<div class='grid'>" + "".join(cards) + "</div>" + table(tab, max_rows=50)

"""Scorecards as standard SQL and JSON, so a bank can score without Python.

One CASE expression per characteristic, summed in hundredths of a point (integers: the sum is
exact in every database); `points` = that sum / 100.0. Only ANSI constructs (CASE, IN, IS NULL,
double-quoted identifiers, UNION ALL): the text runs unchanged in PostgreSQL, SQLite and DuckDB.
Split points are multiples of 2^-k written as their exact decimal expansion (at most 15
significant digits), so each database reads the same double as the engine.

Input: a table (default `features`) with one row per account: `account_id`, `segment`, and the
characteristics' columns as `build_features` makes them (numbers as numbers, categories as the
text of their level). A level the scorecard has not seen scores as missing, as in the engine.
"""

from __future__ import annotations

from decimal import Decimal

from collections_engine.scoring.scorecard import Characteristic, Scorecard

__all__ = ["characteristic_sql", "scorecard_sql", "version_sql"]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _number(x: float) -> str:
    s = format(Decimal(x), "f")
    return s


def characteristic_sql(ch: Characteristic) -> str:
    """CASE expression giving the characteristic's points in hundredths."""
    c = _ident(ch.name)
    pts = ch.points
    if ch.kind == "numeric":
        parts = [f"WHEN {c} IS NULL THEN {pts[-1]}"]
        parts += [f"WHEN {c} < {_number(s)} THEN {pts[i]}" for i, s in enumerate(ch.splits)]
        parts.append(f"ELSE {pts[len(ch.splits)]}")
    else:
        parts = [f"WHEN {c} IN ({', '.join(_text(v) for v in g)}) THEN {pts[i]}"
                 for i, g in enumerate(ch.groups)]
        parts.append(f"ELSE {pts[-1]}")
    return "CASE " + " ".join(parts) + " END"


def scorecard_sql(sc: Scorecard, segments: list[str], table: str = "features") -> str:
    """SELECT account_id, segment, points_x100, points for the rows of `segments`."""
    terms = [str(sc.constant)] + [characteristic_sql(ch) for ch in sc.scored()]
    fixed = "".join(f"\n-- {k} is fixed to '{v}' when scoring: its points are in the constant {sc.constant}"
                    for k, v in sc.fixed.items())
    total = "\n    + ".join(terms)
    where = ", ".join(_text(s) for s in segments)
    return (f"-- scorecard '{sc.segment}' for segment(s) {', '.join(segments)}{fixed}\n"
            f"SELECT account_id, segment,\n  ({total}\n  ) AS points_x100,\n"
            f"  ({total}\n  ) / 100.0 AS points\n"
            f"FROM {_ident(table)}\nWHERE segment IN ({where})")


def version_sql(cards: dict[str, Scorecard], routing: dict[str, str], version_id: str,
                table: str = "features") -> str:
    """One statement for every segment the version scores by a scorecard (`routing`: segment ->
    scorecard name), UNION ALL of one SELECT per scorecard."""
    by_card: dict[str, list[str]] = {}
    for seg, name in sorted(routing.items()):
        by_card.setdefault(name, []).append(seg)
    head = (f"-- Scorecards of model version {version_id} (collections-engine).\n"
            f"-- Input: table {table} with account_id, segment and the characteristics' columns.\n"
            "-- points = the sum of the CASE expressions / 100; p_repay = 1 / (1 + exp(-(ln(base_odds)"
            " + (points - base_points) * ln 2 / points_to_double_odds))).\n")
    if not by_card:
        return head + "-- no segment of this version is scored by a scorecard\n"
    body = "\nUNION ALL\n".join(scorecard_sql(cards[n], segs, table) for n, segs in sorted(by_card.items()))
    return head + body + ";\n"

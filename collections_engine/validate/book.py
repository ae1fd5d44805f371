"""Checks across tables and against the strategy, on typed frames. Vectorised."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine.schema import CHANNELS, HOLD_KINDS, OUTCOMES, TABLES
from collections_engine.segments import stage_index
from collections_engine.frames import isin, isin_many
from collections_engine.validate.columns import rows_hint
from collections_engine.vocabulary import NOT_WORKED

__all__ = ["check_book"]


def _enum(df: pd.DataFrame, col: str, allowed: tuple[str, ...], label: str, key: tuple[str, ...]) -> list[str]:
    if col not in df.columns or not len(df):
        return []
    bad = ~isin(df[col], allowed) & df[col].notna().to_numpy()
    if not bad.any():
        return []
    found = sorted(map(str, pd.unique(df.loc[bad, col])))[:5]
    return [f"{label}: column '{col}': {int(bad.sum())} rows with an unknown value "
            f"(found {', '.join(found)}); expected one of {', '.join(allowed)}; {rows_hint(df, bad, key)}"]


def check_book(
    tables: dict[str, pd.DataFrame], labels: dict[str, str], strategy: Strategy | None
) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the rules that span tables or need the strategy."""
    problems: list[str] = []
    warnings: list[str] = []
    acc = tables["accounts"]
    la = labels["accounts"]
    key = TABLES["accounts"].key
    if strategy is not None and "dpd" in acc and pd.api.types.is_integer_dtype(acc["dpd"]):
        bad = (acc["dpd"].to_numpy() > 0) & (stage_index(acc["dpd"], strategy) == 0)
        if bad.any():
            problems.append(f"{la}: column 'dpd': {int(bad.sum())} rows with a DPD inside no stage of the "
                            f"strategy '{strategy.name}'; expected 0 or a DPD in "
                            f"{', '.join(strategy.stage_names())}; {rows_hint(acc, bad, key)}")
    if {"open_date", "snapshot_date"} <= set(acc.columns) and all(
        pd.api.types.is_datetime64_any_dtype(acc[c]) for c in ("open_date", "snapshot_date")
    ):
        bad = (acc["open_date"] > acc["snapshot_date"]).to_numpy()
        if bad.any():
            problems.append(f"{la}: column 'open_date': {int(bad.sum())} rows opened after their snapshot_date; "
                            f"expected open_date <= snapshot_date; {rows_hint(acc, bad, key)}")
    cust = tables.get("customers")
    history = [name for name in ("outcomes", "payments", "contacts", "holds", "placement_history")
               if (t := tables.get(name)) is not None and "account_id" in t and len(t)]
    # The two large look-ups (accounts' customers among the customers, the history tables'
    # accounts among the accounts) run side by side: Arrow's hashing releases the GIL.
    with ThreadPoolExecutor(max_workers=1) as pool:
        cust_hit = (pool.submit(isin, acc["customer_id"], cust["customer_id"])
                    if cust is not None and "customer_id" in cust and "customer_id" in acc else None)
        # Every history table against the accounts in one look-up: the book's account ids are
        # hashed once (repeats and all: cheaper than taking their unique values first).
        known = isin_many([tables[name]["account_id"] for name in history],
                          acc["account_id"] if "account_id" in acc else ())
        if cust_hit is not None:
            bad = ~cust_hit.result()
            if bad.any():
                problems.append(f"{la}: column 'customer_id': {int(bad.sum())} rows whose customer is not in "
                                f"{labels['customers']}; expected a known customer; {rows_hint(acc, bad, key)}")
    for name, hit in zip(history, known):
        t = tables[name]
        bad = ~hit
        if bad.any():
            msg = (f"{labels[name]}: column 'account_id': {int(bad.sum())} rows for accounts not in "
                   f"{la}; expected known accounts; {rows_hint(t, bad, TABLES[name].key)}")
            (problems if name == "outcomes" else warnings).append(msg)
    holds = tables.get("holds")
    if holds is not None:
        problems += _enum(holds, "hold", HOLD_KINDS, labels["holds"], TABLES["holds"].key)
        if all(pd.api.types.is_datetime64_any_dtype(holds.get(c, pd.Series(dtype=object)))
               for c in ("start", "end")):
            bad = (holds["end"] < holds["start"]).to_numpy()
            if bad.any():
                problems.append(f"{labels['holds']}: column 'end': {int(bad.sum())} rows ending before they "
                                f"start; expected end >= start; {rows_hint(holds, bad, TABLES['holds'].key)}")
    contacts = tables.get("contacts")
    if contacts is not None:
        problems += _enum(contacts, "channel", CHANNELS, labels["contacts"], TABLES["contacts"].key)
        problems += _enum(contacts, "outcome", OUTCOMES, labels["contacts"], TABLES["contacts"].key)
    ph = tables.get("placement_history")
    if ph is not None and strategy is not None:
        names = tuple(q.name for q in strategy.queues) + (NOT_WORKED,)
        problems += _enum(ph, "queue", names, labels["placement_history"], TABLES["placement_history"].key)
        if "propensity" in ph and pd.api.types.is_float_dtype(ph["propensity"]):
            p = ph["propensity"].to_numpy()
            bad = ~np.isnan(p) & ((p <= 0) | (p > 1))
            if bad.any():
                problems.append(f"{labels['placement_history']}: column 'propensity': {int(bad.sum())} rows "
                                f"outside (0, 1]; expected a probability; "
                                f"{rows_hint(ph, bad, TABLES['placement_history'].key)}")
    fl = tables.get("fraud_labels")
    if fl is not None and cust is not None and "customer_id" in fl:
        bad = ~isin(fl["customer_id"], cust["customer_id"])
        if bad.any():
            warnings.append(f"{labels['fraud_labels']}: {int(bad.sum())} labels for customers not in "
                            f"{labels['customers']}; ignored")
    return problems, warnings

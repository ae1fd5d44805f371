"""The first (pandas, string-merge) version of the independent plan check, kept as the slow
obvious reference that tests/test_assign_check.py compares `assign.check.check_plan` against.

Same inputs (what a bank's reviewer reads: decision inputs, plan, placements, strategy, date)
and the same rules, written the obvious way: pandas merges and `isin` on the id strings, none of
the fast version's integer codes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from collections_engine.assign.check import DECISIONS
from collections_engine.config.strategy import Strategy, VendorQueue

__all__ = ["check_plan"]

_CENT = 100
_SHOW = 5  # account ids named per violation (ids only: never a personal value)


def _ids(ids: pd.Series | np.ndarray) -> str:
    ids = list(pd.Series(ids).astype(str).head(_SHOW))
    return ", ".join(ids)


def _cents(x: pd.Series) -> np.ndarray:
    return np.rint(pd.to_numeric(x, errors="coerce").fillna(0.0).clip(lower=0).to_numpy(float) * _CENT).astype(np.int64)


def _text(s: pd.Series) -> pd.Series:
    return s.fillna("").astype(str)


def check_plan(inputs: pd.DataFrame, assignments: pd.DataFrame, strategy: Strategy, date, *,
               placements: pd.DataFrame | None = None,
               min_share_applied: Mapping[str, float] | None = None) -> list[str]:
    """The rules `collections_engine.assign.check.check_plan` checks (its docstring lists them,
    with the arguments), by pandas merges and `isin` on the id strings; [] when the plan holds."""
    date = pd.Timestamp(date)
    out = _structure(inputs, assignments, strategy)
    if out:  # the rest assumes one row per account with known queues
        return out
    df = _joined(inputs, assignments)
    found = [_protections(df, strategy), _open_placements(df, strategy, date), _eligibility(df, strategy),
             _capacities(df, strategy, min_share_applied or {}), _grouping(df, strategy)]
    if placements is not None:
        found.append(_placements(df, placements, strategy, date))
    return [line for rule in found for line in rule]


def _structure(inputs: pd.DataFrame, a: pd.DataFrame, strategy: Strategy) -> list[str]:
    out = []
    ids_in = inputs["account_id"].astype(str)
    ids_out = a["account_id"].astype(str)
    dup = ids_out[ids_out.duplicated()]
    if len(dup):
        out.append(f"{dup.nunique()} accounts appear more than once in the plan (e.g. {_ids(dup.unique())})")
    missing = ids_in[~ids_in.isin(ids_out)]
    if len(missing):
        out.append(f"{len(missing)} delinquent accounts have no row in the plan (e.g. {_ids(missing)})")
    extra = ids_out[~ids_out.isin(ids_in)]
    if len(extra):
        out.append(f"{len(extra)} plan rows are not delinquent accounts of tonight (e.g. {_ids(extra)})")
    names = {q.name for q in strategy.queues} | {""}
    bad_q = a.loc[~_text(a["queue"]).isin(names), "queue"]
    if len(bad_q):
        out.append(f"{len(bad_q)} plan rows name a queue not in the strategy: {sorted(set(bad_q.astype(str)))[:_SHOW]}")
    bad_d = a.loc[~_text(a["decision"]).isin(DECISIONS), "decision"]
    if len(bad_d):
        out.append(f"{len(bad_d)} plan rows have an unknown decision: {sorted(set(bad_d.astype(str)))[:_SHOW]}")
    return out


def _joined(inputs: pd.DataFrame, a: pd.DataFrame) -> pd.DataFrame:
    """One frame per account: the inputs' facts beside the plan's columns (by account id)."""
    x = pd.DataFrame({
        "account_id": inputs["account_id"].astype(str).to_numpy(),
        "customer_id": inputs["customer_id"].astype(str).to_numpy(),
        "stage": inputs["stage"].astype(str).to_numpy(),
        "amount": _cents(inputs["collectable"]),
        "hold": _text(inputs["hold"]).to_numpy(),
        "ring": _text(inputs["ring_id"]).to_numpy(),
        "ring_score": pd.to_numeric(inputs["ring_score"], errors="coerce").fillna(0.0).to_numpy(float),
        "confirmed": inputs["fraud_confirmed"].fillna(False).astype(bool).to_numpy(),
        "open_vendor": _text(inputs["open_vendor"]).to_numpy(),
        "ends_on": pd.to_datetime(inputs["ends_on"]).to_numpy(),
        "placed_on": pd.to_datetime(inputs["placed_on"]).to_numpy(),
    })
    y = pd.DataFrame({"account_id": a["account_id"].astype(str).to_numpy(),
                      "queue": _text(a["queue"]).to_numpy(), "decision": _text(a["decision"]).to_numpy(),
                      "ended": _text(a["ended"]).to_numpy(),
                      "previous_queue": _text(a["previous_queue"]).to_numpy()})
    return x.merge(y, on="account_id", how="left", validate="one_to_one")


def _protections(df: pd.DataFrame, strategy: Strategy) -> list[str]:
    """Holds and fraud: nothing that protects a customer is skipped."""
    out = []
    legal = strategy.legal_queue()
    fq = strategy.fraud_queue()
    held = df["hold"] != ""
    ok_held = (df["decision"] == "held") & ((df["queue"] == "") | (
        (df["hold"] == "legal") & (legal is not None) & (df["queue"] == (legal.name if legal else ""))))
    bad = df[held & ~ok_held]
    if len(bad):
        out.append(f"hold: {len(bad)} accounts with an open hold are worked or not marked held "
                   f"(e.g. {_ids(bad['account_id'])})")
    fraud = ~held & (df["confirmed"] | (df["ring"] != ""))
    fq_name = fq.name if fq is not None else None
    ok_fraud = ((df["decision"] == "fraud_hold") & (df["queue"] == (fq_name or "\0"))) | (
        (df["decision"] == "not_worked") & (df["queue"] == ""))
    bad = df[fraud & ~ok_fraud]
    if len(bad):
        out.append(f"fraud: {len(bad)} ring members or confirmed fraud accounts are not in the fraud queue "
                   f"nor left unworked (e.g. {_ids(bad['account_id'])})")
    wrong = df[~fraud & (df["decision"] == "fraud_hold")]
    if len(wrong):
        out.append(f"fraud: {len(wrong)} accounts with no ring and no confirmed fraud are on fraud hold "
                   f"(e.g. {_ids(wrong['account_id'])})")
    wrong = df[~held & (df["decision"] == "held")]
    if len(wrong):
        out.append(f"hold: {len(wrong)} accounts without an open hold are marked held (e.g. {_ids(wrong['account_id'])})")
    if fq is not None and fraud.any():  # the fraud queue takes the highest priority first
        f = df[fraud]
        key = pd.DataFrame({"c": ~f["confirmed"], "s": -f["ring_score"], "a": f["account_id"]})
        rank = key.sort_values(["c", "s", "a"], kind="mergesort").index
        inq = (f.loc[rank, "decision"] == "fraud_hold").to_numpy()
        if len(inq) and (np.maximum.accumulate(~inq) & inq).any():
            out.append("fraud: the fraud queue holds a lower-priority account while a higher-priority one "
                       "(confirmed first, then ring score) is left unworked")
    return out


def _open_placements(df: pd.DataFrame, strategy: Strategy, date: pd.Timestamp) -> list[str]:
    out = []
    vendors = {v.name: v for v in strategy.vendors()}
    has = df["open_vendor"] != ""
    protected = (df["hold"] != "") | df["confirmed"] | (df["ring"] != "")
    known = df["open_vendor"].isin(list(vendors))
    live = has & known & (df["ends_on"] > date.to_datetime64())
    pairs = {f"{v.name}\0{st}" for v in vendors.values() for st in v.stages}
    takes = (df["open_vendor"] + "\0" + df["stage"]).isin(pairs)
    if "stage_not_accepted" in strategy.recall_on:
        live &= takes
    must_end = has & (protected | ~known)
    bad = df[must_end & (df["ended"] != "recalled")]
    if len(bad):
        out.append(f"recall: {len(bad)} open placements of held, fraud or removed-vendor accounts are not "
                   f"recalled (e.g. {_ids(bad['account_id'])})")
    keep = live & ~protected
    bad = df[keep & ~((df["decision"] == "kept") & (df["queue"] == df["open_vendor"]))]
    if len(bad):
        out.append(f"placement: {len(bad)} open placements before their end date are not kept with their "
                   f"vendor (e.g. {_ids(bad['account_id'])})")
    bad = df[has & ~keep & ~df["ended"].isin(["recalled", "returned"]) | ~has & (df["ended"] != "")]
    if len(bad):
        out.append(f"ended: {len(bad)} accounts' ended does not match their open placement (recalled or "
                   f"returned when one ends tonight, empty otherwise; e.g. {_ids(bad['account_id'])})")
    bad = df[df["previous_queue"] != df["open_vendor"]]
    if len(bad):
        out.append(f"previous_queue: {len(bad)} accounts do not name last night's open vendor "
                   f"(e.g. {_ids(bad['account_id'])})")
    bad = df[(df["decision"] == "kept") & ~keep]
    if len(bad):
        out.append(f"placement: {len(bad)} accounts marked kept have no live open placement to keep "
                   f"(e.g. {_ids(bad['account_id'])})")
    return out


def _takes(df: pd.DataFrame, strategy: Strategy) -> np.ndarray:
    """Whether the row's queue takes the row's stage (False where no such work queue)."""
    pairs = {f"{q.name}\0{s}" for q in strategy.work_queues() for s in q.stages}
    return (df["queue"] + "\0" + df["stage"]).isin(pairs).to_numpy()


def _eligibility(df: pd.DataFrame, strategy: Strategy) -> list[str]:
    out = []
    kinds = {q.name: q.kind for q in strategy.queues}
    new = df["decision"].isin(["placed", "assigned"])
    bad = df[new & ~_takes(df, strategy)]
    if len(bad):
        out.append(f"stage: {len(bad)} accounts are given a queue that does not take their stage "
                   f"(e.g. {_ids(bad['account_id'])})")
    kind = df["queue"].map(kinds).fillna("")
    bad = df[(df["decision"] == "placed") & (kind != "vendor") | (df["decision"] == "assigned") & (kind == "vendor")
             | (df["decision"] == "assigned") & (kind == "fraud")]
    if len(bad):
        out.append(f"decision: {len(bad)} accounts' decision does not match their queue's kind "
                   f"(placed = a new vendor placement; assigned = team, channel or legal; e.g. {_ids(bad['account_id'])})")
    bad = df[df["decision"].isin(["not_worked"]) & (df["queue"] != "")]
    if len(bad):
        out.append(f"decision: {len(bad)} not-worked accounts name a queue (e.g. {_ids(bad['account_id'])})")
    bad = df[new & (df["queue"] == "")]
    if len(bad):
        out.append(f"decision: {len(bad)} placed or assigned accounts have no queue (e.g. {_ids(bad['account_id'])})")
    return out


def _capacities(df: pd.DataFrame, strategy: Strategy, applied: Mapping[str, float]) -> list[str]:
    """Capacity and max_balance per queue (after tonight), min_share of tonight's new placements."""
    out = []
    kept = df["decision"] == "kept"
    for q in strategy.queues:
        m = df["queue"] == q.name
        n_kept, n_new = int((m & kept).sum()), int((m & ~kept).sum())
        if n_new and n_kept + n_new > q.capacity:
            out.append(f"capacity: queue {q.name!r} holds {n_kept + n_new} accounts after tonight "
                       f"({n_kept} kept, {n_new} new), capacity {q.capacity}")
        if isinstance(q, VendorQueue) and q.max_balance is not None and n_new:
            b_kept, b_new = int(df["amount"][m & kept].sum()), int(df["amount"][m & ~kept].sum())
            cap = int(np.rint(q.max_balance * _CENT))
            if b_kept + b_new > cap:
                out.append(f"max_balance: vendor {q.name!r} holds {(b_kept + b_new) / _CENT:.2f} after tonight "
                           f"({b_new / _CENT:.2f} new), max_balance {q.max_balance:.2f}")
    placed = df["decision"] == "placed"
    total = int(placed.sum())
    for v in strategy.vendors():
        share = float(applied.get(v.name, v.min_share))
        n_v = int((placed & (df["queue"] == v.name)).sum())
        if share > 0 and n_v < share * total - 1e-9:
            named = f" (relaxed to {share:g})" if v.name in applied else ""
            out.append(f"min_share: vendor {v.name!r} has {n_v} of {total} new vendor placements "
                       f"({n_v / max(total, 1):.4f}), below its min_share {share:g}{named}")
    return out


def _grouping(df: pd.DataFrame, strategy: Strategy) -> list[str]:
    """keep_customer_together (vendors) and one_collector_per_customer (every worked queue but
    channels): a split that tonight's new work creates is a violation; splits among kept
    placements made on earlier nights are the contract's (kept until they end)."""
    out = []
    kinds = {q.name: q.kind for q in strategy.queues}
    together = {v.name for v in strategy.vendors() if v.keep_customer_together}
    vend = df[df["decision"].isin(["kept", "placed"]) & (df["queue"].map(kinds) == "vendor")]
    if together and len(vend):
        bad = _split_customers(vend, lambda a, b: a.isin(together) | b.isin(together))
        if len(bad):
            out.append(f"keep_customer_together: {len(bad)} customers are placed with two vendors, one of which "
                       f"keeps customers together (e.g. customers {_ids(bad)})")
    if getattr(strategy, "one_collector_per_customer", False):
        work = df[df["decision"].isin(["kept", "placed", "assigned"])
                  & df["queue"].map(kinds).isin(["inhouse", "vendor", "legal"])]
        bad = _split_customers(work, lambda a, b: pd.Series(True, index=a.index))
        if len(bad):
            out.append(f"one_collector_per_customer: {len(bad)} customers are worked by two collectors tonight "
                       f"(e.g. customers {_ids(bad)})")
    return out


def _split_customers(rows: pd.DataFrame, flagged) -> pd.Series:
    """Customers with two queues among `rows` where at least one of the two is new tonight and
    `flagged(queue_a, queue_b)` holds for the pair."""
    g = rows.assign(new=rows["decision"] != "kept")[["customer_id", "queue", "new"]]
    g = g.groupby(["customer_id", "queue"], sort=True, as_index=False)["new"].any()
    multi = g[g["customer_id"].duplicated(keep=False)]
    if multi.empty:
        return pd.Series([], dtype=str)
    pairs = multi.merge(multi, on="customer_id", suffixes=("_a", "_b"))
    pairs = pairs[(pairs["queue_a"] < pairs["queue_b"]) & (pairs["new_a"] | pairs["new_b"])]
    pairs = pairs[flagged(pairs["queue_a"], pairs["queue_b"]).to_numpy()]
    return pd.Series(pairs["customer_id"].unique(), dtype=str)


def _placements(df: pd.DataFrame, pl: pd.DataFrame, strategy: Strategy, date: pd.Timestamp) -> list[str]:
    """The open placements after tonight are exactly the kept and new vendor placements."""
    out = []
    want = df[df["decision"].isin(["kept", "placed"])][["account_id", "queue", "decision", "placed_on", "ends_on"]]
    got = pd.DataFrame({"account_id": pl["account_id"].astype(str).to_numpy(), "vendor": _text(pl["vendor"]).to_numpy(),
                        "p_on": pd.to_datetime(pl["placed_on"]).to_numpy(),
                        "e_on": pd.to_datetime(pl["ends_on"]).to_numpy()})
    if got["account_id"].duplicated().any():
        out.append("placements: an account has more than one open placement after tonight")
        return out
    j = want.merge(got, on="account_id", how="outer", indicator=True)
    if (j["_merge"] != "both").any():
        out.append(f"placements: {int((j['_merge'] != 'both').sum())} accounts differ between the plan's kept/placed "
                   f"rows and the open placements (e.g. {_ids(j.loc[j['_merge'] != 'both', 'account_id'])})")
        j = j[j["_merge"] == "both"]
    days = pd.to_timedelta(j["queue"].map({v.name: v.placement_days for v in strategy.vendors()}), unit="D")
    new = j["decision"] == "placed"
    exp_p = np.where(new, date.to_datetime64(), j["placed_on"].to_numpy())
    exp_e = np.where(new, (date + days).to_numpy(), j["ends_on"].to_numpy())
    bad = j[(j["vendor"] != j["queue"]) | (j["p_on"].to_numpy() != exp_p) | (j["e_on"].to_numpy() != exp_e)]
    if len(bad):
        out.append(f"placements: {len(bad)} open placements have the wrong vendor or dates "
                   f"(e.g. {_ids(bad['account_id'])})")
    return out

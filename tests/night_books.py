"""Hypothesis strategies for the night fuzzer: small books and strategies that are valid but
strange (issue 18). A drawn `NightCase` is plain data; `write_book` puts it on disk in the
drawn format (parquet with DATE columns, parquet with dates as strings or timestamps, CSV).

Strange on purpose: one account; stages with no accounts; vendors whose stages hold nobody, or
whose `max_balance` fits nobody; every account held (legal holds too); every customer linked to
every other by one shared device (one community); confirmed fraud on everyone; capacities of 1;
no customers table; cells that begin with `=`, `+`, `-` or `@`; accounts cured tonight.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
PREV, NIGHT = "2026-11-19", "2026-11-20"
STAGE_DPD = {"M1": (1, 30), "M2": (31, 60), "M3": (61, 90), "M4+": (91, 400)}
HOLD_KINDS = ("dispute", "bankruptcy", "deceased", "do_not_contact", "legal")
FORMATS = ("parquet_date", "parquet_text", "parquet_timestamp", "csv")
NAMES = ("Li Wei", "=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "-1+1", "@SUM(A1)",
         "王芳", "O'Brien, \"Jr\"", "\ttab", "")


@dataclass(frozen=True)
class NightCase:
    accounts: pd.DataFrame      # both nights' snapshots
    customers: pd.DataFrame | None
    holds: pd.DataFrame | None  # None: no holds table (the strategy then says holds_table: none)
    identifiers: pd.DataFrame | None
    fraud_labels: pd.DataFrame | None
    payments: pd.DataFrame
    contacts: pd.DataFrame
    bureau: pd.DataFrame | None
    fmt: str
    strategy: dict
    whatif_strategy: dict
    notes: tuple[str, ...]      # what is strange about it (for the failure message)


def _default() -> dict:
    return yaml.safe_load((ROOT / "strategies" / "default.yaml").read_text())


@st.composite
def strategies_for(draw, stages_present: tuple[str, ...]) -> dict:
    """The default strategy with its queues reshaped; stages and the new-customer rule unchanged
    (the trained model must match them)."""
    doc = _default()
    queues = []
    for q in doc["queues"]:
        q = dict(q)
        if q["kind"] in ("inhouse",):  # the teams keep every stage covered
            q["capacity"] = draw(st.sampled_from([1, 2, 5, 100_000]))
        elif q["kind"] == "vendor":
            if draw(st.booleans()) and draw(st.booleans()):
                continue  # this vendor is gone
            empty = [s for s in STAGE_DPD if s not in stages_present]
            if empty and draw(st.booleans()):
                stages = draw(st.lists(st.sampled_from(empty), min_size=1, max_size=len(empty), unique=True))
                q["stages"] = sorted(stages, key=list(STAGE_DPD).index)  # nothing eligible
                q["effect"] = {s: 1.3 for s in q["stages"]}
            q["capacity"] = draw(st.sampled_from([1, 3, 40_000]))
            if draw(st.booleans()):
                q["max_balance"] = draw(st.sampled_from([1, 500, 200_000_000]))
            q["min_share"] = draw(st.sampled_from([0, 0.1, 0.5, 1.0]))
            if q["min_share"] == 0:
                q.pop("min_share")
            q["keep_customer_together"] = draw(st.booleans())
            q["placement_days"] = draw(st.sampled_from([1, 2, 90]))
            fields = ["account_id", "name", "phone", "overdue_amount", "dpd", "product", "stage", "band",
                      "points", "placed_on", "ends_on", "balance", "address"]
            q["file_fields"] = draw(st.lists(st.sampled_from(fields), min_size=1, max_size=6, unique=True))
        elif q["kind"] in ("channel", "legal", "fraud"):
            q["capacity"] = draw(st.sampled_from([1, 2, 1_000_000]))
        queues.append(q)
    doc["queues"] = queues
    total_share = sum(q.get("min_share", 0) for q in queues)
    if total_share > 1:  # a valid strategy: the minimum shares fit in one night's placements
        for q in queues:
            q.pop("min_share", None)
    return doc


@st.composite
def night_cases(draw) -> NightCase:
    n = draw(st.integers(1, 16))
    fmt = draw(st.sampled_from(FORMATS))
    notes = [fmt]
    stages = tuple(draw(st.lists(st.sampled_from(list(STAGE_DPD)), min_size=1, max_size=4, unique=True)))
    if len(stages) < 4:
        notes.append(f"only stages {','.join(stages)}")
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    ids = [f"A{i:03d}" for i in range(n)]
    grouping = draw(st.sampled_from(["own", "shared", "one"]))
    cust = {"own": [f"C{i:03d}" for i in range(n)],
            "shared": [f"C{i // 2:03d}" for i in range(n)],
            "one": ["C000"] * n}[grouping]
    dpd = np.array([int(rng.integers(*STAGE_DPD[stages[rng.integers(len(stages))]], endpoint=True))
                    for _ in range(n)])
    cured = rng.random(n) < draw(st.sampled_from([0.0, 0.2, 1.0]))  # at dpd 0 tonight
    if cured.all():
        notes.append("every account cured tonight")
    tonight_dpd = np.where(cured, 0, dpd)
    prev_dpd = np.maximum(dpd - 1, 0)
    product = rng.choice(["card", "loan"], n)
    open_date = pd.Timestamp(NIGHT) - pd.to_timedelta(rng.integers(20, 3000, n), unit="D")
    overdue = np.round(rng.gamma(2, 400, n), 2)
    rows = []
    for date, d in ((PREV, prev_dpd), (NIGHT, tonight_dpd)):
        rows.append(pd.DataFrame({
            "snapshot_date": pd.Timestamp(date), "account_id": ids, "customer_id": cust,
            "product": product, "open_date": open_date.normalize(), "dpd": d,
            "overdue_amount": np.where(d > 0, overdue, 0.0), "balance": np.round(overdue * 4, 2),
            "credit_limit": np.where(rng.random(n) < 0.3, np.nan, 10_000.0)}))
    accounts = pd.concat(rows, ignore_index=True)
    customers = None
    if draw(st.booleans()) or draw(st.booleans()):
        uc = sorted(set(cust))
        customers = pd.DataFrame({"customer_id": uc,
                                  "name": [NAMES[i % len(NAMES)] for i in rng.integers(0, len(NAMES), len(uc))],
                                  "phone": [f"138{i:08d}" for i in range(len(uc))],
                                  "address": [NAMES[i % len(NAMES)] for i in rng.integers(0, len(NAMES), len(uc))]})
    else:
        notes.append("no customers table")
    holds_mode = draw(st.sampled_from(["none_declared", "empty", "some", "all"]))
    holds = None
    if holds_mode != "none_declared":
        held = {"empty": np.zeros(n, bool), "some": rng.random(n) < 0.3, "all": np.ones(n, bool)}[holds_mode]
        kinds = [HOLD_KINDS[i] for i in rng.integers(0, len(HOLD_KINDS), n)]
        holds = pd.DataFrame({"account_id": np.array(ids)[held], "hold": np.array(kinds, dtype=object)[held],
                              "start": pd.Timestamp(PREV) - pd.Timedelta(days=3),
                              "end": pd.NaT})
        notes.append(f"holds: {holds_mode}")
    ring = draw(st.sampled_from(["none", "random", "one"]))
    identifiers = None
    uc = sorted(set(cust))
    if ring == "one":
        identifiers = pd.DataFrame({"customer_id": uc, "kind": "device", "value": "tok_dev_1",
                                    "first_seen": pd.Timestamp("2025-01-01")})
        notes.append("every customer shares one device")
    elif ring == "random":
        identifiers = pd.DataFrame({"customer_id": uc, "kind": "phone",
                                    "value": [f"tok_p{int(i)}" for i in rng.integers(0, 3, len(uc))],
                                    "first_seen": pd.Timestamp("2025-01-01")})
    fraud = draw(st.sampled_from(["none", "some", "all"]))
    fraud_labels = None
    if fraud != "none":
        chosen = uc if fraud == "all" else uc[: max(1, len(uc) // 3)]
        fraud_labels = pd.DataFrame({"customer_id": chosen, "confirmed_on": pd.Timestamp("2026-10-01")})
        notes.append(f"fraud labels: {fraud}")
    m = int(rng.integers(0, 3 * n + 1))
    payments = pd.DataFrame({"account_id": [ids[i] for i in rng.integers(0, n, m)],
                             "paid_on": pd.Timestamp(PREV) - pd.to_timedelta(rng.integers(1, 200, m), unit="D"),
                             "amount": np.round(rng.gamma(2, 50, m), 2)})
    k = int(rng.integers(0, 3 * n + 1))
    contacts = pd.DataFrame({"account_id": [ids[i] for i in rng.integers(0, n, k)],
                             "contacted_on": pd.Timestamp(PREV) - pd.to_timedelta(rng.integers(1, 200, k), unit="D"),
                             "channel": rng.choice(["sms", "call", "visit", "letter"], k),
                             "outcome": rng.choice(["no_answer", "right_party", "promise_to_pay", "promise_kept",
                                                    "promise_broken", "refused"], k)})
    bureau = None
    if draw(st.booleans()):
        bureau = pd.DataFrame({"customer_id": uc, "snapshot_date": pd.Timestamp("2026-11-01"),
                               "bureau_score": rng.integers(450, 800, len(uc))})
    strategy = draw(strategies_for(stages))
    whatif = draw(strategies_for(stages))
    for doc in (strategy, whatif):  # a table that protects people is absent only when declared
        if holds is None:
            doc["holds_table"] = "none"
        if fraud_labels is None:
            doc["fraud_labels_table"] = "none"
    return NightCase(accounts, customers, holds, identifiers, fraud_labels, payments, contacts, bureau,
                     fmt, strategy, whatif, tuple(notes))


def _dates_as(df: pd.DataFrame, fmt: str) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            if fmt == "parquet_date":
                out[c] = pd.Series([None if pd.isna(v) else v.date() for v in out[c]], dtype=object)
            elif fmt in ("parquet_text", "csv"):
                out[c] = out[c].dt.strftime("%Y-%m-%d").astype(object).where(out[c].notna(), None)
    return out


def write_book(case: NightCase, data: Path) -> None:
    """The case's tables in its format; parquet DATE columns through Arrow's date32."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data.mkdir(parents=True, exist_ok=True)
    tables = {"accounts": case.accounts, "customers": case.customers, "holds": case.holds,
              "identifiers": case.identifiers, "fraud_labels": case.fraud_labels,
              "payments": case.payments, "contacts": case.contacts}
    if case.bureau is not None:
        (data / "sources").mkdir(exist_ok=True)
        tables["sources/bureau"] = case.bureau
    for name, df in tables.items():
        if df is None:
            continue
        df = _dates_as(df, case.fmt)
        if case.fmt == "csv":
            df.to_csv(data / f"{name}.csv", index=False)
        else:
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), data / f"{name}.parquet")


def strategy_file(doc: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return path

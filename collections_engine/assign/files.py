"""What leaves the bank: vendor placement/ending files (only `file_fields`) and worklists.

Three steps, each a pure function of frames:
- `vendor_files`: each vendor's new placements with its `file_fields` (the raw joined values)
  and every ending of its placements tonight (`vendor_endings`);
- `vendor_batches`: those frames as the agency receives them: amounts with two decimals, a
  `currency` column, text encodable in the vendor's `file_encoding`, control totals;
- `worklists`: each in-house team's accounts in priority order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collections_engine.assign.decide import Decision
from collections_engine.assign.inputs import FirstRows
from collections_engine.config.strategy import Strategy
from collections_engine.frames import isin
from collections_engine.vocabulary import CURED, PAID, PLACED, RECALLED, RETURNED

__all__ = ["vendor_files", "vendor_endings", "vendor_batches", "VendorBatch", "worklists",
           "ENDING_COLUMNS", "MONEY_FIELDS", "ENDING_REASONS"]

WORKLIST_COLUMNS = ["priority", "account_id", "customer_id", "stage", "expected_recovery",
                    "expected_cost", "expected_net"]
# The recall/return file: every way a placement ended tonight (CONTRACT.md Additions).
ENDING_COLUMNS = ["account_id", "ended", "reason"]
# Reasons of the endings that are not recalls (a recall carries the decision's own reason).
ENDING_REASONS = {
    RETURNED: "placement_period_over",   # ends_on reached
    CURED: "account_current",            # in tonight's accounts at dpd 0
    PAID: "paid_off_or_closed",          # no longer in tonight's accounts
}
# Columns a vendor file writes as money: two decimals, summed in the manifest.
MONEY_FIELDS = ("overdue_amount", "balance", "credit_limit")
OUTPUTS_FROM_PLACEMENTS = ("placed_on", "ends_on")


def _empty_like(frame: pd.DataFrame | None, col: str) -> pd.Series:
    """A zero-row column with the dtype the source column has (object when unknown)."""
    if frame is not None and col in frame.columns:
        return frame[col].iloc[:0].reset_index(drop=True)
    return pd.Series([], dtype=object)


def vendor_files(decision: Decision, inputs: pd.DataFrame, accounts_tonight: pd.DataFrame,
                 customers: pd.DataFrame | None, scores: pd.DataFrame | None, strategy: Strategy,
                 date, *, warnings: list[str] | None = None,
                 open_placements: pd.DataFrame | None = None,
                 current_ids: pd.Series | None = None) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """vendor -> (placements, endings) frames for tonight, for every vendor of the strategy
    (a vendor with nothing tonight gets empty frames) and every vendor that had an open
    placement end tonight.

    placements: tonight's new placements with exactly the vendor's `file_fields` that exist
    (in that order; a field missing from tonight's data is left out with a warning).
    endings: `ENDING_COLUMNS`, see `vendor_endings`. Each field is taken from the one source
    that owns it: accounts (tonight's columns), customers (by customer_id), outputs (stage,
    band, points from the decision inputs/scores; placed_on, ends_on from the placements book).

    A source row is the first with the key (pandas' drop_duplicates); the keys are looked up
    once for all of tonight's placed accounts, and only among the source rows they hit (a
    few ten thousand placed against millions of customers).
    """
    warn = warnings if warnings is not None else decision.warnings
    a = decision.assignments
    out: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    placed = a[(a["decision"] == PLACED).to_numpy()]
    fields = _FieldSources.of(placed, decision, inputs, accounts_tonight, customers, scores)
    queue = placed["queue"].to_numpy()
    endings = vendor_endings(decision, open_placements, current_ids)
    for v in strategy.vendors():
        mine = np.flatnonzero(queue == v.name)
        # a[(queue == v) & placed].sort_values("account_id", kind="mergesort"), as positions
        sel = mine[placed["account_id"].iloc[mine].reset_index(drop=True).sort_values(kind="mergesort").index]
        rows = placed.iloc[sel]
        cols: dict[str, pd.Series] = {}
        for f in v.file_fields:
            s = fields.column(f, sel, rows)
            if s is None:
                warn.append(f"vendor {v.name!r}: file field {f!r} is not in tonight's data; left out")
                continue
            cols[f] = s.reset_index(drop=True)
        placements = pd.DataFrame(cols, index=range(len(rows)))
        mine_end = endings[(endings["vendor"] == v.name).to_numpy()]
        out[v.name] = (placements.reset_index(drop=True), mine_end[ENDING_COLUMNS].reset_index(drop=True))
    # a vendor no longer in the strategy still hears that its placements ended
    for gone in sorted(set(endings["vendor"]) - set(out)):
        mine_end = endings[(endings["vendor"] == gone).to_numpy()]
        out[gone] = (pd.DataFrame({"account_id": pd.Series([], dtype="str")}),
                     mine_end[ENDING_COLUMNS].reset_index(drop=True))
    return out


@dataclass
class _FieldSources:
    """Where each file field comes from, looked up once for all of tonight's placed accounts:
    accounts (tonight's columns), customers (by customer_id), outputs (stage, band, points from
    the decision inputs, else the scores; placed_on, ends_on from the placements book)."""

    acc: FirstRows
    cus: FirstRows | None
    inp: FirstRows
    sc: FirstRows | None
    pl: FirstRows
    frames: dict[str, pd.DataFrame | None]   # source name -> its frame
    cols: dict[str, set[str]]                # source name -> its columns (keys aside)

    @classmethod
    def of(cls, placed: pd.DataFrame, decision: Decision, inputs: pd.DataFrame, accounts: pd.DataFrame,
           customers: pd.DataFrame | None, scores: pd.DataFrame | None) -> _FieldSources:
        ids, cids = placed["account_id"].astype("str"), placed["customer_id"].astype("str")
        return cls(FirstRows(ids, accounts, "account_id"),
                   FirstRows(cids, customers, "customer_id") if customers is not None else None,
                   FirstRows(ids, inputs, "account_id"),
                   FirstRows(ids, scores, "account_id") if scores is not None else None,
                   FirstRows(ids, decision.placements, "account_id", keep=None),
                   {"acc": accounts, "cus": customers, "inp": inputs, "sc": scores, "pl": decision.placements},
                   {"acc": set(accounts.columns) - {"account_id"},
                    "cus": set(customers.columns) - {"customer_id"} if customers is not None else set(),
                    "inp": set(inputs.columns) - {"account_id"},
                    "sc": set(scores.columns) - {"account_id"} if scores is not None else set()})

    def column(self, f: str, sel: np.ndarray, rows: pd.DataFrame) -> pd.Series | None:
        """Field `f` of the placed rows `sel` (`rows`); None when no source has it. A vendor with
        nothing tonight gets the source's empty column (pandas' map of zero keys would make a
        float column of a date one, and fail)."""
        s, src_frame = None, None
        if f in OUTPUTS_FROM_PLACEMENTS:
            s, src_frame = (self.pl(f, sel) if len(sel) else None), self.frames["pl"]
        elif f in ("stage", "band", "points"):
            name = "inp" if f in self.cols["inp"] else "sc"
            src = self.inp if name == "inp" else self.sc
            if src is not None and f in self.cols[name]:
                src_frame = self.frames[name]
                s = src(f, sel) if len(sel) else None
        elif f == "account_id":
            s = rows["account_id"].astype("str")
        elif f == "customer_id":
            s = rows["customer_id"].astype("str")
        elif f in self.cols["acc"]:
            s, src_frame = (self.acc(f, sel) if len(sel) else None), self.frames["acc"]
        elif self.cus is not None and f in self.cols["cus"]:
            s, src_frame = (self.cus(f, sel) if len(sel) else None), self.frames["cus"]
        if s is None and src_frame is not None:
            s = _empty_like(src_frame, f)
        return s


def vendor_endings(decision: Decision, open_placements: pd.DataFrame | None,
                   current_ids: pd.Series | None) -> pd.DataFrame:
    """Every open placement that ends tonight, once: account_id, vendor, ended, reason.

    - recalled: the decision's recalls (hold, fraud, vendor gone, stage not accepted), with
      their reason;
    - returned: the placement period is over (`ended == "returned"` in the assignments);
    - cured / paid: an open placement of last night whose account is not delinquent tonight:
      cured when the account is in tonight's snapshot at dpd 0 (`current_ids`), paid when it is
      not in tonight's snapshot at all (paid off or closed; CONTRACT.md: an account absent on a
      date is not delinquent); without `current_ids` (snapshot not at hand) 'cured' with reason
      `not_delinquent_tonight`. Without `open_placements` (first night) there are none.
    Sorted by vendor, then account_id.
    """
    a = decision.assignments
    r = decision.recalls
    parts = [pd.DataFrame({"account_id": r["account_id"].astype("str").to_numpy(dtype=object),
                           "vendor": r["vendor"].astype("str").to_numpy(dtype=object),
                           "ended": RECALLED,
                           "reason": r["reason"].astype("str").to_numpy(dtype=object)})]
    ret = a[(a["ended"] == RETURNED).to_numpy()]
    parts.append(pd.DataFrame({"account_id": ret["account_id"].astype("str").to_numpy(dtype=object),
                               "vendor": ret["previous_queue"].astype("str").to_numpy(dtype=object),
                               "ended": RETURNED, "reason": ENDING_REASONS[RETURNED]}))
    if open_placements is not None and len(open_placements):
        op = open_placements.drop_duplicates("account_id")
        gone = op[~isin(op["account_id"].astype("str"), a["account_id"].astype("str"))]
        if current_ids is not None:
            cured = isin(gone["account_id"].astype("str"), current_ids.astype("str"))
            kind = np.where(cured, CURED, PAID)
            why = pd.Series(kind).map(ENDING_REASONS).to_numpy(dtype=object)
        else:  # tonight's snapshot was not at hand: not delinquent, no more said
            kind = np.full(len(gone), CURED, dtype=object)
            why = np.full(len(gone), "not_delinquent_tonight", dtype=object)
        parts.append(pd.DataFrame({"account_id": gone["account_id"].astype("str").to_numpy(dtype=object),
                                   "vendor": gone["vendor"].astype("str").to_numpy(dtype=object),
                                   "ended": kind, "reason": why}))
    out = pd.concat(parts, ignore_index=True)
    out = out[out["vendor"] != ""]
    out = out.sort_values(["vendor", "account_id"], kind="mergesort").reset_index(drop=True)
    return out.astype({c: "str" for c in ("account_id", "vendor", "ended", "reason")})


@dataclass
class VendorBatch:
    """One vendor's files tonight, as written: frames ready for CSV, their encoding and the
    manifest's control totals (file kind -> money column -> sum with two decimals)."""

    vendor: str
    placements: pd.DataFrame
    endings: pd.DataFrame
    encoding: str = "utf-8"
    currency: str = ""
    amount_sums: dict[str, dict[str, str]] = field(default_factory=dict)


def _cents(s: pd.Series) -> np.ndarray:
    """Money as integer cents (half away from zero), NaN as a missing value (float NaN)."""
    x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(x), np.nan, np.sign(x) * np.floor(np.abs(x) * 100 + 0.5))


def _two_decimals(cents: np.ndarray) -> pd.Series:
    """'1234.50', '-12.05', '' for missing: exact from integer cents (no float formatting)."""
    if not len(cents):
        return pd.Series([], dtype=object)
    ok = ~np.isnan(cents)
    c = np.where(ok, cents, 0).astype(np.int64)
    neg = np.where(c < 0, "-", "")
    a = np.abs(c)
    text = np.char.add(np.char.add(np.char.add(neg, (a // 100).astype(str)), "."),
                       np.char.zfill((a % 100).astype(str), 2))
    return pd.Series(np.where(ok, text, ""), dtype=object)


def _sum_text(cents: np.ndarray) -> str:
    total = int(np.nansum(cents))
    return f"{'-' if total < 0 else ''}{abs(total) // 100}.{abs(total) % 100:02d}"


def _encodable(df: pd.DataFrame, encoding: str, label: str, warn: list[str]) -> pd.DataFrame:
    """Text cells the encoding cannot write become '?' there, with a warning naming the rows."""
    if encoding.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig"):
        return df
    out = df
    for c in df.columns:
        s = df[c]
        if s.dtype != object and not isinstance(s.dtype, pd.StringDtype):
            continue
        try:
            "\n".join(s.dropna().astype(str)).encode(encoding)
            continue
        except UnicodeEncodeError:
            pass
        text = s.astype(object)
        bad = np.array([isinstance(v, str) and v.encode(encoding, "replace").decode(encoding) != v
                        for v in text], dtype=bool)  # the rare path: only where a column fails
        rows = np.flatnonzero(bad)
        fixed = text.copy()
        fixed.iloc[rows] = [text.iloc[i].encode(encoding, "replace").decode(encoding) for i in rows]
        out = out.assign(**{c: fixed})
        shown = ", ".join(str(i + 1) for i in rows[:5]) + (" ..." if len(rows) > 5 else "")
        warn.append(f"{label}: column '{c}': {len(rows)} rows have characters file_encoding '{encoding}' "
                    f"cannot write (rows {shown}); written as '?'")
    return out


def _as_sent(df: pd.DataFrame, currency: str, *, with_currency: bool) -> tuple[pd.DataFrame, dict[str, str]]:
    out = df.copy()
    sums: dict[str, str] = {}
    for c in MONEY_FIELDS:
        if c in out.columns:
            cents = _cents(out[c])
            out[c] = _two_decimals(cents).to_numpy(dtype=object)
            sums[c] = _sum_text(cents)
    if with_currency:
        out["currency"] = pd.Series([currency] * len(out), dtype=object)
    return out, sums


def vendor_batches(files: dict[str, tuple[pd.DataFrame, pd.DataFrame]], strategy: Strategy,
                   warnings: list[str], day: str = "") -> dict[str, VendorBatch]:
    """The frames of `vendor_files` as the agency receives them: amounts as text with two
    decimals (exact: from integer cents), a `currency` column on the placements, text the
    vendor's `file_encoding` can write, and the control totals for the manifest."""
    enc = {v.name: v.file_encoding for v in strategy.vendors()}
    out: dict[str, VendorBatch] = {}
    for vendor, (placements, endings) in sorted(files.items()):
        e = enc.get(vendor, "utf-8")
        p, psums = _as_sent(placements, strategy.currency, with_currency=True)
        p = _encodable(p, e, f"vendor {vendor!r} placements_{day}.csv", warnings)
        r = _encodable(endings, e, f"vendor {vendor!r} recalls_{day}.csv", warnings)
        out[vendor] = VendorBatch(vendor, p, r, encoding=e, currency=strategy.currency,
                                  amount_sums={"placements": psums})
    return out


def worklists(decision: Decision) -> dict[str, pd.DataFrame]:
    """In-house team -> its accounts in priority order (1 = work first)."""
    s = decision.queue_summary
    teams = s.loc[s["kind"] == "inhouse", "queue"].tolist()
    a = decision.assignments
    return {t: a[a["queue"] == t].sort_values("priority", kind="mergesort")[WORKLIST_COLUMNS].reset_index(drop=True)
            for t in teams}

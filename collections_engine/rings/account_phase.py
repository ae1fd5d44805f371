"""The customers' own features of one night (`propensity.customer_features`' frame) and each
account's customer: from the whole book, or from last night's per-account aggregates
(`rings.accounts`, carried in `rings.carry`) and tonight's account, payment and contact rows.

The carried way is taken when the graph phase was built from the carry (so last night's
customers map to tonight's codes), last night summarised its accounts (`accounts_problem`
empty) and tonight's payment and contact rows dated on or before last night are last night's
(digests, as for identifiers and accounts in `graph_phase`). Otherwise, or when tonight's rows
cannot be merged (an account changing customer), everything is built from the book, with the
reason in the ring stats (`features_carry`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.book import Book
from collections_engine.rings import accounts as agg_mod
from collections_engine.rings.carry import ACCOUNT_COLUMNS, Carry, past_mask
from collections_engine.codes import category_codes, encode_arrow, to_arrow
from collections_engine.rings.graph_phase import GraphPhase, Hashes
from collections_engine.rings.propensity import customer_features

__all__ = ["AccountPhase", "AccountPrep", "FullPrep", "account_phase", "account_prep"]


@dataclass
class AccountPhase:
    feats: pd.DataFrame            # customer_features' frame (with open_day)
    acc: np.ndarray                # (acc, cust) pairs: every account known on the date ...
    cust: np.ndarray               # ... and its customer's code
    account_ids: pa.Array          # account id per account code
    info: dict[str, object] = field(default_factory=dict)


@dataclass
class FullPrep:
    """The whole book's per-account aggregates (`accounts.aggregate`), made before the graph
    phase has coded the customers: aggregated with every account row known on the night (`known`:
    dated on or before it, with a customer id) given one and the same customer, so `cust` is
    left to fill. `account_phase` then takes each account's customer from the graph phase's
    codes of its rows, after checking that the graph phase knows exactly the same rows and that
    an account's rows name one customer; where not, or where the aggregates have a `problem`,
    the features are built as before, from the rows (which say why)."""

    ids: pa.Array                    # account id per account code
    agg: dict[str, np.ndarray]
    problem: str
    acc: np.ndarray                  # per account row: its account code
    known: np.ndarray                # per account row: known on the night, with a customer
    opens_late: bool                 # an account row known on the night opens after it


@dataclass
class AccountPrep:
    """What the own features read from tonight's book before the graph phase is known (so it
    can be made on the side thread while the graph is built): the payments' and contacts'
    digests of the rows dated on or before tonight and on or before the carry's night, and,
    when the carry has account aggregates and those past rows are last night's, tonight's rows
    (masks) and the account codes of the carried way (`_account_codes`)."""

    digests: dict[str, str]          # per table: the digest of the rows on or before tonight
    problem: str                     # why the payments and contacts rule the carry out ("": not)
    masks: list | None = None        # tonight's rows of accounts, payments, contacts (None: no table)
    ids: pa.Array | None = None      # tonight's account space
    codes: list[np.ndarray] | None = None
    full: FullPrep | None = None     # the whole book's aggregates, when the night cannot carry them


def account_prep(book: Book, date: pd.Timestamp, carry: Carry | None, hashes: Hashes | None = None) -> AccountPrep:
    """`AccountPrep` of tonight's book (pure; the same whichever thread makes it)."""
    hashes = hashes if hashes is not None else Hashes(book)
    digests, problem = {}, ""
    for name in ("payments", "contacts"):
        table = getattr(book, name)
        digests[name] = hashes.digest(name, date) if table is not None else "0:0"
        if carry is not None and not problem:
            now = hashes.digest(name, carry.date) if table is not None else "0:0"
            if now != carry.digests.get(name):
                problem = (f"the {name} rows dated on or before {carry.date:%Y-%m-%d} differ from that night's "
                           "(history rewritten or late rows)")
    prep = AccountPrep(digests, problem)
    if carry is None or carry.accounts is None or problem:
        # the features will come from the whole book: its per-account work (the account ids of
        # 45M rows coded, 13M account rows, 9M payments and 23M contacts aggregated at 1M
        # accounts) is done now, beside the graph phase, not after it
        prep.full = _full_prep(book, date)
        return prep
    accounts, pay, con = book.accounts, book.payments, book.contacts
    masks = [~past_mask(accounts, "accounts", carry.date) & past_mask(accounts, "accounts", date)]
    for name, t in (("payments", pay), ("contacts", con)):
        masks.append(None if t is None else past_mask(t, name, date) & ~past_mask(t, name, carry.date))
    cols = _account_columns(book)
    tonight = [to_arrow(col).filter(pa.array(m)) if m is not None else to_arrow(col).slice(0, 0)
               for col, m in zip(cols, masks)]
    old_ids = to_arrow(carry.accounts["account_id"]).combine_chunks().cast(pa.large_string())
    prep.masks = masks
    prep.ids, prep.codes = _account_codes(old_ids, tonight)
    return prep


def account_phase(book: Book, gp: GraphPhase, date: pd.Timestamp, carry: Carry | None,
                  shared_counts: np.ndarray, hashes: Hashes | None = None,
                  prep: AccountPrep | None = None) -> AccountPhase:
    """Tonight's own features and account owners (module doc); sets the accounts part of
    `gp.carry` (what the next night carries). `hashes`: the payments' and contacts' row hashes
    (`graph_phase.Hashes`, possibly computed beside the earlier phases); `prep`: what
    `account_prep` made of tonight's book for this `carry` (made here when not given)."""
    if prep is None:
        prep = account_prep(book, date, carry, hashes)
    reason = _refused(gp, carry, prep)
    out = None
    if not reason:
        out, reason = _carried(book, gp, date, carry, shared_counts, prep)
    if out is None:
        out = _full(book, gp, date, shared_counts, prep.full)
        out.info = {"mode": "full", "reason": reason or out.info.get("reason", "")}
    prep.full = None  # read: its arrays go
    if gp.carry is not None:
        gp.carry.digests.update(prep.digests)
    return out


def _refused(gp: GraphPhase, carry: Carry | None, prep: AccountPrep) -> str:
    if carry is None:
        return "no carried account aggregates"
    if not gp.carry_info or gp.carry_info.get("mode") != "carried":
        return "identifier graph built from the whole book"
    if carry.accounts is None:
        return f"last night's accounts were not summarised: {carry.accounts_problem}"
    return prep.problem


def _rows(book: Book, gp: GraphPhase, acc_codes: list[np.ndarray], masks: list[np.ndarray | None]):
    """customer_features' integer-coded row dicts for the rows of each table in `masks`."""
    m_acc = masks[0]
    return _row_dicts(book, gp.acc_cust(m_acc if m_acc is not None else np.ones(len(book.accounts), bool)),
                      acc_codes, masks)


def _row_dicts(book: Book, cust: np.ndarray, acc_codes: list[np.ndarray], masks: list[np.ndarray | None]):
    """`_rows` with each account row's customer code given (`cust`, for the rows of the mask)."""
    return (_account_rows(book, cust, acc_codes[0], masks[0]), _payment_rows(book, acc_codes[1], masks[1]),
            _contact_rows(book, acc_codes[2], masks[2]))


def _pick(col: pd.Series, m: np.ndarray | None) -> np.ndarray:
    x = col.to_numpy("datetime64[ns]") if not pd.api.types.is_integer_dtype(col.dtype) else col.to_numpy()
    return x if m is None else x[m]


def _account_rows(book: Book, cust: np.ndarray, acc: np.ndarray, m: np.ndarray | None) -> dict:
    accounts = book.accounts
    return {"cust": cust, "acc": acc, "open_date": _pick(accounts["open_date"], m), "dpd": _pick(accounts["dpd"], m),
            "snapshot_date": _pick(accounts["snapshot_date"], m)}


def _payment_rows(book: Book, acc: np.ndarray, m: np.ndarray | None) -> dict | None:
    pay = book.payments
    return None if pay is None else {"acc": acc, "paid_on": _pick(pay["paid_on"], m)}


def _contact_rows(book: Book, acc: np.ndarray, m: np.ndarray | None) -> dict | None:
    con = book.contacts
    return None if con is None else {
        "acc": acc, "contacted_on": _pick(con["contacted_on"], m),
        "wrong_number": _equals(con["outcome"], "wrong_number", m), "no_answer": _equals(con["outcome"], "no_answer", m)}


def _account_columns(book: Book) -> list:
    pay, con = book.payments, book.contacts
    return [book.accounts["account_id"], pay["account_id"] if pay is not None else pd.Series([], dtype="str"),
            con["account_id"] if con is not None else pd.Series([], dtype="str")]


def _full(book: Book, gp: GraphPhase, date: pd.Timestamp, shared_counts: np.ndarray,
          pre: FullPrep | None = None) -> AccountPhase:
    """The phase from the whole book: from `pre` (the aggregates made beside the graph phase)
    when `_from_full_prep` can use them, else from the rows."""
    out = _from_full_prep(gp, pre, shared_counts, date) if pre is not None else None
    if out is not None:
        return out
    codes, account_dict = encode_arrow(*_account_columns(book), sort=False)
    a, p, c = _rows(book, gp, codes, [None, None, None])
    n_cust, n_acc = len(gp.customer_ids), len(account_dict)
    agg, problem = agg_mod.aggregate(n_acc, a, p, c, date)
    if not problem:
        return _summarised(gp, account_dict, agg, _opens_late(a, date), shared_counts, date)
    # no per-account summary: the row-by-row features, owners from the rows
    feats = customer_features(n_cust, a, p, c, shared_counts, date)
    pairs = pd.DataFrame({"acc": a["acc"], "cust": a["cust"]})
    pairs = pairs[pairs["cust"] >= 0].drop_duplicates()
    acc, cust = pairs["acc"].to_numpy(np.int64), pairs["cust"].to_numpy(np.int64)
    _set_carry(gp, account_dict, agg, problem)
    return AccountPhase(feats, acc, cust, account_dict, {"reason": problem})


def _summarised(gp: GraphPhase, ids: pa.Array, agg: dict[str, np.ndarray], opens_late: bool,
                shared_counts: np.ndarray, date: pd.Timestamp) -> AccountPhase:
    """The phase from per-account aggregates whose `cust` is the graph phase's code;
    `opens_late`: an account row known on the night opens after it (the carry is then refused)."""
    feats = agg_mod.features(len(gp.customer_ids), agg, shared_counts, date)
    acc = np.flatnonzero(agg["cust"] >= 0)
    _set_carry(gp, ids, agg, "an account row known on the night opens after it" if opens_late else "")
    return AccountPhase(feats, acc, agg["cust"][acc], ids, {})


def _opens_late(a: dict, date: pd.Timestamp) -> bool:
    """An account row known on the night (with a customer) opens after it: the next night
    cannot carry these aggregates (`_set_carry`)."""
    return bool(((a["cust"] >= 0) & (a["open_date"].view(np.int64) > pd.Timestamp(date).value)).any())


def _full_prep(book: Book, date: pd.Timestamp) -> FullPrep:
    """`FullPrep` of tonight's book (pure: the book and the date only). After one coding pass
    over the three tables' account ids, one table's rows at a time: this runs beside the graph
    phase, whose peak it should not add to."""
    codes, account_dict = encode_arrow(*_account_columns(book), sort=False)
    accounts = book.accounts
    known = accounts["customer_id"].notna().to_numpy(bool)
    if "snapshot_date" in accounts.columns:  # the rows the graph phase knows on the date (`_read_night`)
        known = known & (accounts["snapshot_date"].to_numpy("datetime64[ns]") <= pd.Timestamp(date).to_datetime64())
    agg = agg_mod.empty(len(account_dict))
    a = _account_rows(book, np.where(known, 0, -1), codes[0], None)
    problem = agg_mod.add_accounts(agg, a, date)
    opens_late = _opens_late(a, date)  # (the known rows are the graph phase's, or pre is not used)
    del a
    if not problem:
        agg_mod.add_payments(agg, _payment_rows(book, codes[1], None), date)
        agg_mod.add_contacts(agg, _contact_rows(book, codes[2], None), date)
    # the three tables' codes share one buffer (`encode_arrow`): keep the accounts' only
    return FullPrep(account_dict, agg, problem, codes[0].copy(), known, opens_late)


def _from_full_prep(gp: GraphPhase, pre: FullPrep, shared_counts: np.ndarray,
                    date: pd.Timestamp) -> AccountPhase | None:
    """`_full`'s phase from the aggregates made before the graph phase (`FullPrep`), each
    account's customer taken from the graph phase's codes of its rows; None where the graph
    phase knows other rows, where an account's rows name two customers or where the aggregates
    have a problem (`_full` then works from the rows)."""
    if pre.problem:
        return None
    known = pre.known
    cust = gp.acc_cust(np.ones(len(known), bool))
    if not np.array_equal(known, cust >= 0):
        return None
    acc, cust = pre.acc[known], cust[known]
    owner = np.full(len(pre.ids), -1, np.int64)
    owner[acc] = cust
    if (owner[acc] != cust).any():  # an account's rows name two customers
        return None
    return _summarised(gp, pre.ids, {**pre.agg, "cust": owner}, pre.opens_late, shared_counts, date)


def _carried(book: Book, gp: GraphPhase, date: pd.Timestamp, carry: Carry, shared_counts: np.ndarray,
             prep: AccountPrep) -> tuple[AccountPhase | None, str]:
    ids, codes, masks = prep.ids, prep.codes, prep.masks
    a, p, c = _rows(book, gp, codes, masks)
    n_acc, n_old = len(ids), len(carry.accounts)
    new, problem = agg_mod.aggregate(n_acc, a, p, c, date)
    if problem:
        return None, problem
    blank = agg_mod.empty(n_acc - n_old)  # (one copy of each carried column, not two)
    old = {k: np.concatenate([carry.accounts[k].to_numpy(), blank[k]]).astype(new[k].dtype, copy=False)
           for k in agg_mod.FIELDS if k != "cust"}
    pos = carry.accounts["cust_pos"].to_numpy(np.int64)
    old["cust"] = np.r_[_through(gp.old_code, pos), np.full(n_acc - n_old, -1)]
    agg, problem = agg_mod.merge(old, new)
    if problem:
        return None, problem
    out = _summarised(gp, ids, agg, _opens_late(a, date), shared_counts, date)
    out.info = {"mode": "carried", "reason": "", "accounts": n_acc, "new_accounts": n_acc - n_old,
                "rows_applied": {"accounts": len(a["acc"]), "payments": len(codes[1]), "contacts": len(codes[2])}}
    return out, ""


def _account_codes(old: pa.Array, columns: list) -> tuple[pa.Array, list[np.ndarray]]:
    """Tonight's account space (the carried accounts, then the new ones in order of appearance)
    and each column value's code in it: one hash look-up against the carried ids."""
    every = pa.chunked_array([ch for col in columns for ch in col.chunks], pa.large_string())
    idx = pc.fill_null(pc.index_in(every, value_set=old), -1).to_numpy(zero_copy_only=False).astype(np.int64)
    miss = idx < 0
    if miss.any():
        absent = every.filter(pa.array(miss))
        fresh = pc.drop_null(pc.unique(absent))
        f = pc.fill_null(pc.index_in(absent, value_set=fresh), -1).to_numpy(zero_copy_only=False).astype(np.int64)
        idx[miss] = np.where(f >= 0, len(old) + f, -1)
        old = pa.concat_arrays([old, fresh.cast(pa.large_string())])
    cuts = np.cumsum([0, *(len(c) for c in columns)])
    return old, [idx[cuts[i]:cuts[i + 1]] for i in range(len(columns))]


def _set_carry(gp: GraphPhase, ids: pa.Array, agg: dict[str, np.ndarray], problem: str) -> None:
    if gp.carry is None:
        return
    gp.carry.accounts_problem = problem
    if problem:
        gp.carry.accounts = None
        return
    cust = agg["cust"]
    frame = {"account_id": pd.array(ids, dtype="str") if len(ids) else pd.Series([], dtype="str"),
             "cust_pos": _through(gp.carry_pos, cust)}
    frame.update({k: agg[k] for k in ACCOUNT_COLUMNS[2:]})
    # half the bytes through the pipe and on disk where the values fit (counts, dpd, rows)
    for k in ("cust_pos", "dpd_l", "n_con", "n_wrong", "n_noans"):
        x = np.asarray(frame[k])
        if len(x) == 0 or (x.max() < 2**31 and x.min() >= -(2**31)):
            frame[k] = x.astype(np.int32)
    gp.carry.accounts = pd.DataFrame(frame, copy=False)  # the columns as made: no block of them copied


def _through(table: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """table[idx] where idx >= 0, else -1."""
    out = np.full(len(idx), -1, np.int64)
    out[idx >= 0] = table[idx[idx >= 0]]
    return out


def _equals(col: pd.Series, value: str, mask: np.ndarray | None = None) -> np.ndarray:
    """col == value per row (missing: False), through Arrow or the categories: no Python
    string per row."""
    cat = category_codes(col)
    if cat is not None:
        codes, cats = cat
        hit = np.array([c == value for c in cats] + [False], bool)
        out = hit[np.where(codes < 0, len(cats), codes)]
    else:
        out = pc.fill_null(pc.equal(to_arrow(col), value), False).to_numpy(zero_copy_only=False).astype(bool)
    return out if mask is None else out[mask]

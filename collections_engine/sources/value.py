"""`value_sources(book, strategy, ...)`: every declared source valued in model lift and money.

Steps: which sources can be valued (checks) -> history rows with outcomes, out-of-time split
(scoring.data) -> variant models (variants) -> per segment paired AUC (DeLong) and KS
(bootstrap) changes, Holm-corrected -> plans per variant and their value (money) -> the
recommendation (recommend).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collections_engine.assign.effects import Effects, estimate_effects
from collections_engine.assign.logodds import LogOddsEffects, fit_logodds
from collections_engine.book import Book
from collections_engine.config.strategy import Strategy
from collections_engine.scoring.data import all_segments, oot_split, sample_rows, training_rows
from collections_engine.sources.checks import check_sources
from collections_engine.sources.money import decide_plans, plan_values
from collections_engine.sources.recommend import NOT_VALUED, recommend
from collections_engine.sources.variants import ValuationConfig, fit_variants
from collections_engine.stats import boot_sum, boot_weights, holm, ks_boot, paired_auc

__all__ = ["SourcesResult", "value_sources", "segment_masks", "RESULT_COLUMNS"]

log = logging.getLogger("collections_engine.sources")

ESTIMATORS = ("ipw", "dr", "model")     # the chosen one fills value_*, the others value_*_<name>

RESULT_COLUMNS = [
    "source", "key", "segment", "status", "rows", "positives",
    "auc_full", "auc_without", "auc_diff", "auc_diff_lo", "auc_diff_hi", "p_value", "p_holm",
    "ks_full", "ks_without", "ks_diff", "ks_diff_lo", "ks_diff_hi",
    "auc_internal", "auc_with", "add_auc_diff", "add_auc_diff_lo", "add_auc_diff_hi",
    "add_p_value", "add_p_holm", "add_ks_diff", "add_ks_diff_lo", "add_ks_diff_hi",
    "value_month", "value_lo", "value_hi", "add_value_month", "add_value_lo", "add_value_hi",
    "records_month", "price_per_record", "cost_month", "net_value_month",
    "plans_differ_share", "mean_abs_contribution", "estimator", "recommendation", "why",
]


@dataclass
class SourcesResult:
    table: pd.DataFrame                  # RESULT_COLUMNS, one row per source x segment
    summary: pd.DataFrame                # one row per source: rank, buy for, overall figures
    contributions: pd.DataFrame          # per held-out account row: each source's contribution
    meta: dict
    warnings: list[str] = field(default_factory=list)
    plans: pd.DataFrame | None = None    # held-out rows: the queue each variant's plan chose


def segment_masks(rows: pd.DataFrame, strategy: Strategy) -> dict[str, np.ndarray]:
    """overall, each customer line, each line x stage (scoring's segment names)."""
    line = rows["customer_line"].astype("str").to_numpy()
    seg = rows["segment"].astype("str").to_numpy()
    out = {"overall": np.ones(len(rows), bool)}
    for ln in ("new", "existing"):
        out[ln] = line == ln
    for s in all_segments(strategy):
        out[s] = seg == s
    return out


def _history_columns(book: Book, rows: pd.DataFrame, strategy: Strategy) -> pd.DataFrame:
    key = ["account_id", "snapshot_date"]
    out = rows.copy()
    o = book.outcomes.drop_duplicates(key, keep="last")
    rec = rows[key].merge(o[key + (["recovered_amount"] if "recovered_amount" in o.columns else [])],
                          on=key, how="left")
    coll = rows[strategy.outcome.amount].fillna(0.0).clip(lower=0.0).to_numpy(np.float64)
    out["collectable"] = coll
    if "recovered_amount" in rec.columns:
        out["recovered_amount"] = rec["recovered_amount"].fillna(0.0).to_numpy(np.float64)
    else:
        out["recovered_amount"] = rows["y"].to_numpy(np.float64) * coll
    prop = np.full(len(rows), np.nan)
    ph = book.placement_history
    if ph is not None and "propensity" in ph.columns:
        p = rows[key].merge(ph.drop_duplicates(key, keep="last")[key + ["propensity"]], on=key, how="left")
        prop = p["propensity"].to_numpy(np.float64)
    out["propensity"] = np.where((prop > 0) & (prop <= 1), prop, np.nan)
    return out


def _window_effects(rows: pd.DataFrame, train_mask: np.ndarray, strategy: Strategy
                    ) -> tuple[dict | LogOddsEffects, pd.DataFrame | None]:
    """Queue effects estimated on the training window's placement history only (no held-out
    outcome is used), as `train` estimates them for the nightly run; the strategy's effects
    where history is too thin or not randomised (`assign.effects.Effects`). Under the strategy's
    `effects_model: logodds`, the log-odds shifts by account traits (`assign.logodds`)."""
    if "queue" not in rows.columns or not train_mask.any():
        return {}, None
    keys = ["account_id", "snapshot_date"]
    if strategy.effects_model == "logodds":
        w = rows.loc[train_mask, ["queue", "propensity", "stage", "collectable", "dpd", "customer_line", "y"]]
        lo = fit_logodds(w.rename(columns={"y": "repaid"}), strategy)
        return lo, lo.stage_table
    w = rows.loc[train_mask, keys + ["queue", "propensity", "stage", "y"]]
    est = estimate_effects(w[keys + ["queue", "propensity"]].assign(queue=w["queue"].astype("str")),
                           w[keys].assign(repaid=w["y"].to_numpy()),
                           w[keys].assign(stage=w["stage"].astype("str").to_numpy()), strategy)
    eff = Effects.resolve(strategy, est)
    return eff.values, eff.table


def _not_valued_rows(strategy: Strategy, not_valued: dict[str, str]) -> pd.DataFrame:
    keys = {s.name: s for s in strategy.sources}
    return pd.DataFrame([{"source": n, "key": keys[n].key, "segment": "overall", "status": NOT_VALUED,
                          "price_per_record": keys[n].price_per_record, "recommendation": NOT_VALUED,
                          "why": why} for n, why in not_valued.items()])


@dataclass
class _Window:
    """History rows split out of time, and the samples the variant models and the money use."""

    rows: pd.DataFrame       # every history row with outcomes, collectable, propensity
    held: np.ndarray         # bool per row: held out (out of time)
    split_how: str
    train: pd.DataFrame      # sampled training-window rows
    oot: pd.DataFrame        # sampled held-out rows
    oot_scale: float         # held-out rows per sampled held-out row


def _window(book: Book, strategy: Strategy, cfg: ValuationConfig) -> _Window:
    rows = training_rows(book, strategy)
    rows = _history_columns(book, rows, strategy)
    held, split_how = oot_split(rows, cfg.seed, cfg.holdout_share, cfg.max_holdout_share,
                                cfg.max_train_rows)
    train = rows.iloc[sample_rows(~held, cfg.max_train_rows, cfg.seed)].reset_index(drop=True)
    oot_pos = sample_rows(held, cfg.max_oot_rows, cfg.seed + 1)
    oot = rows.iloc[oot_pos].reset_index(drop=True)
    oot_scale = float(held.sum()) / max(len(oot), 1)
    return _Window(rows, held, split_how, train, oot, oot_scale)


def _window_meta(w: _Window, valued: list[str], not_valued: dict[str, str], cfg: ValuationConfig) -> dict:
    return {
        "split": w.split_how, "history_rows": int(len(w.rows)),
        "history_dates": int(w.rows["snapshot_date"].nunique()),
        "train_rows_used": int(len(w.train)), "held_out_rows": int(w.held.sum()),
        "held_out_rows_used": int(len(w.oot)),
        "held_out_dates": sorted(pd.Timestamp(d).strftime("%Y-%m-%d") for d in w.oot["snapshot_date"].unique()),
        "valued": valued, "not_valued": not_valued, "config": {k: v for k, v in cfg.__dict__.items()},
    }


def value_sources(book: Book, strategy: Strategy, load_warnings: list[str] | None = None,
                  cfg: ValuationConfig | None = None) -> SourcesResult:
    """Every declared source valued: lift of removing it from the full model and of adding it
    to the internal one (per segment), and the money of the plans decided with and without it."""
    cfg = cfg or ValuationConfig()
    valued, not_valued = check_sources(book, strategy, load_warnings)
    warnings = [f"source '{n}' not valued: {why}" for n, why in not_valued.items()]
    w = _window(book, strategy, cfg)
    meta = _window_meta(w, valued, not_valued, cfg)
    if not valued:
        table = _not_valued_rows(strategy, not_valued).reindex(columns=RESULT_COLUMNS)
        return SourcesResult(table, _summary(table, strategy), pd.DataFrame(), meta, warnings)

    log.info("sources: fitting %d variant models on %d rows; %d held-out rows (%s)",
             2 + 2 * len(valued), len(w.train), len(w.oot), w.split_how)
    vm = fit_variants(book, strategy, w.train, w.oot, valued, cfg)
    warnings += vm.warnings
    log.info("sources: variant models fitted (rounds %s)", vm.rounds)
    meta["variant_rounds"] = vm.rounds
    meta["feature_groups"] = vm.groups
    ev = _Evidence.of(w.oot, strategy, cfg)
    money = _plans_and_values(book, strategy, w, vm, cfg, meta)
    recs = [r for s in valued for r in _source_rows(s, strategy, w, vm, ev, money, cfg)]
    table = _table(recs, strategy, not_valued, cfg)
    contributions = _contributions(w.oot, vm, valued)
    plan_frame = w.oot[["account_id", "snapshot_date", "customer_line", "stage", "collectable"]].copy()
    for name in ["full"] + [f"without:{s}" for s in valued]:
        plan_frame[f"plan_{name}"] = money.plans[name]
    meta["held_out_scale"] = w.oot_scale
    return SourcesResult(table, _summary(table, strategy), contributions, meta, warnings, plan_frame)


@dataclass
class _Evidence:
    """The held-out rows' outcomes, segments and bootstrap weights (by account), shared by every
    source's tests."""

    y: np.ndarray
    masks: dict[str, np.ndarray]
    acc_codes: np.ndarray
    w_ks: np.ndarray
    w_money: np.ndarray

    @classmethod
    def of(cls, oot: pd.DataFrame, strategy: Strategy, cfg: ValuationConfig) -> _Evidence:
        acc_codes = pd.factorize(oot["account_id"])[0]
        n_acc = int(acc_codes.max()) + 1 if len(acc_codes) else 0
        return cls(oot["y"].to_numpy(np.int8), segment_masks(oot, strategy), acc_codes,
                   boot_weights(n_acc, cfg.n_boot_ks, cfg.seed + 7), boot_weights(n_acc, cfg.n_boot_money, cfg.seed + 8))


@dataclass
class _Money:
    """Each variant's plan on the held-out rows and its value per row under each estimator."""

    plans: dict[str, np.ndarray]
    values: dict[str, dict[str, np.ndarray]]   # estimator -> variant -> value per row
    estimator: str                             # how the chosen estimator was applied, in words
    per_month: float                           # scale of a held-out sum to one month of the book


def _plan_effects(w: _Window, strategy: Strategy, cfg: ValuationConfig, meta: dict) -> dict | LogOddsEffects:
    """The queue effects the plans are decided and valued with (said in meta)."""
    if cfg.effects == "history":
        effects, eff_table = _window_effects(w.rows, ~w.held, strategy)
    else:
        effects, eff_table = {}, None
    if isinstance(effects, LogOddsEffects):
        used = int((effects.stage_table["source"] == "history").sum())
        meta["effects"] = (f"log-odds shifts by account traits estimated on the training window's placement "
                           f"history ({used} queue x stage pairs, {effects.record()['cells_own_estimate']} "
                           "cells with their own estimate), the strategy's ln(effect) elsewhere")
        meta["effects_table"] = eff_table.to_dict(orient="records")
        return effects
    meta["effects"] = ("estimated on the training window's placement history where it has "
                       f"enough rows ({len(effects)} queue x stage pairs), the strategy's elsewhere"
                       if effects else "the strategy's")
    if strategy.effects_model == "logodds":
        meta["effects"] += " as constant log-odds shifts ln(effect)"
    if eff_table is not None:
        meta["effects_table"] = eff_table[["queue", "stage", "strategy_effect", "used", "source"]] \
            .to_dict(orient="records")
    return effects


def _plans_and_values(book: Book, strategy: Strategy, w: _Window, vm, cfg: ValuationConfig,
                      meta: dict) -> _Money:
    """Plans decided with each variant's scores (identical variants share one), each valued by
    every estimator against the full model."""
    oot = w.oot
    ipw_rows = ~np.isnan(oot["propensity"].to_numpy(np.float64)) & oot["queue"].notna().to_numpy() \
        if "queue" in oot.columns else np.zeros(len(oot), bool)
    p_full = vm.p_no_action["full"]
    effects = _plan_effects(w, strategy, cfg, meta)
    night = int((book.on(book.snapshot_dates()[-1])["dpd"] > 0).sum())
    values: dict[str, dict[str, np.ndarray]] = {}
    plans: dict[str, np.ndarray] = {}
    plan_info: dict[str, list] = {}
    done: dict[int, str] = {}
    for name, p in vm.p_no_action.items():
        if id(p) in done:                       # identical variant (same feature set)
            first = done[id(p)]
            plans[name], plan_info[name] = plans[first], plan_info[first]
            for mode in ESTIMATORS:
                values[mode][name] = values[mode][first]
            continue
        done[id(p)] = name
        plans[name], plan_info[name] = decide_plans(oot, p, strategy, night, book.holds,
                                                    cfg.decide_time_limit, effects)
        for mode in ESTIMATORS:
            values.setdefault(mode, {})[name] = plan_values(oot, plans[name], p_full, strategy,
                                                            ipw_rows if mode != "model" else
                                                            np.zeros(len(oot), bool),
                                                            "dr" if mode == "dr" else "ipw", effects)
    log.info("sources: %d plans decided and valued", len(done))
    ipw_share = float(ipw_rows.mean()) if len(oot) else 0.0
    estimator = _estimator_name(cfg.estimator, ipw_share)
    n_dates = max(oot["snapshot_date"].nunique(), 1)
    meta.update({"estimator": estimator, "ipw_share": ipw_share, "night_volume": night,
                 "plans": plan_info["full"], "months_held_out": n_dates})
    return _Money(plans, values, estimator, w.oot_scale / n_dates)  # history snapshots are monthly


def _estimator_name(kind: str, ipw_share: float) -> str:
    if kind == "model":
        return "model (the full model's expected values on every row)"
    if ipw_share == 1.0:
        return kind
    if ipw_share == 0.0:
        return "model"
    return f"{kind} on {ipw_share:.1%} of rows, model on the rest"


def _source_rows(s: str, strategy: Strategy, w: _Window, vm, ev: _Evidence, money: _Money,
                 cfg: ValuationConfig) -> list[dict]:
    """One result row per segment for source `s`: lift (AUC by DeLong, KS by bootstrap) of
    removing it and of adding it, money of the plans with and without it, records and cost."""
    oot, y, acc_codes = w.oot, ev.y, ev.acc_codes
    src = {x.name: x for x in strategy.sources}[s]
    keycol = oot[src.key].astype("str")
    pairs = {"": (vm.p_actual["full"], vm.p_actual[f"without:{s}"]),
             "add_": (vm.p_actual[f"with:{s}"], vm.p_actual["internal"])}
    d_rm = {m: v["full"] - v[f"without:{s}"] for m, v in money.values.items()}
    d_add = money.values[cfg.estimator][f"with:{s}"] - money.values[cfg.estimator]["internal"]
    diffs = [("", "", d_rm[cfg.estimator]), ("add_", "", d_add)]
    diffs += [("", f"_{e}", d_rm[e]) for e in ESTIMATORS if e != cfg.estimator]
    differ = money.plans["full"] != money.plans[f"without:{s}"]
    contrib = vm.contributions[s].to_numpy()
    recs = []
    for seg, m in ev.masks.items():
        r: dict = {"source": s, "key": src.key, "segment": seg, "status": "valued",
                   "rows": int(m.sum()), "positives": int(y[m].sum()),
                   "price_per_record": float(src.price_per_record), "estimator": money.estimator}
        if m.sum() == 0:
            recs.append(r)
            continue
        r.update(_auc_changes(y[m], pairs, m))
        r.update(_ks_changes(y[m], pairs, m, ev.w_ks[:, acc_codes[m]]))
        for pre, suf, d in diffs:
            dm = np.where(m, d, 0.0)
            point = float(dm.sum()) * money.per_month
            reps = boot_sum(dm, ev.w_money, acc_codes) * money.per_month
            lo, hi = np.quantile(reps, [0.025, 0.975])
            r.update({f"{pre}value_month{suf}": point, f"{pre}value_lo{suf}": float(lo),
                      f"{pre}value_hi{suf}": float(hi)})
        dates = oot.loc[m, "snapshot_date"]
        records = float(keycol[m].groupby(dates.to_numpy()).nunique().mean()) * w.oot_scale
        r.update({"records_month": records, "cost_month": records * src.price_per_record,
                  "plans_differ_share": float(differ[m].mean()),
                  "mean_abs_contribution": float(np.abs(contrib[m]).mean())})
        r["net_value_month"] = r["value_month"] - r["cost_month"]
        recs.append(r)
    return recs


def _auc_changes(y: np.ndarray, pairs: dict, m: np.ndarray) -> dict:
    """Paired DeLong AUC changes: full vs without (removing), with vs internal (adding)."""
    rm = paired_auc(y, pairs[""][0][m], pairs[""][1][m])
    ad = paired_auc(y, pairs["add_"][0][m], pairs["add_"][1][m])
    return {"auc_full": rm["auc_a"], "auc_without": rm["auc_b"], "auc_diff": rm["auc_diff"],
            "auc_diff_lo": rm["auc_diff_lo"], "auc_diff_hi": rm["auc_diff_hi"],
            "p_value": rm["p_value"], "auc_internal": ad["auc_b"], "auc_with": ad["auc_a"],
            "add_auc_diff": ad["auc_diff"], "add_auc_diff_lo": ad["auc_diff_lo"],
            "add_auc_diff_hi": ad["auc_diff_hi"], "add_p_value": ad["p_value"]}


def _ks_changes(y: np.ndarray, pairs: dict, m: np.ndarray, wk: np.ndarray) -> dict:
    """KS changes with bootstrap intervals (by account), removing and adding."""
    out: dict = {}
    for pre, (pa, pb) in pairs.items():
        ka, ba = ks_boot(y, pa[m], wk)
        kb, bb = ks_boot(y, pb[m], wk)
        diff = ba - bb
        lo, hi = (np.nanquantile(diff, [0.025, 0.975]) if np.isfinite(diff).any()
                  else (np.nan, np.nan))
        out.update({f"{pre}ks_diff": ka - kb, f"{pre}ks_diff_lo": float(lo), f"{pre}ks_diff_hi": float(hi)})
        if not pre:
            out.update({"ks_full": ka, "ks_without": kb})
    return out


def _table(recs: list[dict], strategy: Strategy, not_valued: dict[str, str], cfg: ValuationConfig) -> pd.DataFrame:
    """The result rows with Holm-corrected p-values and recommendations; the sources not valued
    appended; RESULT_COLUMNS with the other estimators' value columns before the last two."""
    table = pd.DataFrame(recs)
    table["p_holm"] = holm(table["p_value"].to_numpy(float))
    table["add_p_holm"] = holm(table["add_p_value"].to_numpy(float))
    table = recommend(table, cfg.alpha, cfg.tight_auc)
    if not_valued:
        table = pd.concat([table, _not_valued_rows(strategy, not_valued)], ignore_index=True)
    alt = [f"value_{k}_{e}" for e in ESTIMATORS if e != cfg.estimator for k in ("month", "lo", "hi")]
    return table.reindex(columns=RESULT_COLUMNS[:-2] + alt + RESULT_COLUMNS[-2:])


def _contributions(oot: pd.DataFrame, vm, valued: list[str]) -> pd.DataFrame:
    out = pd.DataFrame({
        "account_id": oot["account_id"].astype("str"),
        "customer_id": oot["customer_id"].astype("str"),
        "snapshot_date": oot["snapshot_date"].astype("datetime64[ns]"),
        "segment": oot["segment"].astype("str"),
        "p_full": vm.p_no_action["full"],
    })
    for s in valued:
        out[f"contribution_{s}"] = vm.contributions[s].to_numpy(np.float64)
        out[f"p_without_{s}"] = vm.p_no_action[f"without:{s}"]
    return out.sort_values(["snapshot_date", "account_id"], kind="mergesort").reset_index(drop=True)


def _summary(table: pd.DataFrame, strategy: Strategy) -> pd.DataFrame:
    """One row per declared source: ranks, overall figures, which lines to buy it for."""
    rows = []
    for src in strategy.sources:
        t = table[table["source"] == src.name].set_index("segment")
        if len(t) == 0 or t["status"].iloc[0] == NOT_VALUED:
            rows.append({"source": src.name, "status": NOT_VALUED,
                         "buy_for": "", "why": t["why"].iloc[0] if len(t) else ""})
            continue
        o = t.loc["overall"]
        lines = [ln for ln in ("new", "existing") if ln in t.index and t.loc[ln, "recommendation"] == "keep"]
        buy = ("all customers" if len(lines) == 2 else f"{lines[0]} customers only" if lines
               else "nobody")
        rows.append({"source": src.name, "status": "valued",
                     "overall": o["recommendation"],
                     "new": t.loc["new", "recommendation"] if "new" in t.index else "",
                     "existing": t.loc["existing", "recommendation"] if "existing" in t.index else "",
                     "buy_for": buy, "auc_diff": o["auc_diff"], "p_holm": o["p_holm"],
                     "value_month": o["value_month"], "cost_month": o["cost_month"],
                     "net_value_month": o["net_value_month"], "why": o["why"]})
    s = pd.DataFrame(rows)
    if "auc_diff" in s.columns:
        s["rank_auc"] = s["auc_diff"].rank(ascending=False, method="min")
        s["rank_money"] = s["net_value_month"].rank(ascending=False, method="min")
    return s

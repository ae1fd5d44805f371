"""Data-source valuation against the generator's truth, and its speed.

  .venv/bin/python benchmarks/bench_sources.py --seeds 20 --accounts 5000
      per seed: generate a book, value the sources, compare with truth/sources.parquet; prints a
      table (rank of the strong source, telco's recommendation per customer line, the noise
      source's recommendation) under the chosen estimator and under the alternatives, the count
      of "keep" for the noise source and the false-positive rate of its removal test.
  .venv/bin/python benchmarks/bench_sources.py --seeds 20 --accounts 3000 --night-volume 200000
      the same with the default strategy's capacities scaled by 3000/200000, as if the book were
      a slice of the 200k-account night the strategy is sized for (capacities bind).
  .venv/bin/python benchmarks/bench_sources.py --seeds 10 --accounts 5000 --effects-model multiplier,logodds
      each book valued twice, the strategy's `effects_model` multiplier (as written) and logodds
      (the queue effects on the log-odds by account traits, `assign/logodds.py`), side by side.
  .venv/bin/python benchmarks/bench_sources.py --speed --history-rows 200000
      one book with about that many history rows, four sources: wall time of the valuation.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from collections_engine.config import load_strategy
from collections_engine.io import write_parquet
from collections_engine.io.load import load_book
from collections_engine.sources import ValuationConfig, recommend, value_sources
from collections_engine.scoring.data import NO_ACTION
from collections_engine.sources.money import queue_terms, scaled_strategy
from collections_engine.sources.value import ESTIMATORS
from collections_engine.loop.world import World
from collections_engine.synth import SynthParams, iter_book
from collections_engine.synth.state import WorldState
from collections_engine.synth.world import queue_response

ROOT = Path(__file__).resolve().parents[1]


def make_book(out: Path, accounts: int, seed: int, strategy) -> dict:
    """Write the book; returns truth/world.json's parameters (world v2), kept in memory."""
    params: dict = {}
    for name, frame in iter_book(SynthParams(accounts=accounts, days=1, seed=seed), strategy):
        if isinstance(frame, dict):         # truth/world.json (world v2)
            params = frame
            continue
        p = out / f"{name}.parquet"
        p.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(frame, p)
    return params


def oracle_net(plans: pd.DataFrame, col: str, truth_acc: pd.DataFrame, world: World,
               strategy) -> np.ndarray:
    """Each held-out row's true expected net in the queue of plan column `col`, by world v2's
    physics (the loop's oracle): the row's true no-action p_repay on its date, the queue's
    response with the account's traits (contact, promise, collectable size, line, months
    delinquent, reachability), partial payments included; commission and cost as decided."""
    from collections_engine.loop.simulate import _age_months, _stage_names

    comm, cost = queue_terms(strategy)
    t = plans[["account_id", "snapshot_date"]].merge(truth_acc, on=["account_id", "snapshot_date"],
                                                      how="left")
    st = world.state.frame
    pos = pd.Index(st["account_id"].astype("str")).get_indexer(plans["account_id"].astype("str"))
    w, a = st["w"].to_numpy()[pos], st["a"].to_numpy()[pos]
    ring = st["ring"].to_numpy(bool)[pos]
    reach = ~st["lost"].to_numpy(bool)[pos] | st["repaired"].to_numpy(bool)[pos]
    dpd = t["dpd"].to_numpy(np.int64)
    od = plans["collectable"].to_numpy(np.float64)
    snap = pd.DatetimeIndex(plans["snapshot_date"])
    opened = pd.DatetimeIndex(st["open_date"].to_numpy()[pos])
    months = ((snap.year - opened.year) * 12 + (snap.month - opened.month)).to_numpy() \
        - (snap.day < opened.day).astype(np.int64)
    new = months <= int(world.book["new_customer_max_age_months"])
    stage = _stage_names(world.book, dpd)
    p0 = np.clip(t["p_repay"].to_numpy(np.float64), 1e-4, 1 - 1e-4)
    logit = np.log(p0 / (1 - p0))
    part = 0.35 / (1 + np.exp(-(w + a - 0.5)))
    q = plans[col].astype("str").to_numpy(dtype=object)
    kind, lift = world.queue_kind_lift(np.where(q == NO_ACTION, "", q), stage)
    share = queue_response(kind, lift, od, new, dpd, reach, w, ring).expected_share(logit, part)
    c = pd.Series(q).map(comm).fillna(0.0).to_numpy()
    k = np.where(q == NO_ACTION, 0.0, pd.Series(q).map(cost).fillna(0.0).to_numpy())
    return share * od * (1 - c) - k


def one(seed: int, accounts: int, estimator: str, night_volume: int = 0,
        cfg_extra: dict | None = None, models: tuple[str, ...] = ("multiplier",)) -> list[dict]:
    """Rows of one seed's book, per effects model (the book generated once)."""
    strategy = load_strategy(ROOT / "strategies" / "default.yaml")
    if night_volume:  # the default strategy sized for a night of `night_volume` accounts
        strategy = scaled_strategy(strategy, accounts / night_volume)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "book"
        params = make_book(data, accounts, seed, strategy)
        for model in models:
            out += [dict(r, effects_model=model) for r in
                    _valued(data, params, seed, estimator,
                            strategy.model_copy(update={"effects_model": model}), cfg_extra)]
    return out


def _valued(data: Path, params: dict, seed: int, estimator: str, strategy, cfg_extra: dict | None) -> list[dict]:
    key = pd.read_parquet(data / "truth" / "sources.parquet")
    truth = key.drop_duplicates("source").set_index("source")["role"]  # one row per line
    key_net = key.set_index(["source", "segment"])["net_monthly_value"]
    book, warnings = load_book(data, strategy)
    t0 = time.perf_counter()
    res = value_sources(book, strategy, warnings, ValuationConfig(seed=1, estimator=estimator,
                                                                   **(cfg_extra or {})))
    secs = time.perf_counter() - t0
    truth_acc = pd.read_parquet(data / "truth" / "accounts.parquet")
    acc = pd.read_parquet(data / "accounts.parquet", columns=["account_id", "snapshot_date",
                                                               "dpd"])
    truth_acc = truth_acc.merge(acc, on=["account_id", "snapshot_date"], how="left")
    world = World(params=params, state=WorldState(pd.read_parquet(
        data / "truth" / "state.parquet")), folder=data)
    # the true monthly value of each source: oracle net of plan_full - plan_without:s
    pl = res.plans
    per_month = res.meta["held_out_scale"] / res.meta["months_held_out"]
    true_value = {}
    plan_net = float("nan")
    if pl is not None:
        truth_acc["account_id"] = truth_acc["account_id"].astype("str")
        pl = pl.assign(account_id=pl["account_id"].astype("str"))
        full = oracle_net(pl, "plan_full", truth_acc, world, strategy)
        plan_net = float(full.sum()) * per_month
        line = pl["customer_line"].astype("str").to_numpy()
        for s in res.meta["valued"]:
            d = full - oracle_net(pl, f"plan_without:{s}", truth_acc, world, strategy)
            for seg, m in (("overall", np.ones(len(d), bool)), ("new", line == "new"),
                           ("existing", line == "existing")):
                true_value[(s, seg)] = float(d[m].sum()) * per_month
    out = []
    t = res.table[res.table["status"] == "valued"]
    for est in ESTIMATORS:
        tt = t.copy()
        if est != estimator:
            for k in ("month", "lo", "hi"):
                tt[f"value_{k}"] = tt[f"value_{k}_{est}"]
            tt["net_value_month"] = tt["value_month"] - tt["cost_month"]
            tt = recommend(tt.drop(columns=["recommendation", "why"]))
        rec = tt.set_index(["source", "segment"])["recommendation"]
        ov = tt[tt["segment"] == "overall"].set_index("source")
        by_role = {truth[s]: s for s in ov.index if s in truth.index}
        strong, newonly, noise = by_role.get("strong"), by_role.get("new_customers_only"), by_role.get("noise")
        first_auc = ov["auc_diff"].idxmax()
        first_money = ov["net_value_month"].idxmax()
        tn = tt.set_index(["source", "segment"])
        nw = tn.loc[(newonly, "new")] if (newonly, "new") in tn.index else None
        cost = tt.set_index(["source", "segment"])["cost_month"]
        tv = {k: v - cost.get(k, np.nan) for k, v in true_value.items()}
        out.append({
            "seed": seed, "estimator": est, "seconds": round(secs, 1), "true_net_plan": round(plan_net),
            "true_net_newonly_new": round(tv.get((newonly, "new"), np.nan)),
            "true_net_newonly_existing": round(tv.get((newonly, "existing"), np.nan)),
            "true_net_strong": round(tv.get((strong, "overall"), np.nan)),
            "true_net_noise": round(tv.get((noise, "overall"), np.nan)),
            "key_net_newonly_new": round(float(key_net.get((newonly, "new"), np.nan))),
            "key_net_newonly_existing": round(float(key_net.get((newonly, "existing"), np.nan))),
            "key_net_strong_new": round(float(key_net.get((strong, "new"), np.nan))),
            "key_net_strong_existing": round(float(key_net.get((strong, "existing"), np.nan))),
            "strong_new": rec.get((strong, "new"), ""),
            "strong_existing": rec.get((strong, "existing"), ""),
            "strong_net": round(float(ov.loc[strong, "net_value_month"])) if strong in ov.index
            else float("nan"),
            "held_out": res.meta["held_out_rows_used"],
            "newonly_new_p_holm": float(nw["p_holm"]) if nw is not None else float("nan"),
            "newonly_new_net": round(float(nw["net_value_month"])) if nw is not None else float("nan"),
            "newonly_new_net_lo": round(float(nw["value_lo"] - nw["cost_month"])) if nw is not None else float("nan"),
            "newonly_new_net_hi": round(float(nw["value_hi"] - nw["cost_month"])) if nw is not None else float("nan"),
            "strong_first_auc": first_auc == strong, "strong_first_money": first_money == strong,
            "strong_overall": rec.get((strong, "overall"), ""),
            "newonly_new": rec.get((newonly, "new"), ""), "newonly_existing": rec.get((newonly, "existing"), ""),
            "noise_overall": rec.get((noise, "overall"), ""),
            "noise_keep_any_line": any(rec.get((noise, s), "") == "keep" for s in ("overall", "new", "existing")),
            "noise_sig_tests": int(((t["source"] == noise) & (t["p_holm"] < 0.01) & (t["auc_diff"] > 0)).sum()),
            "noise_sig_raw_overall": bool(((t["source"] == noise) & (t["segment"] == "overall")
                                           & (t["p_value"] < 0.01) & (t["auc_diff"] > 0)).any()),
            "noise_tests": int((t["source"] == noise).sum()),
        })
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--accounts", type=int, default=5000)
    ap.add_argument("--estimator", default="ipw", choices=list(ESTIMATORS))
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--history-rows", type=int, default=200_000)
    ap.add_argument("--holdout-share", type=float, default=None,
                    help="share of history snapshots held out (default: ValuationConfig's)")
    ap.add_argument("--max-holdout-share", type=float, default=None,
                    help="hold out up to this share of snapshots while training keeps max_train_rows")
    ap.add_argument("--csv", default="", help="also write the per-seed table here")
    ap.add_argument("--max-oot-rows", type=int, default=None)
    ap.add_argument("--effects", default=None, choices=["history", "strategy"],
                    help="queue effects for plans and model values (default: ValuationConfig's)")
    ap.add_argument("--effects-model", default="multiplier",
                    help="comma-separated strategy effects_model values to value each book with "
                         "(multiplier, logodds)")
    ap.add_argument("--night-volume", type=int, default=0,
                    help="scale the default strategy's capacities by accounts / this (0: as written)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    if a.speed:
        strategy = load_strategy(ROOT / "strategies" / "default.yaml")
        accounts = max(1000, a.history_rows // 12)
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "book"
            make_book(data, accounts, 1, strategy)
            book, warnings = load_book(data, strategy)
            hist = len(book.outcomes)
            t0 = time.perf_counter()
            res = value_sources(book, strategy, warnings, ValuationConfig(estimator=a.estimator))
            secs = time.perf_counter() - t0
        print(f"speed: {len(res.meta['valued'])} sources, {hist} history rows with outcomes "
              f"({accounts} accounts), {res.meta['train_rows_used']} training rows used, "
              f"{res.meta['held_out_rows_used']} held-out rows: {secs:.1f} s")
        print(res.summary[["source", "overall", "new", "existing", "buy_for", "rank_auc"]].to_string(index=False))
        return
    extra = {k: v for k, v in (("holdout_share", a.holdout_share), ("max_oot_rows", a.max_oot_rows),
                                             ("max_holdout_share", a.max_holdout_share),
                                             ("effects", a.effects))
             if v is not None}
    rows = []
    models = tuple(m.strip() for m in a.effects_model.split(",") if m.strip())
    for seed in range(a.first_seed, a.first_seed + a.seeds):
        got = one(seed, a.accounts, a.estimator, a.night_volume, extra, models)
        rows += got
        for k in range(len(models)):
            part = got[k * len(ESTIMATORS):(k + 1) * len(ESTIMATORS)]
            r = part[0]
            per = "; ".join(f"{x['estimator']}: {x['newonly_new']}/{x['newonly_existing']} net "
                            f"{x['newonly_new_net']} [{x['newonly_new_net_lo']}, {x['newonly_new_net_hi']}]"
                            for x in part)
            print(f"seed {seed} [{r['effects_model']}]: {r['seconds']} s, {r['held_out']} held-out rows; "
                  f"new-customers source new line Holm p {r['newonly_new_p_holm']:.3g}, true net "
                  f"{r['true_net_newonly_new']} (existing {r['true_net_newonly_existing']}; strong overall "
                  f"{r['true_net_strong']}, noise {r['true_net_noise']}); plan true net {r['true_net_plan']}; "
                  f"strong {r['strong_overall']}; new/existing {per}", flush=True)
        if a.csv:
            pd.DataFrame(rows).to_csv(a.csv, index=False)
    df = pd.DataFrame(rows)
    for (model, est), g in df.groupby(["effects_model", "estimator"], sort=False):
        print(f"\n== effects model {model}, money estimator: {est}" + (" (chosen)" if est == a.estimator else ""))
        print(f"true net of the full model's plans, a month (mean over seeds): {g['true_net_plan'].mean():,.0f}")
        print(g.drop(columns=["estimator"]).to_string(index=False))
        n = len(g)
        print(f"strong source first by AUC: {int(g['strong_first_auc'].sum())}/{n}; by net money: "
              f"{int(g['strong_first_money'].sum())}/{n}; strong kept overall: "
              f"{int((g['strong_overall'] == 'keep').sum())}/{n}")
        print(f"new-customers source kept for new & not for existing: "
              f"{int(((g['newonly_new'] == 'keep') & (g['newonly_existing'] != 'keep')).sum())}/{n}; "
              f"kept for existing: {int((g['newonly_existing'] == 'keep').sum())}/{n}")
        print(f"noise source 'keep' overall: {int((g['noise_overall'] == 'keep').sum())}/{n}; in any line: "
              f"{int(g['noise_keep_any_line'].sum())}/{n}; dropped overall: "
              f"{int((g['noise_overall'] == 'drop').sum())}/{n}")
    for model, g in df[df["estimator"] == a.estimator].groupby("effects_model", sort=False):
        _noise_line(model, g)


def _noise_line(model: str, g: pd.DataFrame) -> None:
    print(f"\n[{model}] noise source removal test, false-positive rate: Holm-significant gains "
          f"{int(g['noise_sig_tests'].sum())}/{int(g['noise_tests'].sum())} tests "
          f"({g['noise_sig_tests'].sum() / max(g['noise_tests'].sum(), 1):.3f}); overall segment "
          f"before correction p<0.01: {int(g['noise_sig_raw_overall'].sum())}/{len(g)}")


if __name__ == "__main__":
    main()

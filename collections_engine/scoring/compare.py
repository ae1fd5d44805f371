"""A candidate model version beside the champion, on the same evaluation rows.

What a model validator asks before signing: is the candidate at least as good as what runs
tonight? Both versions' probabilities are compared on the same held-out rows (the candidate's
test rows): AUC with DeLong intervals and the paired DeLong interval of the difference, KS with
seeded bootstrap intervals, calibration (mean predicted against observed, Brier score, expected
calibration error over ten quantile bins), and the PSI between the two versions' scores.

The verdict is `worse` when the paired 95% interval of AUC(candidate) - AUC(champion) lies
wholly below zero: the candidate is worse beyond its interval, and `approve` refuses it unless
forced with a recorded reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine import stats as S
from collections_engine.book import Book
from collections_engine.config.strategy import Strategy
from collections_engine.scoring.data import training_rows
from collections_engine.scoring.design import model_frame
from collections_engine.scoring.fit import platt_apply
from collections_engine.scoring.score import ModelVersion

__all__ = ["compare_predictions", "shared_rows", "rescore_rows", "MIN_ROWS", "format_comparison"]

KEYS = ["account_id", "snapshot_date"]
MIN_ROWS = 100       # fewer shared rows (or fewer than MIN_CLASS of a class): not comparable
MIN_CLASS = 10


def shared_rows(candidate: pd.DataFrame, champion: pd.DataFrame) -> pd.DataFrame:
    """The candidate's validation rows that the champion's validation also holds, with both
    probabilities (`p_candidate`, `p_champion`) and the outcome `y`, in the candidate's order."""
    a = candidate[KEYS + ["y", "p_final"]].rename(columns={"p_final": "p_candidate"})
    b = champion[KEYS + ["p_final"]].rename(columns={"p_final": "p_champion"})
    a = a.assign(snapshot_date=pd.to_datetime(a["snapshot_date"]), account_id=a["account_id"].astype("str"))
    b = b.assign(snapshot_date=pd.to_datetime(b["snapshot_date"]), account_id=b["account_id"].astype("str"))
    b = b.drop_duplicates(KEYS, keep="last")
    return a.merge(b, on=KEYS, how="inner", sort=False).reset_index(drop=True)


def rescore_rows(version: ModelVersion, book: Book, strategy: Strategy, rows: pd.DataFrame) -> np.ndarray:
    """`version`'s probability (with the queue each row actually had, as in its validation) for
    history rows given by `account_id`, `snapshot_date`; NaN where the book lacks the row."""
    hist = training_rows(book, strategy)
    keys = rows[KEYS].assign(account_id=rows["account_id"].astype("str"),
                             snapshot_date=pd.to_datetime(rows["snapshot_date"]))
    hist = hist.assign(account_id=hist["account_id"].astype("str"),
                       snapshot_date=pd.to_datetime(hist["snapshot_date"]))
    hist = hist.drop_duplicates(KEYS, keep="last").reset_index(drop=True)
    pos = keys.merge(hist[KEYS].assign(_i=np.arange(len(hist))), on=KEYS, how="left")["_i"].to_numpy()
    have = ~np.isnan(pos)
    out = np.full(len(rows), np.nan)
    if not have.any():
        return out
    use = hist.iloc[pos[have].astype(np.int64)].reset_index(drop=True)
    queue = use["queue"] if version.meta.get("has_queue_feature") and "queue" in use.columns else None
    X = version.encoder.transform(model_frame(book, use, strategy, use, queue))
    seg = use["segment"].astype("str").to_numpy()
    p = np.full(len(use), np.nan)
    for s in sorted(set(seg)):
        m = seg == s
        info = version.meta["segments"].get(s)
        model = info["model"] if info else "pooled"
        cal = info["calibration"] if info else version.meta["pooled_calibration"]
        p[m] = platt_apply(version.boosters[model].predict(X[m], raw_score=True), cal)
    out[have] = p
    return out


def _ks_boot(y: np.ndarray, p1: np.ndarray, p2: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """KS of both score columns on `draws` paired bootstrap resamples (rows drawn once for both)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    out = np.empty((draws, 2))
    for k in range(draws):  # a few hundred resamples, each one vectorised sort: not per-row Python
        i = rng.integers(0, n, n)
        out[k] = S.ks_stat(y[i], p1[i]), S.ks_stat(y[i], p2[i])
    return out


def _calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict:
    """Calibration in the large, Brier score and expected calibration error (quantile bins)."""
    order = np.argsort(p, kind="stable")
    b = np.empty(len(p), dtype=np.int64)
    b[order] = np.arange(len(p)) * bins // max(len(p), 1)
    cnt = np.bincount(b, minlength=bins)
    mp = np.bincount(b, weights=p, minlength=bins)
    my = np.bincount(b, weights=y, minlength=bins)
    ece = float(np.sum(np.abs(mp - my)) / max(len(p), 1))
    return {"mean_p": float(p.mean()), "repay_rate": float(y.mean()),
            "observed_over_predicted": float(y.mean() / p.mean()) if p.mean() > 0 else None,
            "brier": float(np.mean((p - y) ** 2)), "ece": ece,
            "by_decile": [{"decile": int(k + 1), "rows": int(cnt[k]), "mean_p": float(mp[k] / cnt[k]),
                           "repay_rate": float(my[k] / cnt[k])} for k in range(bins) if cnt[k]]}


def _one(y: np.ndarray, p: np.ndarray, ks_draws: np.ndarray, level: float) -> dict:
    a = S.auc_delong(y, p)
    ks = S.ks_stat(y, p)
    lo, hi = S.percentile_interval(ks_draws, level)
    return {"auc": a["auc"], "auc_lo": a["lo"], "auc_hi": a["hi"], "ks": ks, "ks_lo": lo, "ks_hi": hi,
            "calibration": _calibration(y, p)}


def compare_predictions(y: np.ndarray, p_candidate: np.ndarray, p_champion: np.ndarray,
                        level: float = 0.95, ks_draws: int = 200, seed: int = 0) -> dict:
    """Candidate against champion on the same rows; `verdict` worse / not_worse / better /
    not_comparable (too few rows or one outcome class)."""
    y = np.asarray(y).astype(int)
    p1 = np.asarray(p_candidate, float)
    p2 = np.asarray(p_champion, float)
    ok = np.isfinite(p1) & np.isfinite(p2)
    y, p1, p2 = y[ok], p1[ok], p2[ok]
    n, pos = len(y), int(y.sum()) if len(y) else 0
    base = {"rows": int(n), "positives": pos, "level": level}
    if n < MIN_ROWS or pos < MIN_CLASS or n - pos < MIN_CLASS:
        return {**base, "verdict": "not_comparable",
                "why": f"{n} shared evaluation rows ({pos} repaid); at least {MIN_ROWS} with "
                       f"{MIN_CLASS} of each outcome are needed"}
    boot = _ks_boot(y, p1, p2, ks_draws, seed)
    cand, champ = _one(y, p1, boot[:, 0], level), _one(y, p2, boot[:, 1], level)
    d = S.auc_diff_delong(y, p1, p2)
    lo, hi = S.normal_interval(d["diff"], d["se"], level)
    auc_diff = {"diff": d["diff"], "se": d["se"], "lo": lo, "hi": hi}
    ks_lo, ks_hi = S.percentile_interval(boot[:, 0] - boot[:, 1], level)
    ks_diff = {"diff": cand["ks"] - champ["ks"], "lo": ks_lo, "hi": ks_hi}
    psi = S.psi(S.dist_reference(pd.Series(p2), "numeric"), pd.Series(p1))
    if auc_diff["hi"] < 0:
        verdict, why = "worse", (f"AUC {cand['auc']:.4f} against the champion's {champ['auc']:.4f}: the "
                                 f"difference {auc_diff['diff']:+.4f} has its {level:.0%} interval "
                                 f"[{auc_diff['lo']:+.4f}, {auc_diff['hi']:+.4f}] wholly below zero")
    elif auc_diff["lo"] > 0:
        verdict, why = "better", "the AUC difference's interval lies wholly above zero"
    else:
        verdict, why = "not_worse", "the AUC difference's interval holds zero"
    return {**base, "verdict": verdict, "why": why, "candidate": cand, "champion": champ,
            "auc_diff": auc_diff, "ks_diff": ks_diff, "psi_scores": psi,
            "ks_bootstrap": {"draws": ks_draws, "seed": seed}}


def format_comparison(cmp: dict, candidate: str, champion: str | None) -> list[str]:
    """Lines for the terminal: the candidate beside the champion."""
    if champion is None:
        return [f"candidate {candidate}: no champion yet (first approval); nothing to compare"]
    src = cmp.get("rows_from", "")
    lines = [f"candidate {candidate} beside champion {champion} on {cmp['rows']:,d} evaluation rows "
             f"({cmp['positives']:,d} repaid){' ' + src if src else ''}"]
    if cmp["verdict"] == "not_comparable":
        return lines + [f"  not comparable: {cmp['why']}"]
    lv = f"{cmp['level']:.0%}"
    lines.append(f"  {'':22s}{'candidate':>28s}{'champion':>28s}")
    c, h = cmp["candidate"], cmp["champion"]

    def iv(v: dict, k: str) -> str:
        return f"{v[k]:.4f} [{v[k + '_lo']:.4f}, {v[k + '_hi']:.4f}]"

    lines.append(f"  {'AUC (' + lv + ' DeLong)':22s}{iv(c, 'auc'):>28s}{iv(h, 'auc'):>28s}")
    lines.append(f"  {'KS (' + lv + ' bootstrap)':22s}{iv(c, 'ks'):>28s}{iv(h, 'ks'):>28s}")
    for k, name in (("mean_p", "mean predicted"), ("repay_rate", "observed rate"),
                    ("brier", "Brier score"), ("ece", "calibration error")):
        lines.append(f"  {name:22s}{c['calibration'][k]:>28.4f}{h['calibration'][k]:>28.4f}")
    a, k = cmp["auc_diff"], cmp["ks_diff"]
    lines.append(f"  AUC difference {a['diff']:+.4f} [{a['lo']:+.4f}, {a['hi']:+.4f}] (paired DeLong); "
                 f"KS difference {k['diff']:+.4f} [{k['lo']:+.4f}, {k['hi']:+.4f}]")
    lines.append(f"  PSI between their scores: {cmp['psi_scores']:.4f}")
    lines.append(f"  verdict: {cmp['verdict'].replace('_', ' ')} ({cmp['why']})")
    return lines

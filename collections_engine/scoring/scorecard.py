"""White-box scorecards: optimal binning, WoE logistic regression, integer points per bin.

A scorecard is a list of characteristics; each has bins (numeric: split points, a value x falls
in bin i when splits[i-1] <= x < splits[i]; categorical: groups of levels), a last bin for a
missing value (and a level never seen in training), and the points of each bin. The score is
the sum of the bins' points: integers in hundredths of a point, so the engine, SQL in any
database and a bank's own code add up to exactly the same number.

Fitting, per segment:
1. optbinning's `OptimalBinning` bins every feature (CP solver; numeric features monotone:
   the strategy's `models.monotone` direction where it names the feature, otherwise the better
   of ascending and descending). Split points are then rounded to a multiple of 2^-k with at
   most 15 significant digits, so a split written in SQL parses to the same double everywhere.
2. Bin counts, repayment rates and WoE = ln(share of repayers / share of non-repayers) (0.5
   added to each count; an empty bin has WoE 0) and IV are computed on those splits.
3. Characteristics: IV >= `min_iv`, best IV first, skipping one whose WoE correlates above
   `max_corr` with one already taken, at most `max_characteristics`.
4. Logistic regression of repaid on the WoE columns (scikit-learn, L2); a characteristic with a
   coefficient <= 0 (collinearity turned its sign) is dropped and the model refitted.
5. Platt calibration on the held-out calibration rows folds into the coefficients (a*logit+b is
   still linear in the WoE), then with factor = pdo / ln 2 and offset = base_points - factor *
   ln(base_odds):  points(bin) = round(100 * (factor * coef * WoE(bin) + (offset + factor *
   intercept) / k)) / 100 for the k characteristics; the score's odds are
   base_odds * 2^((points - base_points) / pdo), the strategy's points formula read backwards.

Characteristics fixed at scoring (the treatment `queue`, scored at not_worked) add their bin's
points as a constant.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from collections_engine.config.strategy import Score

__all__ = ["Characteristic", "Scorecard", "fit_scorecard", "bin_index", "quantize_split",
           "ScorecardConfig", "apply_scorecard", "p_of_points", "BinningNotOptimal"]

log = logging.getLogger("collections_engine")


class BinningNotOptimal(RuntimeError):
    """optbinning's CP solver stopped without proving its binning optimal (the time limit): a
    card from it would depend on the machine's speed, so training stops (exit 1)."""


@dataclass
class ScorecardConfig:
    max_characteristics: int = 12
    min_iv: float = 0.02
    max_corr: float = 0.75
    max_n_prebins: int = 20
    min_prebin_size: float = 0.02
    l2_c: float = 1.0             # scikit-learn's C (inverse L2 strength) on standardised WoE
    # A guard against a hung solver, never what shapes a card: a binning the CP solver did not
    # prove OPTIMAL within it stops training (BinningNotOptimal) instead of giving a card that
    # depends on the machine's speed. The solves take milliseconds (20 pre-bins, one worker,
    # seed 0: docs/notes/issue-21.md, "Determinism").
    time_limit_s: int = 300


@dataclass
class Characteristic:
    name: str
    kind: str                                   # numeric | categorical
    splits: list[float] = field(default_factory=list)        # numeric
    groups: list[list[str]] = field(default_factory=list)    # categorical
    labels: list[str] = field(default_factory=list)          # per bin, "Missing" last
    count: list[int] = field(default_factory=list)
    repaid: list[int] = field(default_factory=list)
    woe: list[float] = field(default_factory=list)
    iv: list[float] = field(default_factory=list)
    coef: float = 0.0
    points: list[int] = field(default_factory=list)          # hundredths of a point, per bin
    monotone: str = ""

    @property
    def n_bins(self) -> int:
        """Value bins plus the missing bin."""
        return (len(self.splits) + 1 if self.kind == "numeric" else len(self.groups)) + 1

    @property
    def total_iv(self) -> float:
        return float(sum(self.iv))


@dataclass
class Scorecard:
    segment: str
    characteristics: list[Characteristic]
    constant: int                          # hundredths: fixed characteristics at scoring
    fixed: dict[str, str]                  # characteristic -> level used when scoring
    intercept: float
    calibration: dict
    score: dict                            # the strategy's score block used for the points
    rows: int
    candidates: list[dict] = field(default_factory=list)      # every binned feature's IV

    def to_json(self) -> dict:
        d = asdict(self)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Scorecard":
        d = dict(d)
        d["characteristics"] = [Characteristic(**c) for c in d["characteristics"]]
        return cls(**d)

    def scored(self) -> list[Characteristic]:
        """Characteristics that vary per account (the fixed ones are in `constant`)."""
        return [c for c in self.characteristics if c.name not in self.fixed]


def quantize_split(s: float) -> float:
    """`s` rounded to a multiple of 2^-k with at most 15 significant decimal digits: its exact
    decimal expansion is short, so every SQL engine parses it to the same double."""
    if not math.isfinite(s):
        return s
    int_digits = max(1, len(str(int(abs(s)))))
    k = max(0, min(12, 15 - int_digits))
    return float(np.round(s * 2.0 ** k) / 2.0 ** k)


def bin_index(ch: Characteristic, x: np.ndarray, level_names: list[str] | None = None) -> np.ndarray:
    """Bin of each value: numeric x (float, NaN missing) or categorical codes into
    `level_names` (NaN or out of range: missing). The missing bin is the last."""
    miss = ch.n_bins - 1
    x = np.asarray(x, dtype=np.float64)
    nan = np.isnan(x)
    if ch.kind == "numeric":
        idx = np.searchsorted(np.asarray(ch.splits, dtype=np.float64), np.where(nan, 0.0, x), side="right")
        return np.where(nan, miss, idx).astype(np.int64)
    lookup = _level_lookup(ch, level_names or [])
    code = np.where(nan, len(lookup), np.nan_to_num(x, nan=0.0)).astype(np.int64)
    code = np.where((code < 0) | (code > len(lookup)), len(lookup), code)
    return np.append(lookup, miss)[code]


def _level_lookup(ch: Characteristic, level_names: list[str]) -> np.ndarray:
    """Bin of each encoder level code (levels in no group: the missing bin)."""
    where = {lv: i for i, g in enumerate(ch.groups) for lv in g}
    return np.array([where.get(lv, ch.n_bins - 1) for lv in level_names], dtype=np.int64)


def _stats(idx: np.ndarray, y: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cnt = np.bincount(idx, minlength=n_bins)
    ev = np.bincount(idx, weights=y, minlength=n_bins).round().astype(np.int64)
    ne = cnt - ev
    E, N = max(ev.sum(), 1), max(ne.sum(), 1)
    pe, pn = (ev + 0.5) / (E + 0.5 * n_bins), (ne + 0.5) / (N + 0.5 * n_bins)
    woe = np.where(cnt > 0, np.log(pe / pn), 0.0)
    iv = np.where(cnt > 0, (pe - pn) * woe, 0.0)
    return cnt, ev, woe, iv


def _bin_one(name: str, kind: str, x: np.ndarray, y: np.ndarray, levels: list[str], mono: int,
             cfg: ScorecardConfig, times: list[float]) -> Characteristic | None:
    from optbinning import OptimalBinning  # heavy import: only when scorecards are fitted

    if kind == "numeric":
        ok = ~np.isnan(x)
        if ok.sum() < 50 or np.unique(x[ok]).size < 2:
            return None
        trend = {1: "ascending", -1: "descending"}.get(mono, "auto_asc_desc")
        ob = OptimalBinning(name=name, dtype="numerical", solver="cp", monotonic_trend=trend,
                            max_n_prebins=cfg.max_n_prebins, min_prebin_size=cfg.min_prebin_size,
                            time_limit=cfg.time_limit_s)
        _fit_optimal(ob, x, y, name, cfg, times)
        splits = sorted({quantize_split(float(s)) for s in np.asarray(ob.splits, dtype=np.float64)})
        ch = Characteristic(name=name, kind="numeric", splits=splits, monotone=trend)
        lab = [f"< {_num(splits[0])}"] if splits else ["all values"]
        lab += [f"[{_num(a)}, {_num(b)})" for a, b in zip(splits[:-1], splits[1:])]
        ch.labels = lab + ([f">= {_num(splits[-1])}"] if splits else []) + ["Missing"]
        idx = bin_index(ch, x)
    else:
        ok = ~np.isnan(x)
        if ok.sum() < 50 or np.unique(x[ok]).size < 2:
            return None
        xs = np.asarray(levels + [None], dtype=object)[np.where(ok, np.nan_to_num(x), len(levels)).astype(np.int64)]
        ob = OptimalBinning(name=name, dtype="categorical", solver="cp",
                            max_n_prebins=cfg.max_n_prebins, min_prebin_size=cfg.min_prebin_size,
                            time_limit=cfg.time_limit_s)
        _fit_optimal(ob, xs, y, name, cfg, times)
        groups = [sorted(str(v) for v in g) for g in ob.splits]
        seen = {v for g in groups for v in g}
        rest = sorted(set(levels) - seen)   # levels optbinning left out: their own group
        if rest:
            groups.append(rest)
        groups = [g for g in groups if g]
        ch = Characteristic(name=name, kind="categorical", groups=groups)
        ch.labels = [", ".join(g) for g in groups] + ["Missing"]
        idx = bin_index(ch, x, levels)
    cnt, ev, woe, iv = _stats(idx, y, ch.n_bins)
    ch.count, ch.repaid = cnt.tolist(), ev.tolist()
    ch.woe, ch.iv = woe.tolist(), iv.tolist()
    return ch


def _fit_optimal(ob, x: np.ndarray, y: np.ndarray, name: str, cfg: ScorecardConfig,
                 times: list[float]) -> None:
    """Fit the binning; only a proven OPTIMAL solve is kept (one worker and seed 0 in
    optbinning's CP solver: the same inputs give the same bins on any machine)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ob.fit(x, y)
    took = time.perf_counter() - t0
    times.append(took)
    if ob.status != "OPTIMAL":
        raise BinningNotOptimal(
            f"binning of {name}: optbinning's CP solver ended {ob.status} after {took:.1f} s "
            f"(time limit {cfg.time_limit_s} s); a card from an unproven binning would depend on "
            "the machine's speed, so training stops: rerun on a less loaded machine")


def _num(v: float) -> str:
    return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"


def woe_matrix(chars: list[Characteristic], X: np.ndarray, col: dict[str, int],
               levels: dict[str, list[str]]) -> np.ndarray:
    out = np.empty((X.shape[0], len(chars)))
    for j, ch in enumerate(chars):
        idx = bin_index(ch, X[:, col[ch.name]], levels.get(ch.name))
        out[:, j] = np.asarray(ch.woe)[idx]
    return out


def fit_scorecard(segment: str, X: np.ndarray, y: np.ndarray, features: list[str], types: dict[str, str],
                  levels: dict[str, list[str]], monotone: dict[str, int], score: Score,
                  fixed: dict[str, str], X_cal: np.ndarray, y_cal: np.ndarray,
                  cfg: ScorecardConfig | None = None, exclude: tuple[str, ...] = ()) -> Scorecard | None:
    """Fit one segment's scorecard on training rows (X: the encoder's matrix), calibrate it on
    the calibration rows; None when no characteristic carries information."""
    from sklearn.linear_model import LogisticRegression

    cfg = cfg or ScorecardConfig()
    col = {c: j for j, c in enumerate(features)}
    y = np.asarray(y, dtype=np.int64)
    binned: list[Characteristic] = []
    times: list[float] = []      # seconds per binning fit, for the log only
    for c in features:
        if c in exclude:
            continue
        ch = _bin_one(c, types[c], X[:, col[c]], y, levels.get(c, []), int(monotone.get(c, 0)), cfg,
                      times)
        if ch is not None:
            binned.append(ch)
    log.info("scorecard %s: %d features binned, every solve OPTIMAL, slowest fit %.2f s",
             segment, len(binned), max(times, default=0.0))
    cands = [{"characteristic": ch.name, "iv": ch.total_iv, "bins": ch.n_bins,
              "solver_status": "OPTIMAL"} for ch in binned]
    forced = [ch for ch in binned if ch.name in fixed]
    pool = sorted((ch for ch in binned if ch.name not in fixed and ch.total_iv >= cfg.min_iv),
                  key=lambda ch: (-ch.total_iv, ch.name))
    chosen: list[Characteristic] = []
    chosen_w: list[np.ndarray] = []
    for ch in pool:
        if len(chosen) >= cfg.max_characteristics:
            break
        w = woe_matrix([ch], X, col, levels)[:, 0]
        if w.std() == 0:
            continue
        if any(abs(np.corrcoef(w, v)[0, 1]) > cfg.max_corr for v in chosen_w):
            continue
        chosen.append(ch)
        chosen_w.append(w)
    if not chosen:
        return None
    while True:
        chars = chosen + forced
        W = woe_matrix(chars, X, col, levels)
        lr = LogisticRegression(C=cfg.l2_c, max_iter=500, solver="lbfgs")
        lr.fit(W, y)
        coef = lr.coef_[0]
        bad = [ch for ch, b in zip(chosen, coef[:len(chosen)]) if b <= 0]
        if not bad or len(bad) == len(chosen):
            break
        chosen = [ch for ch in chosen if ch not in bad]
    intercept = float(lr.intercept_[0])
    # Platt calibration on the held-out calibration rows, folded into the linear predictor
    from collections_engine.scoring.fit import platt_fit

    Wc = woe_matrix(chars, X_cal, col, levels)
    cal = platt_fit(Wc @ coef + intercept, y_cal)
    a, b = cal["a"], cal["b"]
    coef, intercept = coef * a, intercept * a + b
    factor = score.points_to_double_odds / math.log(2)
    offset = score.base_points - factor * math.log(score.base_odds)
    share = (offset + factor * intercept) / len(chars)
    for ch, c in zip(chars, coef):
        ch.coef = float(c)
        ch.points = [int(round(100 * (factor * c * w + share))) for w in ch.woe]
    constant = 0
    for ch in forced:
        lv = fixed[ch.name]
        code = levels[ch.name].index(lv) if lv in levels.get(ch.name, []) else None
        i = int(bin_index(ch, np.array([np.nan if code is None else code], float), levels[ch.name])[0])
        constant += ch.points[i]
    return Scorecard(segment=segment, characteristics=chars, constant=int(constant), fixed=dict(fixed),
                     intercept=float(intercept), calibration=cal, score=score.model_dump(),
                     rows=int(len(y)), candidates=sorted(cands, key=lambda d: -d["iv"]))


def apply_scorecard(sc: Scorecard, X: np.ndarray, features: list[str], levels: dict[str, list[str]],
                    k: int = 3, fixed: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points in hundredths (int64) of each row, and the adverse-action reasons: the indices
    into `features` of the k characteristics where the row lost most points against the
    characteristic's best bin (-1: none lost; ties: the characteristic listed first), with
    their signs (-1: lowers). Exact: no approximation, vectorised over rows.

    `fixed=False` scores the fixed characteristics (the queue) from X too: the held-out rows'
    outcomes saw the queue each account was really in, so validation scores them with it."""
    col = {c: j for j, c in enumerate(features)}
    chars = sc.scored() if fixed else sc.characteristics
    n = X.shape[0]
    total = np.full(n, sc.constant if fixed else 0, dtype=np.int64)
    lost = np.zeros((n, len(chars)), dtype=np.int64)
    for j, ch in enumerate(chars):
        pts = np.asarray(ch.points, dtype=np.int64)
        x = X[:, col[ch.name]] if ch.name in col else np.full(n, np.nan)
        p = pts[bin_index(ch, x, levels.get(ch.name))]
        total += p
        lost[:, j] = pts.max() - p
    from collections_engine.scoring.reasons import top_reasons

    top, sign = top_reasons(-lost.astype(np.float64), np.ones(len(chars), dtype=bool), k)
    feat_idx = np.array([col.get(ch.name, -1) for ch in chars] + [-1], dtype=np.int64)
    return total, feat_idx[top], sign


def p_of_points(points: np.ndarray, score: Score) -> np.ndarray:
    """The probability whose points (the strategy's formula) are `points`."""
    z = math.log(score.base_odds) + (np.asarray(points, float) - score.base_points) * math.log(2) / score.points_to_double_odds
    return 1 / (1 + np.exp(-np.clip(z, -35, 35)))

"""Identifiers of customers: own values, households, hubs and fraud rings; fraud labels.

Every customer has an own mobile phone, device and emergency contact, most an email and an
employer, and an address. The links the graph must sort out:
- households: a share of honest customers live in 2-4 person households sharing an address and
  a landline (an extra phone value);
- hubs: a call-centre number given as phone or emergency contact, an office address and a big
  employer, each shared by at least 120 honest customers (more in big books);
- employers of honest customers follow a heavy-tailed size distribution (weight 1/rank^0.8);
- fraud rings share ring values of device, phone, address and emergency contact: 30 % of
  rings by one kind only, the others by 2-4 kinds, each member carrying each ring kind with
  probability 0.75 (at least one);
- members who join a ring during the nights (first delinquent on a later night) are first seen
  on that night.
Values are tokens: a fixed scramble of an integer code per kind, so the same code is the same
token and nothing in a token hints at its owner.
"""

from __future__ import annotations

import numpy as np

from collections_engine.synth.params import SynthParams
from collections_engine.synth.population import Population, night_dates

__all__ = ["KINDS", "RING_KINDS", "make_identifiers", "make_fraud_labels", "address_codes",
           "household_of"]

KINDS = np.array(["phone", "device", "address", "email", "emergency_contact", "employer"])
RING_KINDS = np.array([0, 1, 2, 4])           # phone, device, address, emergency_contact
DAY = np.timedelta64(1, "D")
# Code spaces: own values are the customer index; shared values live above these offsets.
HOUSE = 1 << 40
HUB = 2 << 40
EMP = 3 << 40
RING = 4 << 40
OTHER = 1 << 39        # own emergency contact: somebody else's number, not one's own


def household_of(pop: Population, p: SynthParams, rng: np.random.Generator,
                 alive: np.ndarray) -> np.ndarray:
    """Household id per customer (-1 = lives alone); only honest customers in `alive`."""
    hh = np.full(pop.n_customers, -1, dtype=np.int64)
    cand = np.flatnonzero(alive & (pop.ring < 0))
    k = int(round(p.household_share * len(cand)))
    if k < 2:
        return hh
    chosen = rng.choice(cand, size=k, replace=False)
    sizes = 2 + rng.binomial(2, 0.3, size=k // 2 + 1)
    n_h = int(np.searchsorted(np.cumsum(sizes), k)) + 1
    sizes = sizes[:n_h]
    sizes[-1] -= sizes.sum() - k
    if sizes[-1] < 2:                       # fold a 1-person remainder into the previous house
        sizes[-2] += sizes[-1]
        sizes = sizes[:-1]
    hh[chosen] = np.repeat(np.arange(len(sizes)), sizes)
    return hh


def address_codes(pop: Population, hh: np.ndarray) -> np.ndarray:
    """Integer address code per customer: own, or the household's (used for text and token)."""
    own = np.arange(pop.n_customers, dtype=np.int64)
    return np.where(hh >= 0, HOUSE + hh, own)


def _hub_members(rng: np.random.Generator, honest: np.ndarray, share: float) -> np.ndarray:
    size = min(len(honest), max(120, int(share * len(honest))))
    return rng.choice(honest, size=size, replace=False)


def make_identifiers(pop: Population, p: SynthParams, rng: np.random.Generator,
                     alive: np.ndarray, hh: np.ndarray, first_seen: np.ndarray
                     ) -> dict[str, np.ndarray]:
    """(cust, kind index, code, first_seen) arrays for customers in `alive`.

    first_seen: per customer, the date its identifiers are first seen (its first account's
    opening, or the night a ring member joins).
    """
    cust = np.flatnonzero(alive)
    nc = len(cust)
    honest = cust[pop.ring[cust] < 0]
    parts: list[tuple[np.ndarray, int, np.ndarray]] = []
    # own values
    parts.append((cust, 0, cust))
    parts.append((cust, 1, cust))
    parts.append((cust, 4, OTHER + cust))
    has_mail = rng.random(nc) < 0.8
    parts.append((cust[has_mail], 3, cust[has_mail]))
    parts.append((cust, 2, address_codes(pop, hh)[cust]))
    # households share a landline
    in_hh = cust[hh[cust] >= 0]
    parts.append((in_hh, 0, HOUSE + hh[in_hh]))
    # employers: heavy-tailed sizes (weight 1/rank^0.8) among honest customers (70 % employed)
    employed = honest[rng.random(len(honest)) < 0.7]
    n_emp = max(1, len(employed) // 25)
    weight = 1.0 / np.arange(1, n_emp + 1) ** 0.8
    emp = rng.choice(n_emp, size=len(employed), p=weight / weight.sum())
    parts.append((employed, 5, EMP + emp))
    # hubs
    hub_phone = _hub_members(rng, honest, 0.002)
    hub_ec = _hub_members(rng, honest, 0.002)
    hub_addr = _hub_members(rng, honest, 0.003)
    hub_emp = _hub_members(rng, honest, 0.004)
    parts.append((hub_phone, 0, np.full(len(hub_phone), HUB + 1)))
    parts.append((hub_ec, 4, np.full(len(hub_ec), HUB + 1)))      # same call-centre number
    parts.append((hub_addr, 2, np.full(len(hub_addr), HUB + 2)))
    parts.append((hub_emp, 5, np.full(len(hub_emp), HUB + 3)))
    # rings
    ring_c = cust[pop.ring[cust] >= 0]
    if len(ring_c):
        n_rings = int(pop.ring.max()) + 1
        single = rng.random(n_rings) < 0.3
        n_kinds = np.where(single, 1, rng.integers(2, 5, n_rings))
        # a random order of the four ring kinds per ring; the first n_kinds are used
        order = np.argsort(rng.random((n_rings, len(RING_KINDS))), axis=1)
        r = pop.ring[ring_c]
        carry = rng.random((len(ring_c), len(RING_KINDS))) < 0.75
        used = np.arange(len(RING_KINDS))[None, :] < n_kinds[r][:, None]
        carry &= used
        none = ~carry.any(axis=1)
        carry[none, 0] = True                # at least the ring's first kind
        for j in range(len(RING_KINDS)):     # four kinds: a loop over kinds, not members
            m = carry[:, j]
            kind = RING_KINDS[order[r[m], j]]
            for kk in RING_KINDS:
                sel = kind == kk
                parts.append((ring_c[m][sel], int(kk), RING + r[m][sel] * 8 + kk))
    c = np.concatenate([x[0] for x in parts])
    k = np.concatenate([np.full(len(x[0]), x[1], dtype=np.int64) for x in parts])
    code = np.concatenate([np.asarray(x[2], dtype=np.int64) for x in parts])
    fs = first_seen[c]
    return dict(cust=c, kind=k, code=code, first_seen=fs)


def make_fraud_labels(pop: Population, p: SynthParams, rng: np.random.Generator,
                      alive: np.ndarray, first_seen: np.ndarray, suspects: np.ndarray
                      ) -> dict[str, np.ndarray]:
    """Confirmed fraud labels: a minority of ring members in some rings, plus label noise.

    suspects: honest customers that look like fraud (first-payment defaulters); half of the
    noisy labels fall on them, half on random honest customers.
    """
    nights = night_dates(p)
    cust = np.flatnonzero(alive & (pop.ring >= 0))
    if len(cust) == 0:
        return dict(cust=np.zeros(0, dtype=np.int64), confirmed_on=np.zeros(0, "datetime64[D]"))
    n_rings = int(pop.ring.max()) + 1
    labelled_ring = rng.random(n_rings) < p.labelled_ring_share
    r = pop.ring[cust]
    pick = labelled_ring[r] & (rng.random(len(cust)) < 0.35)
    # at least one label in every labelled ring
    first_of_ring = np.r_[True, np.diff(r[np.argsort(r, kind="stable")]) != 0]
    firsts = np.argsort(r, kind="stable")[first_of_ring]
    pick[firsts[labelled_ring[r[firsts]]]] = True
    lab = cust[pick]
    honest = np.flatnonzero(alive & (pop.ring < 0))
    n_noise = int(round(len(lab) * p.label_noise / (1 - p.label_noise)))
    sus = np.intersect1d(suspects, honest)
    n_sus = min(len(sus), n_noise // 2)
    noise = np.concatenate([rng.choice(sus, n_sus, replace=False) if n_sus else sus[:0],
                            rng.choice(honest, n_noise - n_sus, replace=False)])
    allc = np.unique(np.concatenate([lab, noise]))
    # confirmed 60-200 days after first seen, up to the last night (some arrive in the nights)
    conf = first_seen[allc] + rng.integers(60, 200, len(allc)) * DAY
    late = rng.random(len(allc)) < 0.08
    nspan = int((nights[-1] - nights[0]) / DAY)
    conf = np.where(late, nights[0] + rng.integers(1, nspan + 2, len(allc)) * DAY, conf)
    ok = conf <= nights[-1]
    return dict(cust=allc[ok], confirmed_on=conf[ok].astype("datetime64[D]"))

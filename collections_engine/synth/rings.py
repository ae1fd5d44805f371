"""Identifiers of customers: own values, households, hubs and fraud rings; fraud labels.

Every customer has an own mobile phone, device (a fifth a second one) and emergency contact, most
an email and an employer, and an address. A shared value (hub, ring) replaces the own value of
its kind, so nobody carries more values for being in a ring. The links the graph must sort out:
- households: a share of honest customers live in 2-4 person households sharing an address and
  a landline (an extra phone value);
- hubs: a call-centre number given as phone or emergency contact, an office address and a big
  employer, each shared by at least 120 honest customers (more in big books);
- employers (70 % of customers) follow a heavy-tailed size distribution (weight 1/rank^0.8);
- fraud rings share ring values of device, phone, address and emergency contact: 30 % of
  rings by one kind only, the others by 2-4 kinds, each member carrying each ring kind with
  probability 0.75 (at least one); a third of the multi-kind rings also name a shell company as
  employer;
- members who join a ring during the nights (first delinquent on a later night) are first seen
  on that night.
Values are tokens: a fixed scramble of an integer code per kind, so the same code is the same
token and nothing in a token hints at its owner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collections_engine.synth.params import SynthParams
from collections_engine.synth.population import Population, night_dates

__all__ = ["KINDS", "RING_KINDS", "IdentityCodes", "assign_codes", "make_identifiers",
           "make_fraud_labels", "household_of", "employer_codes", "newcomer_codes"]

KINDS = np.array(["phone", "device", "address", "email", "emergency_contact", "employer"])
RING_KINDS = np.array([0, 1, 2, 4])           # phone, device, address, emergency_contact
DAY = np.timedelta64(1, "D")
# Code spaces: own values are the customer index; shared values live above these offsets.
HOUSE = 1 << 40
HUB = 2 << 40
EMP = 3 << 40
RING = 4 << 40
DEV2 = 1 << 39         # a second device
EC = 5 << 40           # own emergency contact: somebody else's number, not one's own


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


@dataclass
class IdentityCodes:
    """Integer value codes per customer and kind (-1 = none); tokens and the personal fields'
    text are fixed functions of these codes, so `customers.phone` and the phone identifier agree."""
    phone: np.ndarray
    landline: np.ndarray
    device: np.ndarray
    device2: np.ndarray
    email: np.ndarray
    address: np.ndarray
    emergency_contact: np.ndarray
    employer: np.ndarray
    employers: int = 0        # firms in the book (newcomers are employed among them)


def _hub_members(rng: np.random.Generator, honest: np.ndarray, share: float) -> np.ndarray:
    size = min(len(honest), max(120, int(share * len(honest))))
    return rng.choice(honest, size=size, replace=False)


def assign_codes(pop: Population, rng: np.random.Generator, alive: np.ndarray,
                 hh: np.ndarray, own0: int = 0, house0: int = 0, ring0: int = 0,
                 firm_scale: tuple[int, int] = (1, 1)) -> IdentityCodes:
    """Own values, households, employers, hubs and ring values (a shared value replaces the own
    one, so a ring member has no more values than anybody else).

    A part of a book of several parts (`synth.parts`) passes its first global customer, household
    and ring index (own0, house0, ring0: its own, household and ring values are then disjoint
    from other parts') and firm_scale = (whole book's accounts, the part's): its employees are
    drawn over as many firms as the whole book's employed would fill at 25 a firm, and the firms
    (like the hubs) are the same codes in every part, so a big employer employs people of every
    part. The defaults are a one-part book's."""
    n = pop.n_customers
    own = own0 + np.arange(n, dtype=np.int64)
    none = np.full(n, -1, dtype=np.int64)
    cust = np.flatnonzero(alive)
    honest = cust[pop.ring[cust] < 0]
    phone = own.copy()
    device = own.copy()
    device2 = np.where(rng.random(n) < 0.2, DEV2 + own, -1)           # a second device
    email = np.where(rng.random(n) < 0.8, own, -1)
    address = np.where(hh >= 0, HOUSE + house0 + hh, own)
    landline = np.where(hh >= 0, HOUSE + house0 + hh, -1)
    ec = EC + own                           # somebody else's number
    employer = none.copy()
    # employers: heavy-tailed sizes (weight 1/rank^0.8); 70 % of customers employed
    employed = cust[rng.random(len(cust)) < 0.7]
    n_emp = max(1, len(employed) * firm_scale[0] // firm_scale[1] // 25)
    employer[employed] = employer_codes(rng, len(employed), n_emp)
    # hubs: a call-centre number (as phone, and as emergency contact), an office address, a big
    # employer
    phone[_hub_members(rng, honest, 0.002)] = HUB + 1
    ec[_hub_members(rng, honest, 0.002)] = HUB + 1
    address[_hub_members(rng, honest, 0.003)] = HUB + 2
    employer[_hub_members(rng, honest, 0.004)] = HUB + 3
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
        carry[~carry.any(axis=1), 0] = True  # at least the ring's first kind
        target = {0: phone, 1: device, 2: address, 4: ec}
        for j in range(len(RING_KINDS)):     # four kinds: a loop over kinds, not members
            m = carry[:, j]
            kind = RING_KINDS[order[r[m], j]]
            for kk in RING_KINDS:
                sel = kind == kk
                target[int(kk)][ring_c[m][sel]] = RING + (ring0 + r[m][sel]) * 8 + kk
        # a third of the multi-kind rings also name a shell company as employer (60 % of members)
        shell = (~single & (rng.random(n_rings) < 1 / 3))[r] & (rng.random(len(ring_c)) < 0.6)
        employer[ring_c[shell]] = RING + (ring0 + r[shell]) * 8 + 5
    return IdentityCodes(phone=phone, landline=landline, device=device, device2=device2,
                         email=email, address=address, emergency_contact=ec, employer=employer,
                         employers=n_emp)


def employer_codes(rng: np.random.Generator, k: int, n_emp: int) -> np.ndarray:
    """Employers of k employed customers among n_emp firms of heavy-tailed size
    (weight 1/rank^0.8)."""
    weight = 1.0 / np.arange(1, n_emp + 1) ** 0.8
    return EMP + rng.choice(n_emp, size=k, p=weight / weight.sum())


def newcomer_codes(rng: np.random.Generator, own: np.ndarray, n_emp: int) -> IdentityCodes:
    """Codes of customers who join the book after it was generated (`simulate`'s originations),
    drawn as `assign_codes` draws a customer living alone: an own phone, device (a fifth a second
    one), email (80 %), address and emergency contact, an employer for 70 % among the book's
    n_emp firms. `own`: the customers' global indices (so their values are new). No household,
    hub or ring: households and rings do not grow."""
    n = len(own)
    device2 = np.where(rng.random(n) < 0.2, DEV2 + own, -1)
    email = np.where(rng.random(n) < 0.8, own, -1)
    employer = np.full(n, -1, dtype=np.int64)
    employed = np.flatnonzero(rng.random(n) < 0.7)
    employer[employed] = employer_codes(rng, len(employed), n_emp)
    return IdentityCodes(phone=own.copy(), landline=np.full(n, -1, dtype=np.int64),
                         device=own.copy(), device2=device2, email=email, address=own.copy(),
                         emergency_contact=EC + own, employer=employer, employers=n_emp)


def make_identifiers(codes: IdentityCodes, alive: np.ndarray, first_seen: np.ndarray
                     ) -> dict[str, np.ndarray]:
    """(cust, kind index, code, first_seen) arrays for customers in `alive`.

    first_seen: per customer, the date its identifiers are first seen (its first account's
    opening, or the night a ring member joins).
    """
    cust = np.flatnonzero(alive)
    cols = [(0, codes.phone), (0, codes.landline), (1, codes.device), (1, codes.device2),
            (3, codes.email), (2, codes.address), (4, codes.emergency_contact),
            (5, codes.employer)]
    parts_c, parts_k, parts_v = [], [], []
    for kind, arr in cols:                   # eight columns: a loop over kinds, not customers
        v = arr[cust]
        has = v >= 0
        parts_c.append(cust[has])
        parts_k.append(np.full(int(has.sum()), kind, dtype=np.int64))
        parts_v.append(v[has])
    c = np.concatenate(parts_c)
    return dict(cust=c, kind=np.concatenate(parts_k), code=np.concatenate(parts_v),
                first_seen=first_seen[c])


def make_fraud_labels(pop: Population, p: SynthParams, rng: np.random.Generator,
                      alive: np.ndarray, first_seen: np.ndarray, suspects: np.ndarray,
                      household: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Confirmed fraud labels: a minority of ring members in some rings, plus label noise, plus
    (world v2) one label on one member of a few honest households (max(1, 0.1 % of households)):
    an honest household with a confirmed label, which ring detection must not take for a ring.

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
    sus = suspects[alive[suspects] & (pop.ring[suspects] < 0)]
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
    cust_l, conf_l = allc[ok], conf[ok]
    if household is not None and (household >= 0).any():
        ids = np.unique(household[household >= 0])
        pick_h = rng.choice(ids, size=max(1, int(0.001 * len(ids))), replace=False)
        mem = np.flatnonzero(np.isin(household, pick_h) & alive)
        mem = mem[np.lexsort((rng.random(len(mem)), household[mem]))]
        hh_lab = mem[np.r_[True, np.diff(household[mem]) != 0]]
        hh_lab = hh_lab[~np.isin(hh_lab, cust_l)]
        hh_conf = np.minimum(first_seen[hh_lab] + rng.integers(60, 200, len(hh_lab)) * DAY,
                             nights[0])
        cust_l = np.concatenate([cust_l, hh_lab])
        conf_l = np.concatenate([conf_l, hh_conf])
    return dict(cust=cust_l, confirmed_on=conf_l.astype("datetime64[D]"))

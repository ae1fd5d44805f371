"""Which communities are rings: evidence beyond the confirmed members, and why, in words.

A confirmed customer goes to the fraud queue on its own label. Its relatives must not follow it
there for living at the same address: a community is flagged only when the members who are not
confirmed carry evidence of their own (`unconfirmed_evidence`), besides the ring score reaching
`ring.threshold`. The evidence of an unconfirmed member is

    e_i = 1 - (1 - propensity_i) * (1 - link_i)

where propensity_i is its label-free estimate (`propensity.estimate`: own behaviour, its links
and its community's behaviour, never anybody's label) and link_i is the largest
`ring.link_evidence[kind]` over the kinds through which it shares a value with a confirmed
member of the community (default: device 0.25, emergency contact 0.25; an address or a landline,
what a family shares, gives 0). A community's evidence is the larger of the mean e_i over its
unconfirmed members and the community model's estimate (the group's structure: early defaults
together, opened within weeks of each other); a community of confirmed members only has
evidence 1 (nobody to drag along).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from collections_engine.codes import to_arrow

__all__ = ["member_links", "unconfirmed_evidence", "reasons"]


def member_links(comm: pd.DataFrame, shared: pd.DataFrame, link_evidence: dict[str, float]) -> np.ndarray:
    """link_i per row of `comm` (node, community, confirmed): the largest link_evidence[kind] of
    a value the member shares with a confirmed member of its own community (0: none)."""
    out = np.zeros(len(comm))
    if len(comm) == 0 or len(shared) == 0 or not link_evidence:
        return out
    n = int(max(comm["node"].max(), shared["node"].max())) + 1
    comm_of = np.full(n, -1, np.int64)
    comm_of[comm["node"].to_numpy()] = comm["community"].to_numpy()
    conf_of = np.zeros(n, bool)
    conf_of[comm["node"].to_numpy()] = comm["confirmed"].to_numpy(bool)
    node = shared["node"].to_numpy()
    c = comm_of[node]
    inside = c >= 0
    sh = pd.DataFrame({"node": node[inside], "community": c[inside], "group": shared["group"].to_numpy()[inside]})
    sh["conf"] = conf_of[sh["node"].to_numpy()]
    key = sh.groupby(["community", "group"], sort=False)["conf"]
    with_conf = key.transform("any").to_numpy(bool)
    weight = _kind_weights(shared["kind"], link_evidence)[inside]
    hit = with_conf & ~sh["conf"].to_numpy(bool) & (weight > 0)
    best = np.zeros(n)
    np.maximum.at(best, sh["node"].to_numpy()[hit], weight[hit])
    return best[comm["node"].to_numpy()]


def _kind_weights(kind: pd.Series, link_evidence: dict[str, float]) -> np.ndarray:
    """link_evidence[kind] per row (0: a kind without one), looked up once per distinct kind
    (Arrow's dictionary encoding: no Python string per row)."""
    enc = pc.dictionary_encode(to_arrow(kind)).combine_chunks()
    table = np.array([float(link_evidence.get(k, 0.0)) for k in enc.dictionary.to_pylist()] + [0.0])
    idx = pc.fill_null(enc.indices, len(table) - 1).to_numpy(zero_copy_only=False)
    return table[idx]


def unconfirmed_evidence(comm: pd.DataFrame, link: np.ndarray, community_model: pd.Series | None) -> pd.DataFrame:
    """Per community (index): `evidence_unconfirmed` (see the module doc), `unconfirmed`
    (count), `linked_to_confirmed` (unconfirmed members with link_i > 0), `suspect` (unconfirmed
    members with e_i >= 0.5). `comm` rows: community, confirmed, propensity (the estimate for
    unconfirmed members)."""
    unconf = ~comm["confirmed"].to_numpy(bool)
    e = 1.0 - (1.0 - comm["propensity"].to_numpy(float)) * (1.0 - link)
    f = pd.DataFrame({"community": comm["community"].to_numpy(), "unconf": unconf,
                      "e": np.where(unconf, e, np.nan), "linked": unconf & (link > 0),
                      "suspect": unconf & (e >= 0.5)})
    g = f.groupby("community", sort=True)
    out = pd.DataFrame({"unconfirmed": g["unconf"].sum().astype("int64"),
                        "linked_to_confirmed": g["linked"].sum().astype("int64"),
                        "suspect": g["suspect"].sum().astype("int64")})
    mean_e = g["e"].mean().fillna(1.0)  # confirmed members only: nobody to drag along
    if community_model is not None:
        mean_e = np.maximum(mean_e, community_model.reindex(mean_e.index).fillna(0.0))
    out["evidence_unconfirmed"] = mean_e.astype(float)
    return out


def reasons(summary: pd.DataFrame, link_kinds: list[str]) -> pd.Series:
    """Why each community (row of `summary`: size, confirmed, score, member_mean, community_model,
    evidence_unconfirmed, unconfirmed, suspect, linked_to_confirmed, held) is flagged, in words."""
    via = " or ".join(k.replace("_", " ") for k in sorted(link_kinds)) or "linking value"

    def one(r: dict) -> str:
        parts = [f"score {r['score']:.2f}"]
        if r["community_model"] >= r["member_mean"]:
            parts.append(f"the group looks like a ring to the community model ({r['community_model']:.2f}: "
                         "members defaulting early together, opened within weeks of each other)")
        else:
            parts.append(f"mean member fraud propensity {r['member_mean']:.2f}")
        if r["confirmed"]:
            parts.append(f"{int(r['confirmed'])} of {int(r['size'])} members confirmed fraud")
        if r["unconfirmed"]:
            parts.append(f"the {int(r['unconfirmed'])} others carry evidence {r['evidence_unconfirmed']:.2f} of their own: "
                         f"{int(r['suspect'])} with fraud propensity (or a link to a confirmed member) of 0.5 or more, "
                         f"{int(r['linked_to_confirmed'])} sharing a {via} with a confirmed member")
        if r.get("held", False):
            parts.append("kept from last night (hysteresis: within the hold margin)")
        return "; ".join(parts)
    # one dict per row from the columns (iterrows builds a Series per row: 5k rings at 1M)
    rows = summary.to_dict("records")
    return pd.Series([one(r) for r in rows], index=summary.index, dtype="str")

"""The graph file (graphs/*.yaml), edited by fraud analysts: pydantic models.

Defaults and why they were chosen: README.md ("Graph keys") and docs/notes/issue-17.md.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Community", "Ring", "GraphConfig"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Community(_Model):
    method: Literal["leiden", "louvain"] = "leiden"
    objective: Literal["modularity", "CPM"] = "modularity"
    resolution: float = Field(default=1.0, gt=0, le=100)
    seed: int = Field(default=1, ge=0)
    # Tuning of the optimiser and the repairs after it (docs/notes/issue-7.md, issue-10.md;
    # README "Graph keys"): the defaults are what was measured there.
    iterations: int = Field(default=2, ge=1, le=100)           # Leiden passes
    refine_above: int = Field(default=30, ge=3)                # split communities larger than this again
    merge_cross_share: float = Field(default=0.1, gt=0, le=1)  # merge neighbours above this cross share
    merge_mutual_share: float = Field(default=0.25, ge=0, le=1)
    trim_min_strength: float = Field(default=0.6, ge=0)        # peel weaker members (kind-weight units)
    trim_min_strong_members: int = Field(default=2, ge=1)
    # Incremental nights (issue 17): a changed component of at most `local_above` customers is
    # recomputed whole, from scratch, exactly as a full night computes it; a larger one (the
    # generated books' giant component: 30 % of the linked customers) only around the change.
    local_above: int = Field(default=10_000, ge=1)
    # The community step on groups of whole components in `workers` forked processes once it
    # has `parallel_min_nodes` customers or more (README "Graph keys"). Leiden runs per
    # component, so neither key changes a result: only how long it takes.
    workers: int = Field(default=2, ge=1, le=64)
    parallel_min_nodes: int = Field(default=100_000, ge=2)


class Ring(_Model):
    """A community is a ring when it has `min_size` members, its score reaches `threshold` and
    the members who are not confirmed carry evidence of their own of at least
    `evidence_threshold` (so one confirmed customer does not drag a household along)."""

    min_size: int = Field(default=3, ge=2)
    threshold: float = Field(default=0.5, ge=0, le=1)
    # Mean over the unconfirmed members of 1 - (1 - propensity) * (1 - link), where link is the
    # largest `link_evidence[kind]` of the kinds through which the member shares a value with a
    # confirmed member of the community (kinds not listed: 0); the community model's estimate
    # (group structure) counts too (the larger of the two).
    evidence_threshold: float = Field(default=0.3, ge=0, le=1)
    link_evidence: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: {"device": 0.25, "emergency_contact": 0.25})
    # Hysteresis: a ring of the previous night stays flagged down to threshold - hold_margin
    # (and evidence_threshold - hold_margin), so a case does not flicker.
    hold_margin: float = Field(default=0.1, ge=0, le=1)


class GraphConfig(_Model):
    kinds: dict[str, Annotated[float, Field(gt=0, le=100)]] = Field(min_length=1)
    unknown_kinds: Literal["warn", "error"] = "warn"
    hub_max_customers: int = Field(default=50, ge=2)
    community: Community = Field(default_factory=Community)
    ring: Ring = Field(default_factory=Ring)


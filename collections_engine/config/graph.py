"""The graph file (graphs/*.yaml), edited by fraud analysts: pydantic models."""

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


class Ring(_Model):
    min_size: int = Field(default=3, ge=2)
    threshold: float = Field(default=0.5, ge=0, le=1)


class GraphConfig(_Model):
    kinds: dict[str, Annotated[float, Field(gt=0, le=100)]] = Field(min_length=1)
    unknown_kinds: Literal["warn", "error"] = "warn"
    hub_max_customers: int = Field(default=50, ge=2)
    community: Community = Field(default_factory=Community)
    ring: Ring = Field(default_factory=Ring)

"""The strategy file (strategies/*.yaml), edited by collection managers: pydantic models.

Structure and ranges live on the models; rules that span fields (contiguous stages, queues
naming known stages, ...) are in `strategy_rules`, run on the raw document so that every
problem is reported in one go.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import codecs

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Stage", "NewCustomer", "Outcome", "Band", "Score", "Models", "Source",
    "InhouseQueue", "VendorQueue", "ChannelQueue", "LegalQueue", "FraudQueue", "Queue",
    "Strategy", "Arm", "Experiments", "OUTPUT_FIELDS", "ACCOUNT_FIELDS", "CUSTOMER_FIELDS", "RECALL_REASONS",
]

# What a vendor's file_fields may name (CONTRACT.md): accounts and customers columns, outputs.
ACCOUNT_FIELDS = (
    "account_id", "customer_id", "product", "open_date", "dpd", "overdue_amount",
    "balance", "credit_limit", "snapshot_date",
)
CUSTOMER_FIELDS = ("name", "phone", "national_id", "address")
OUTPUT_FIELDS = ("stage", "band", "points", "placed_on", "ends_on")
RECALL_REASONS = ("stage_not_accepted",)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage(_Model):
    name: str = Field(min_length=1)
    dpd_min: int = Field(ge=1)
    dpd_max: int | None = Field(default=None, ge=1)


class NewCustomer(_Model):
    max_account_age_months: int = Field(gt=0, le=120)


class Outcome(_Model):
    horizon_days: int = Field(gt=0, le=365)
    amount: Literal["overdue_amount", "balance"] = "overdue_amount"


class Band(_Model):
    name: str = Field(min_length=1)
    min_points: float | None = None


class Score(_Model):
    base_points: float = 600
    base_odds: float = Field(default=1.0, gt=0)
    points_to_double_odds: float = Field(default=40, gt=0)
    bands: list[Band] = Field(min_length=1)


Family = Literal["auto", "gbm", "scorecard"]


class Models(_Model):
    monotone: dict[str, Literal[-1, 1]] = Field(default_factory=dict)
    min_segment_rows: int = Field(default=2000, ge=0)
    # gbm: LightGBM only; scorecard: the WoE scorecard; auto: the scorecard unless LightGBM's
    # out-of-time AUC is better by the DeLong test (issue 21). Per segment "new/M1": family.
    family: Family = "gbm"
    family_by_segment: dict[str, Family] = Field(default_factory=dict)

    def family_of(self, segment: str) -> str:
        return self.family_by_segment.get(segment, self.family)


class Source(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    key: Literal["customer_id", "account_id"]
    price_per_record: float = Field(ge=0)


Effect = dict[str, Annotated[float, Field(gt=0, le=10)]]


class _WorkQueue(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    capacity: int = Field(ge=0)
    stages: list[str] = Field(min_length=1)
    cost_per_account: float = Field(ge=0)
    effect: Effect


class InhouseQueue(_WorkQueue):
    kind: Literal["inhouse"]


class ChannelQueue(_WorkQueue):
    kind: Literal["channel"]


class LegalQueue(_WorkQueue):
    kind: Literal["legal"]


class VendorQueue(_WorkQueue):
    kind: Literal["vendor"]
    commission: float = Field(ge=0, lt=1)
    placement_days: int = Field(gt=0, le=730)
    file_fields: list[str] = Field(min_length=1)
    max_balance: float | None = Field(default=None, gt=0)
    min_share: float = Field(default=0.0, ge=0, le=1)
    keep_customer_together: bool = False
    file_encoding: str = "utf-8"   # of the vendor's CSV files, e.g. utf-8-sig so Excel opens Chinese names

    @field_validator("file_encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            info = codecs.lookup(v)
            "".encode(v)
        except (LookupError, TypeError):
            raise ValueError(f"'{v}' is not a text encoding; expected one such as utf-8, utf-8-sig, gb18030") from None
        if info.name in ("utf-16", "utf-32") or info.name.startswith(("utf-16", "utf-32")):
            raise ValueError(f"'{v}': expected a byte-oriented text encoding such as utf-8, utf-8-sig, gb18030")
        return v


class FraudQueue(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    kind: Literal["fraud"]
    capacity: int = Field(ge=0)


class Arm(_Model):
    """One challenger of a champion/challenger test (`experiments.arms[i]`)."""
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    strategy: str | None = None                  # another strategy file (path from this file's folder)
    overrides: dict[str, dict[str, Any]] | None = None   # queue -> {key: value} (see experiments.py)
    share: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(min_length=1)   # stage -> traffic share


class Experiments(_Model):
    """Champion/challenger arms and exploration (README "Experiments")."""
    explore: float = Field(default=0.0, ge=0, le=0.5)   # probability of a random eligible queue
    seed: int = Field(default=0, ge=0)                 # the arms' and exploration's hash seed
    arms: list[Arm] = Field(default_factory=list)
    # queues exploration never draws (None: every legal queue); a legal queue must be listed:
    # a court action is not a random draw (README "Experiments")
    never_explore: list[str] | None = None


Queue = Annotated[
    Union[InhouseQueue, VendorQueue, ChannelQueue, LegalQueue, FraudQueue],
    Field(discriminator="kind"),
]


class Strategy(_Model):
    name: str = Field(min_length=1)
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    stages: list[Stage] = Field(min_length=1)
    new_customer: NewCustomer
    outcome: Outcome
    score: Score
    models: Models = Field(default_factory=Models)
    personal_fields: list[str] = Field(default_factory=list)
    queues: list[Queue] = Field(min_length=1)
    recall_on: list[Literal["stage_not_accepted"]] = Field(default_factory=list)
    # all of a customer's worked accounts in one queue (channels aside): one collector per customer
    one_collector_per_customer: bool = False
    sources: list[Source] = Field(default_factory=list)
    experiments: Experiments | None = None
    # Tables that protect people (README "Tables that protect people"): `required` makes `run`
    # exit 2 when the table is missing; `none` is the bank's explicit word that it keeps none.
    holds_table: Literal["required", "none"] = "required"
    fraud_labels_table: Literal["required", "none"] = "required"
    # How a queue's effect acts on an account's probability (README "Formulas", `assign.expected`):
    # `multiplier` min(1, p x effect[queue, stage]); `logodds` sigmoid(logit p + shift), the shift by
    # queue, stage and account traits estimated from the randomised history (`assign.logodds`).
    effects_model: Literal["multiplier", "logodds"] = "multiplier"

    # Convenience views used by the steps.
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def work_queues(self) -> list[InhouseQueue | VendorQueue | ChannelQueue | LegalQueue]:
        return [q for q in self.queues if q.kind != "fraud"]  # type: ignore[misc]

    def vendors(self) -> list[VendorQueue]:
        return [q for q in self.queues if isinstance(q, VendorQueue)]

    def fraud_queue(self) -> FraudQueue | None:
        return next((q for q in self.queues if isinstance(q, FraudQueue)), None)

    def legal_queue(self) -> LegalQueue | None:
        return next((q for q in self.queues if isinstance(q, LegalQueue)), None)

    def queue(self, name: str) -> Queue:
        return next(q for q in self.queues if q.name == name)

"""The input tables of CONTRACT.md as data: names, keys, required columns and their kinds.

Kinds: "id" (string or integer identifier, never null), "date" (a date or a parseable
YYYY-MM-DD string), "int", "num" (integer or float), "str", "bool01" (0/1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TableSpec", "TABLES", "HOLD_KINDS", "CHANNELS", "OUTCOMES", "IDENTIFIER_KINDS"]


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: tuple[str, ...]
    columns: dict[str, str]               # required column -> kind
    optional_columns: dict[str, str] = field(default_factory=dict)
    required: bool = False
    unique_key: bool = True
    nullable: tuple[str, ...] = ()        # required columns that may hold nulls
    non_negative: tuple[str, ...] = ()


TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in [
        TableSpec(
            "accounts",
            key=("snapshot_date", "account_id"),
            columns={
                "snapshot_date": "date", "account_id": "id", "customer_id": "id",
                "product": "str", "open_date": "date", "dpd": "int",
                "overdue_amount": "num", "balance": "num",
            },
            optional_columns={"credit_limit": "num"},
            required=True,
            nullable=("credit_limit",),
            non_negative=("dpd", "overdue_amount", "balance", "credit_limit"),
        ),
        TableSpec("customers", key=("customer_id",), columns={"customer_id": "id"}),
        TableSpec(
            "payments", key=("account_id", "paid_on"),
            columns={"account_id": "id", "paid_on": "date", "amount": "num"},
            unique_key=False, non_negative=("amount",),
        ),
        TableSpec(
            "contacts", key=("account_id", "contacted_on"),
            columns={"account_id": "id", "contacted_on": "date", "channel": "str", "outcome": "str"},
            unique_key=False,
        ),
        TableSpec(
            "holds", key=("account_id", "hold", "start"),
            columns={"account_id": "id", "hold": "str", "start": "date", "end": "date"},
            nullable=("end",),
        ),
        TableSpec(
            "placement_history", key=("account_id", "snapshot_date"),
            columns={"account_id": "id", "snapshot_date": "date", "queue": "str"},
            optional_columns={"propensity": "num"},
            nullable=("propensity",),
        ),
        TableSpec(
            "identifiers", key=("customer_id", "kind", "value"),
            columns={"customer_id": "id", "kind": "str", "value": "str"},
            optional_columns={"first_seen": "date"},
            nullable=("first_seen", "value"), unique_key=False,
        ),
        TableSpec(
            "outcomes", key=("account_id", "snapshot_date"),
            columns={"account_id": "id", "snapshot_date": "date", "repaid": "bool01",
                     "recovered_amount": "num"},
            non_negative=("recovered_amount",),
        ),
        TableSpec(
            "fraud_labels", key=("customer_id",), columns={"customer_id": "id"},
            optional_columns={"confirmed_on": "date"}, nullable=("confirmed_on",),
        ),
    ]
}

HOLD_KINDS = ("dispute", "bankruptcy", "deceased", "do_not_contact", "legal")
CHANNELS = ("sms", "call", "visit", "letter")
OUTCOMES = (
    "no_answer", "right_party", "promise_to_pay", "promise_kept", "promise_broken",
    "refused", "wrong_number", "other",
)
IDENTIFIER_KINDS = ("phone", "device", "address", "email", "emergency_contact", "employer", "ip")

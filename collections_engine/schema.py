"""The input tables of CONTRACT.md as data: names, keys, required columns and their kinds.

Kinds: "id" (string or integer identifier, never null), "date" (a date or a parseable
YYYY-MM-DD string), "int", "num" (integer or float), "str", "bool01" (0/1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collections_engine.vocabulary import HOLD_KINDS  # re-exported: the hold kinds in precedence order

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
    # What the engine does when the table is absent (docs/tables.md is generated from this).
    without: str = ""
    # A table that protects people: its absence would send someone to a collector who must not
    # contact them. `run` exits 2 without it unless the strategy key named here says `none`.
    protective_key: str | None = None
    doc: str = ""                         # one line: what the table is


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
            doc="one row per account and snapshot date; an account absent on a date, or at dpd 0, "
                "is not delinquent that day (cured, paid off or closed)",
            without="nothing runs: every command that reads DATA exits 2",
        ),
        TableSpec("customers", key=("customer_id",), columns={"customer_id": "id"},
                  doc="customer attributes (extra columns are model features) and personal fields "
                      "(name, phone, national_id, address: never features)",
                  without="no customer features; every vendor file field it would fill (name, phone, "
                          "...) is left out, each named in a warning in the log and at the top of the report"),
        TableSpec(
            "payments", key=("account_id", "paid_on"),
            columns={"account_id": "id", "paid_on": "date", "amount": "num"},
            unique_key=False, non_negative=("amount",),
            doc="payments received (several a day allowed)",
            without="payment features (days since last payment, amounts paid) are missing for everyone",
        ),
        TableSpec(
            "contacts", key=("account_id", "contacted_on"),
            columns={"account_id": "id", "contacted_on": "date", "channel": "str", "outcome": "str"},
            unique_key=False,
            doc="contact attempts: channel (sms, call, visit, letter) and outcome",
            without="contact and promise features are missing for everyone",
        ),
        TableSpec(
            "holds", key=("account_id", "hold", "start"),
            columns={"account_id": "id", "hold": "str", "start": "date", "end": "date"},
            nullable=("end",),
            doc="holds (dispute, bankruptcy, deceased, do_not_contact, legal; end empty = open): a held "
                "account is not worked, a legal hold goes to the legal queue, an open placement is recalled",
            without="`run` exits 2 (nobody would be held), unless the strategy says `holds_table: none`",
            protective_key="holds_table",
        ),
        TableSpec(
            "placement_history", key=("account_id", "snapshot_date"),
            columns={"account_id": "id", "snapshot_date": "date", "queue": "str"},
            optional_columns={"propensity": "num"},
            nullable=("propensity",),
            doc="past queue per account and date (and the propensity of a randomised choice): the "
                "evidence for each queue's effect, with outcomes",
            without="training uses the strategy's queue effects; the nightly run does not read it",
        ),
        TableSpec(
            "identifiers", key=("customer_id", "kind", "value"),
            columns={"customer_id": "id", "kind": "str", "value": "str"},
            optional_columns={"first_seen": "date"},
            nullable=("first_seen", "value"), unique_key=False,
            doc="tokenised identifiers per customer (phone, device, address, ...): the ring graph",
            without="no identifier graph: no fraud rings are found (a warning); the run goes on",
        ),
        TableSpec(
            "outcomes", key=("account_id", "snapshot_date"),
            columns={"account_id": "id", "snapshot_date": "date", "repaid": "bool01",
                     "recovered_amount": "num"},
            non_negative=("recovered_amount",),
            doc="what each delinquent account did within the strategy's horizon: the training label",
            without="`train` exits 2 (no label to learn from); the nightly run does not read it",
        ),
        TableSpec(
            "fraud_labels", key=("customer_id",), columns={"customer_id": "id"},
            optional_columns={"confirmed_on": "date"}, nullable=("confirmed_on",),
            doc="customers confirmed as fraud (an identity used by someone else): sent to the fraud "
                "queue, never to a collector, and the rings' labels",
            without="`run` exits 2 (a fraud victim would be collected from), unless the strategy says "
                    "`fraud_labels_table: none`",
            protective_key="fraud_labels_table",
        ),
    ]
}

CHANNELS = ("sms", "call", "visit", "letter")
OUTCOMES = (
    "no_answer", "right_party", "promise_to_pay", "promise_kept", "promise_broken",
    "refused", "wrong_number", "other",
)
IDENTIFIER_KINDS = ("phone", "device", "address", "email", "emergency_contact", "employer", "ip")

"""Read a DATA folder into a typed, validated `Book` (CONTRACT.md's input layout)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa

from collections_engine.book import Book
from collections_engine.codes import sorted_levels
from collections_engine.config.strategy import Strategy
from collections_engine.errors import DataError
from collections_engine.frames import duplicated
from collections_engine.io.database import SOURCES_SCHEMA, Database, DatabaseUnavailable, DatabaseURL
from collections_engine.io.hashing import file_sha256
from collections_engine.io.tables import find_table, read_table
from collections_engine.schema import TABLES
from collections_engine.validate import check_book, coerce_table, protective_problems
from collections_engine.validate.columns import _to_date, rows_hint

__all__ = ["load_book", "input_files", "input_hashes", "type_source", "TRAINING_TABLES",
           "CATEGORY_COLUMNS", "as_categories", "read_data_tables"]

log = logging.getLogger("collections_engine")

READ_THREADS = 2
# What only training and valuation read: the nightly run scores with an approved model version
# whose queue effects were estimated at training, so it neither reads nor validates these.
TRAINING_TABLES = ("outcomes", "placement_history")


def input_files(data: Path) -> list[Path]:
    """Every input file of a DATA folder (tables and sources), sorted; truth/ excluded."""
    data = Path(data)
    files = [p for name in TABLES if (p := find_table(data, name)) is not None]
    src = data / "sources"
    if src.is_dir():
        files += sorted(p for p in src.iterdir() if p.suffix in (".parquet", ".csv") and p.is_file())
    return files


def input_hashes(data: Path | DatabaseURL) -> dict[str, str]:
    """SHA-256 of every input: each file of a DATA folder (by its relative path), or each table
    of a database (by `schema.table`, hashed as read: see `Database.fingerprint`; a streamed
    read of every table, for callers that do not read the book: `load_book(..., hashes=)` gives
    the digests of the tables it read without this second pass)."""
    if isinstance(data, DatabaseURL):
        with _open_database(data) as db:
            return {db.label(t, s): db.fingerprint(t, s, _key_of(t, s)) for s, t in sorted(db.columns)
                    if (s == db.schema and t in TABLES) or s == SOURCES_SCHEMA}
    return {p.relative_to(data).as_posix(): file_sha256(p) for p in input_files(data)}


def _key_of(name: str, schema: str) -> tuple[str, ...]:
    return TABLES[name].key if schema != SOURCES_SCHEMA and name in TABLES else ()


def _open_database(data: DatabaseURL) -> Database:
    """The database, open in its snapshot. Not reachable is an outage, not bad input:
    DatabaseUnavailable (exit 1: the cron job retries the night), named in one line."""
    try:
        return Database.open(data)
    except DatabaseUnavailable as exc:
        raise DatabaseUnavailable(f"database {data}: cannot connect or list its tables ({exc}); "
                                  "the night was not run (an outage: retry when the database is reachable)") from None


def _read_db(db: Database, name: str, schema: str, label: str, problems: list[str],
             key: tuple[str, ...] = (), categories: tuple[str, ...] = ()) -> pd.DataFrame | None:
    try:
        return db.read(name, schema, key=key, categories=categories)
    except DatabaseUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - the driver's errors have no common base but Exception
        if _is_outage(exc):
            raise DatabaseUnavailable(f"database {db.location}: {label}: the connection failed while reading "
                                      f"({str(exc).splitlines()[0][:200]}); retry when the database is reachable") from None
        problems.append(f"{label}: cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                        "expected a table of plain columns (text, numbers, dates)")
        return None


def _is_outage(exc: BaseException) -> bool:
    """A driver error that says the server or the connection failed (PEP 249 OperationalError,
    e.g. the server restarted mid-read), not that the table cannot be read as plain columns."""
    return type(exc).__name__ == "OperationalError" or isinstance(exc, (ConnectionError, TimeoutError))


def _read(path: Path, label: str, problems: list[str], categories: tuple[str, ...] = ()) -> pd.DataFrame | None:
    try:
        return read_table(path, categories=categories)
    except (OSError, ValueError, pa.ArrowException, pd.errors.ParserError,
            pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        problems.append(f"{label}: cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                        "expected a parquet or UTF-8 CSV table")
        return None


def _load_sources(data: Path | Database, strategy: Strategy, warnings: list[str]) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for src in strategy.sources:
        probs: list[str] = []
        if isinstance(data, Database):
            label = data.label(src.name, SOURCES_SCHEMA)
            if not data.has(src.name, SOURCES_SCHEMA):
                warnings.append(f"sources/{src.name}: no table {label} in the database; "
                                f"source '{src.name}' is not used tonight")
                continue
            df = _read_db(data, src.name, SOURCES_SCHEMA, label, probs, key=(src.key, "snapshot_date"))
        else:
            path = find_table(data / "sources", src.name)
            label = f"sources/{src.name}"
            if path is None:
                warnings.append(f"{label}: no table (parquet or csv); source '{src.name}' is not used tonight")
                continue
            label = f"sources/{path.name}"
            df = _read(path, label, probs)
        if df is None:
            warnings += [f"{p}; source '{src.name}' is not used" for p in probs]
            continue
        if src.key not in df.columns:
            warnings.append(f"{label}: missing its declared key column '{src.key}' (found "
                            f"{', '.join(map(str, df.columns))}); source '{src.name}' is not used")
            continue
        if len(df) == 0:
            warnings.append(f"{label}: no rows; source '{src.name}' is not used")
            continue
        out[src.name] = type_source(df, src.key, label, warnings)
    return out


def type_source(df: pd.DataFrame, key_column: str, label: str, warnings: list[str]) -> pd.DataFrame:
    """A source table typed for features: its key as text, `snapshot_date` as dates (rows that
    are not dates dropped), the first row of each key kept; what was dropped goes to warnings.
    (The Spark engine types each partition of a source with this same code.)"""
    df = df.copy()
    df[key_column] = df[key_column].astype("str")
    key = [key_column]
    if "snapshot_date" in df.columns:
        df["snapshot_date"], bad = _to_date(df["snapshot_date"])
        if bad.any():
            warnings.append(f"{label}: column 'snapshot_date': {int(bad.sum())} rows that are not dates "
                            f"dropped; {rows_hint(df, bad, (key_column,))}")
            df = df.loc[~bad]
        key.append("snapshot_date")
    dup = duplicated(df, key)
    if dup.any():
        warnings.append(f"{label}: {int(dup.sum())} rows repeat the key ({', '.join(key)}); "
                        f"the first of each kept; {rows_hint(df, dup, tuple(key))}")
        df = df.loc[~dup]
    return df.reset_index(drop=True)


def _read_one(data: Path | Database, name: str, spec) -> tuple[str, str, pd.DataFrame | None, list[str], list[str]]:
    if isinstance(data, Database):
        return _read_one_db(data, name, spec)
    path = find_table(data, name)
    if path is None:
        missing = [f"{name}: table missing; expected {name}.parquet or {name}.csv in {data}"] if spec.required else []
        return name, f"{name}.parquet", None, missing, []
    problems: list[str] = []
    df = _read(path, path.name, problems, CATEGORY_COLUMNS.get(name, ()))
    if df is None:
        return name, path.name, None, problems, []
    df, p, w = coerce_table(df, spec, path.name, CATEGORY_COLUMNS.get(name, ()))
    as_categories(name, df)  # before the checks across tables: they then test a few levels
    return name, path.name, df, problems + p, w


def _read_one_db(db: Database, name: str, spec) -> tuple[str, str, pd.DataFrame | None, list[str], list[str]]:
    """`_read_one` for a database table: the same typing and checks, named `schema.table`."""
    label = db.label(name)
    if not db.has(name):
        missing = [f"{name}: table missing; expected a table or view {label} in database {db.location}"] \
            if spec.required else []
        return name, label, None, missing, []
    problems: list[str] = []
    df = _read_db(db, name, db.schema, label, problems, spec.key, CATEGORY_COLUMNS.get(name, ()))
    if df is None:
        return name, label, None, problems, []
    df, p, w = coerce_table(df, spec, label, CATEGORY_COLUMNS.get(name, ()))
    as_categories(name, df)
    return name, label, df, problems + p, w


# Columns of a few known values in the largest tables, held as categories (one byte a row
# instead of an Arrow string): about 1 GiB less for a million accounts' year of history. Only
# tables that never reach an output file; categories in sorted order, so sorting and grouping
# see the same order as the strings.
CATEGORY_COLUMNS = {"contacts": ("channel", "outcome"), "identifiers": ("kind",)}


def as_categories(name: str, df: pd.DataFrame) -> None:
    for col in CATEGORY_COLUMNS.get(name, ()):
        if col in df.columns:
            df[col] = sorted_levels(df[col])


def read_data_tables(data: Path | DatabaseURL, names: tuple[str, ...]
                     ) -> tuple[dict[str, pd.DataFrame | None], list[str], list[str]]:
    """Some tables of a DATA folder or database, read and typed by their schema specs as
    `load_book` does: (present table -> frame, None when it has problems; problems; warnings).
    Absent tables are left out whether required or not: the caller says what it needs.
    For commands that read a table or two without the book."""
    src: Path | Database = _open_database(data) if isinstance(data, DatabaseURL) else Path(data)
    tables: dict[str, pd.DataFrame | None] = {}
    problems: list[str] = []
    warnings: list[str] = []
    try:
        for name in names:
            present = src.has(name) if isinstance(src, Database) else find_table(src, name) is not None
            if not present:
                continue
            _, _, df, p, w = _read_one(src, name, TABLES[name])
            problems += p
            warnings += w
            tables[name] = df if not p else None
    finally:
        if isinstance(src, Database):
            src.close()
    return tables, problems, warnings


def load_book(data: Path | DatabaseURL, strategy: Strategy | None = None, *,
              skip: tuple[str, ...] = (), night: bool = False,
              hashes: dict[str, str] | None = None) -> tuple[Book, list[str]]:
    """The validated book and its warnings; DataError with every problem otherwise.

    `skip` names optional tables the caller does not use (the nightly run skips the training
    evidence, `TRAINING_TABLES`): they are neither read nor validated and are None in the book.
    `night`: the book decides who is contacted tonight, so a missing table that protects people
    (holds, fraud_labels) is a problem unless the strategy declares it has none
    (`validate.protective`), reported with every other problem.
    `hashes`: for a database, filled with each table's digest as read (`Database.hashes`, the
    night's `input_files`), also when the book then has problems; files are hashed by the caller.
    A database is read in one snapshot (`Database.open`): every table as of one moment.
    """
    if isinstance(data, DatabaseURL):
        with _open_database(data) as db:
            try:
                return _load_book(db, f"database {data}", strategy, skip, night)
            finally:
                if hashes is not None:
                    hashes.update(sorted(db.hashes.items()))
    data = Path(data)
    if not data.is_dir():
        raise DataError(str(data), [f"DATA folder not found: {data}; expected a folder of tables"])
    return _load_book(data, f"DATA folder {data}", strategy, skip, night)


def _size_of(data: Path | Database, name: str) -> int:
    """Bytes of a table's file (0 for a database table or a missing file): the reading order."""
    if isinstance(data, Database):
        return 0
    path = find_table(data, name)
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def _load_book(data: Path | Database, where: str, strategy: Strategy | None, skip: tuple[str, ...],
               night: bool) -> tuple[Book, list[str]]:
    problems: list[str] = []
    warnings: list[str] = []
    tables: dict[str, pd.DataFrame] = {}
    labels: dict[str, str] = {}
    # Tables are read and typed two at a time (Arrow reading and hashing release the GIL);
    # problems and warnings are collected in TABLES order, as one at a time would.
    wanted = [(name, spec) for name, spec in TABLES.items() if name not in skip or spec.required]
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        # Largest files first, so the two threads end together (a million accounts: identifiers
        # alone is 40% of the reading; in TABLES order it came last on one thread).
        futures = {name: pool.submit(_read_one, data, name, spec)
                   for name, spec in sorted(wanted, key=lambda item: -_size_of(data, item[0]))}
        done = [futures[name].result() for name, _ in wanted]
    present = {name for name, _, df, p, _ in done if df is not None or p}
    if night:
        expect = ((lambda n: f"a table or view {data.label(n)} in database {data.location}")
                  if isinstance(data, Database) else (lambda n: f"{n}.parquet or {n}.csv in {data}"))
        problems += protective_problems(present, strategy, expect)
    for name, label, df, p, w in done:
        labels[name] = label
        problems += p
        warnings += w
        if df is not None:
            tables[name] = df
    if "accounts" in tables:
        p, w = check_book(tables, labels, strategy)
        problems += p
        warnings += w
    sources = _load_sources(data, strategy, warnings) if strategy is not None else {}
    if problems:
        raise DataError(where, problems)
    for w in warnings:
        log.warning("%s", w)
    book = Book(**{k: v for k, v in tables.items()}, sources=sources)
    return book, warnings

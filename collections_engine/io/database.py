"""Input tables from a PostgreSQL database (`--data postgresql://...`), read as Arrow through ADBC.

Why ADBC (`adbc-driver-postgresql`): it reads a query with PostgreSQL's binary COPY straight
into Arrow record batches, in C, so a table arrives in the same Arrow form a parquet file does
and goes through the same `to_pandas` and the same validation; there is no Python object per
row (as with psycopg or SQLAlchemy rows) and no server-side export to a file. Batches come one
at a time, so a column of a few known values is dictionary-encoded batch by batch and its
strings are never all held (the parquet reader does the same from the file's dictionary pages).

Names: the tables of CONTRACT.md (`accounts`, `customers`, ...) are tables or views of that name
in the connection's current schema (`public` unless the URL sets a search path, e.g.
`?options=-csearch_path%3Dcollections`); the third-party source `sources/NAME` is the table or
view `NAME` in the schema `sources`. Messages name a table as `schema.table`.

A database has no row order: each table is read sorted by its key, then by every other column
(text in byte order, `COLLATE "C"`), so the same rows give the same night, and the same
fingerprint, whatever order they were stored in. NUMERIC columns are read as float8 (the engine's
amounts are floats in files too).

One snapshot: `Database.open` begins a read-only REPEATABLE READ transaction and exports its
snapshot (`pg_export_snapshot`); every table is read in that snapshot, also by the second
connection that reads beside the first (`SET TRANSACTION SNAPSHOT`, as `pg_dump --jobs` does),
so a night never sees half of an ETL load that commits while it reads. `close()` ends it.

Fingerprint: each table is hashed from the Arrow batches as they are read (`TableHash`), so
the night's `input_files` costs no second read.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.errors import Unavailable

__all__ = ["DatabaseURL", "Database", "DatabaseUnavailable", "TableHash", "data_location",
           "is_database_url", "SOURCES_SCHEMA", "copy_folder_to_database"]

SCHEMES = ("postgresql", "postgres")
SOURCES_SCHEMA = "sources"
_TEXT_TYPES = {"text", "character varying", "character", "name"}


def is_database_url(text: object) -> bool:
    """True for `postgresql://...` and `postgres://...` (what `--data` sends to the database)."""
    if isinstance(text, DatabaseURL):
        return True
    return isinstance(text, str) and "://" in text and text.split("://", 1)[0].lower() in SCHEMES


@dataclass(frozen=True)
class DatabaseURL:
    """A database given as `--data`. `str()` is the URL without its password (for messages,
    logs and run.json); `url` is what the driver gets."""

    url: str

    def __str__(self) -> str:
        parts = urlsplit(self.url)
        netloc = parts.netloc
        if "@" in netloc:
            cred, host = netloc.rsplit("@", 1)
            if ":" in cred:
                netloc = f"{cred.split(':', 1)[0]}:***@{host}"
        query = urlencode([(k, "***" if k == "password" else v)
                           for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="/:")
        # Joined by hand: urlunsplit drops the '//' of an empty host (postgresql:///db?host=/run).
        return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def data_location(text: str | Path) -> Path | DatabaseURL:
    """What `--data` names: a DATA folder, or a database URL (typer `parser`: a Path would fold
    the URL's `//`)."""
    if isinstance(text, (Path, DatabaseURL)):
        return text
    return DatabaseURL(text) if is_database_url(text) else Path(text)


def _connect(url: str, *, autocommit: bool = False):
    from adbc_driver_postgresql import dbapi  # the driver loads only when a database is used

    return dbapi.connect(url, autocommit=autocommit)


def _begin(conn, snapshot: str | None = None) -> None:
    """Begin the read-only REPEATABLE READ transaction every table is read in; join `snapshot`
    (another connection's exported snapshot) when given."""
    with conn.cursor() as cur:
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if snapshot is not None:
            cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")


class DatabaseUnavailable(Unavailable, ConnectionError):
    """The database cannot be reached or listed: an outage, not bad input (exit 1, so the cron
    job retries the night). The message is the driver's first line, never the password."""


class TableHash:
    """SHA-256 of a table as read: column names and types, and each column's values in the read
    order (its null positions, and its values with nulls zeroed), fed batch by batch. The same
    rows in the same order give the same digest however the driver cuts them into batches."""

    def __init__(self, schema: pa.Schema):
        self._schema = schema.remove_metadata().to_string().encode()
        # per column: null positions, values (text: lengths), text bytes: three streams, so that
        # where a batch ends changes nothing
        self._cols = [(hashlib.sha256(), hashlib.sha256(), hashlib.sha256()) for _ in schema]
        self.rows = 0

    def update(self, batch: pa.RecordBatch) -> None:
        for (nulls, values, text), arr in zip(self._cols, batch.columns):
            if arr.null_count:
                where = np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False)) + self.rows
                nulls.update(where.astype("<i8").tobytes())
            if len(arr):
                main, extra = _value_bytes(arr)
                values.update(main)
                text.update(extra)
        self.rows += batch.num_rows

    def hexdigest(self) -> str:
        h = hashlib.sha256(self._schema)
        h.update(str(self.rows).encode())
        for streams in self._cols:
            for one in streams:
                h.update(one.digest())
        return h.hexdigest()


def _value_bytes(arr: pa.Array) -> tuple[bytes | memoryview, bytes | memoryview]:
    """The values of one column of one (non-empty) batch as bytes that do not depend on where
    the batch was cut: (fixed-width values, b"") or (text lengths, text bytes); null slots as
    zeros / empty."""
    typ = arr.type
    if pa.types.is_dictionary(typ):
        arr, typ = arr.dictionary_decode(), typ.value_type
    if pa.types.is_string(typ) or pa.types.is_binary(typ) or pa.types.is_large_string(typ) \
            or pa.types.is_large_binary(typ):
        if arr.null_count:
            arr = pc.fill_null(arr, pa.scalar("" if "string" in str(typ) else b"", typ))
        big = pa.types.is_large_string(typ) or pa.types.is_large_binary(typ)
        offsets = np.frombuffer(arr.buffers()[1], dtype="<i8" if big else "<i4")[arr.offset:arr.offset + len(arr) + 1]
        data = arr.buffers()[2]
        text = memoryview(data)[int(offsets[0]):int(offsets[-1])] if data is not None else b""
        return np.diff(offsets).astype("<i8").tobytes(), text
    if pa.types.is_boolean(typ):
        return pc.fill_null(arr, False).to_numpy(zero_copy_only=False).tobytes(), b""
    if _fixed_width(typ):
        width = typ.bit_width // 8
        raw = np.frombuffer(arr.buffers()[1], dtype=np.uint8)[arr.offset * width:(arr.offset + len(arr)) * width]
        if arr.null_count:
            raw = raw.reshape(-1, width).copy()
            raw[arr.is_null().to_numpy(zero_copy_only=False)] = 0
            return raw.tobytes(), b""
        return memoryview(raw), b""
    # a type the engine does not read (json, arrays): its values as text, one line each
    return "\n".join(map(repr, arr.to_pylist())).encode() + b"\n", b""


def _fixed_width(typ: pa.DataType) -> bool:
    try:
        return typ.bit_width % 8 == 0 and typ.num_buffers == 2
    except ValueError:
        return False


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Database:
    """An open database: its tables and column types (listed once, when opened), and the one
    read-only snapshot every table is read in. Use as a context manager (or call `close`): it
    holds connections and a transaction open until then.

    `hashes` gathers the `TableHash` digest of every table read, by label."""

    location: DatabaseURL
    schema: str = "public"
    columns: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    snapshot: str | None = None
    _idle: list = field(default_factory=list, repr=False)
    _held: list = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, location: DatabaseURL) -> Database:
        """Connect, begin the snapshot and list the tables. DatabaseUnavailable (an outage) with
        the driver's first line (never the password) when the database cannot be reached."""
        conn = None
        try:
            conn = _connect(location.url, autocommit=True)
            _begin(conn)
            with conn.cursor() as cur:
                # The snapshot is taken by this first query; it stays valid while `conn` holds
                # its transaction open (it only exports, it reads no table).
                cur.execute("SELECT current_schema(), pg_export_snapshot()")
                schema, snapshot = cur.fetchone()
                schema = schema or "public"
                cur.execute(
                    "SELECT table_schema, table_name, column_name, data_type "
                    "FROM information_schema.columns WHERE table_schema IN ($1, $2) "
                    "ORDER BY table_schema, table_name, ordinal_position", (schema, SOURCES_SCHEMA))
                rows = cur.fetchall()
        except Exception as exc:  # noqa: BLE001 - the driver's errors have no common base but Exception
            if conn is not None:
                _close_quietly(conn)
            raise DatabaseUnavailable(_scrub(_first_line(exc), location)) from None
        cols: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for sch, table, col, typ in rows:
            cols.setdefault((sch, table), []).append((col, typ))
        db = cls(location, schema, cols, snapshot=snapshot)
        db._held.append(conn)
        return db

    def close(self) -> None:
        """End the snapshot's transactions (read-only: nothing to commit) and close every connection."""
        with self._lock:
            conns, self._held, self._idle = list(reversed(self._held)), [], []
        for conn in conns:  # the readers first, the snapshot's owner last
            _close_quietly(conn)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _reader(self) -> Iterator:
        """A connection inside the snapshot, one per reading thread at a time; a connection whose
        read failed is closed (its transaction is aborted) and the next read opens another."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            try:
                conn = _connect(self.location.url, autocommit=True)
                _begin(conn, self.snapshot)
            except Exception as exc:  # noqa: BLE001
                if conn is not None:
                    _close_quietly(conn)
                raise DatabaseUnavailable(_scrub(_first_line(exc), self.location)) from None
            with self._lock:
                self._held.append(conn)
        try:
            yield conn
        except BaseException:
            with self._lock:
                if conn in self._held:
                    self._held.remove(conn)
            _close_quietly(conn)
            raise
        with self._lock:
            self._idle.append(conn)

    def has(self, name: str, schema: str | None = None) -> bool:
        return (schema or self.schema, name) in self.columns

    def label(self, name: str, schema: str | None = None) -> str:
        """How messages name the table: `schema.table`."""
        return f"{schema or self.schema}.{name}"

    def query(self, name: str, schema: str | None = None, key: tuple[str, ...] = ()) -> str:
        """SELECT of every column (NUMERIC as float8), sorted by the key's columns that exist,
        then by every other column: one order whatever the storage order."""
        sch = schema or self.schema
        cols = self.columns[(sch, name)]
        select = ", ".join(f"{_ident(c)}::float8 AS {_ident(c)}" if t == "numeric" else _ident(c)
                           for c, t in cols)
        types = dict(cols)
        order = [c for c in key if c in types] + [c for c, _ in cols if c not in key]
        # Only columns whose type has a default ordering (json and some others have none).
        order = [c for c in order if types[c] not in ("json", "xml", "point", "polygon", "line", "box",
                                                      "circle", "path", "lseg")]
        by = ", ".join(f'{_ident(c)} COLLATE "C"' if types[c] in _TEXT_TYPES else _ident(c) for c in order)
        return f"SELECT {select} FROM {_ident(sch)}.{_ident(name)}" + (f" ORDER BY {by}" if by else "")

    def read(self, name: str, schema: str | None = None, *, key: tuple[str, ...] = (),
             categories: tuple[str, ...] = ()) -> pd.DataFrame:
        """The table as a frame, typed as Arrow gives it; text columns in `categories` come back
        as categoricals, encoded batch by batch. Its digest goes to `hashes`."""
        with self._reader() as conn, conn.cursor() as cur:
            cur.execute(self.query(name, schema, key))
            reader = cur.fetch_record_batch()
            digest = TableHash(reader.schema)
            want = [i for i, f in enumerate(reader.schema)
                    if f.name in categories and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
            schema_out = reader.schema
            for i in want:
                schema_out = schema_out.set(i, pa.field(schema_out.field(i).name,
                                                        pa.dictionary(pa.int32(), schema_out.field(i).type)))
            batches = []
            for batch in reader:
                digest.update(batch)
                # Each batch is copied into Arrow's own memory and the driver's batch let go at
                # once. Arrow keeps a batch that arrives through the C data interface alive as a
                # whole while any of its columns is referenced, and pandas keeps text columns
                # as Arrow arrays: without the copy every batch the driver made (numbers
                # included, already copied into numpy) stayed alive as long as the frame did,
                # about a third more memory than the same table read from parquet.
                arrays = [pc.dictionary_encode(col) if i in want else pa.concat_arrays([col])
                          for i, col in enumerate(batch.columns)]
                del batch
                batches.append(pa.RecordBatch.from_arrays(arrays, schema=schema_out))
        self.hashes[self.label(name, schema)] = digest.hexdigest()
        table = pa.Table.from_batches(batches, schema=schema_out)
        del batches
        if want:
            table = table.unify_dictionaries()
        return table.to_pandas(date_as_object=False, self_destruct=True)

    def fingerprint(self, name: str, schema: str | None = None, key: tuple[str, ...] = ()) -> str:
        """The table's `TableHash` digest from a streamed read that keeps no batch (for commands
        that hash without reading the book; a read puts the same digest in `hashes`)."""
        with self._reader() as conn, conn.cursor() as cur:
            cur.execute(self.query(name, schema, key))
            reader = cur.fetch_record_batch()
            digest = TableHash(reader.schema)
            for batch in reader:
                digest.update(batch)
        return digest.hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _close_quietly(conn) -> None:
    """Roll back (a read-only transaction: nothing is lost) and close; a dead connection is fine."""
    try:
        with conn.cursor() as cur:
            cur.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - the connection may already be gone
        pass
    try:
        conn.close()
    except Exception:  # noqa: BLE001
        pass


def _scrub(text: str, location: DatabaseURL) -> str:
    """The driver's message with any password of the URL removed."""
    parts = urlsplit(location.url)
    secrets = [parts.password] if parts.password else []
    secrets += [v for k, v in parse_qsl(parts.query) if k == "password" and v]
    for s in secrets:
        text = text.replace(s, "***")
    return re.sub(r"password=\S+", "password=***", text)


def copy_folder_to_database(data: Path, location: DatabaseURL, *, timestamps_as_dates: bool = True) -> list[str]:
    """Load a DATA folder's tables into the database (a bank's export in reverse: for tests,
    benchmarks and trying the engine on a database). Tables are replaced. Midnight timestamp
    columns become DATE columns, as a bank's database would hold them. Returns the table labels."""
    import pyarrow.parquet as pq

    from collections_engine.schema import TABLES

    def arrow(path: Path) -> pa.Table:
        if path.suffix == ".parquet":
            t = pq.read_table(path)
        else:
            t = pa.Table.from_pandas(pd.read_csv(path, dtype={c: "str" for c in ("account_id", "customer_id", "value")}),
                                     preserve_index=False)
        t = t.replace_schema_metadata(None)
        for i, f in enumerate(t.schema):
            typ = f.type
            if pa.types.is_dictionary(typ):
                t = t.set_column(i, f.name, t.column(i).cast(typ.value_type))
            elif pa.types.is_large_string(typ):
                t = t.set_column(i, f.name, t.column(i).cast(pa.string()))
            elif timestamps_as_dates and pa.types.is_timestamp(typ) and typ.tz is None:
                col = t.column(i)
                day = pc.floor_temporal(col, unit="day")
                if pc.all(pc.or_kleene(pc.equal(col, day), pc.is_null(col))).as_py() is not False:
                    t = t.set_column(i, f.name, col.cast(pa.date32()))
        return t

    done: list[str] = []
    with _connect(location.url) as conn:
        with conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(SOURCES_SCHEMA)}")
            for name in TABLES:
                for ext in (".parquet", ".csv"):
                    path = Path(data) / f"{name}{ext}"
                    if path.is_file():
                        cur.execute(f"DROP TABLE IF EXISTS {_ident(name)}")
                        cur.adbc_ingest(name, arrow(path), mode="create")
                        done.append(name)
                        break
            src = Path(data) / "sources"
            for path in sorted(src.glob("*")) if src.is_dir() else []:
                if path.suffix in (".parquet", ".csv") and path.is_file():
                    cur.execute(f"DROP TABLE IF EXISTS {_ident(SOURCES_SCHEMA)}.{_ident(path.stem)}")
                    cur.adbc_ingest(path.stem, arrow(path), mode="create", db_schema_name=SOURCES_SCHEMA)
                    done.append(f"{SOURCES_SCHEMA}.{path.stem}")
        conn.commit()
    return done

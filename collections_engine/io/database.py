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
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DatabaseURL", "Database", "data_location", "is_database_url", "SOURCES_SCHEMA",
           "copy_folder_to_database"]

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


def _connect(url: str):
    from adbc_driver_postgresql import dbapi  # the driver loads only when a database is used

    return dbapi.connect(url)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Database:
    """What the database holds, listed by one query when opened: schemas, tables, column types."""

    location: DatabaseURL
    schema: str = "public"
    columns: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)

    @classmethod
    def open(cls, location: DatabaseURL) -> Database:
        """List the tables; an OSError-like failure to connect is raised as ConnectionError with
        the driver's first line (never the password)."""
        try:
            with _connect(location.url) as conn, conn.cursor() as cur:
                cur.execute("SELECT current_schema()")
                schema = cur.fetchone()[0] or "public"
                cur.execute(
                    "SELECT table_schema, table_name, column_name, data_type "
                    "FROM information_schema.columns WHERE table_schema IN ($1, $2) "
                    "ORDER BY table_schema, table_name, ordinal_position", (schema, SOURCES_SCHEMA))
                rows = cur.fetchall()
        except Exception as exc:  # noqa: BLE001 - the driver's errors have no common base but Exception
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConnectionError(_scrub(first, location)) from None
        cols: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for sch, table, col, typ in rows:
            cols.setdefault((sch, table), []).append((col, typ))
        return cls(location, schema, cols)

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
        as categoricals, encoded batch by batch."""
        with _connect(self.location.url) as conn, conn.cursor() as cur:
            cur.execute(self.query(name, schema, key))
            reader = cur.fetch_record_batch()
            want = [i for i, f in enumerate(reader.schema)
                    if f.name in categories and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
            schema_out = reader.schema
            for i in want:
                schema_out = schema_out.set(i, pa.field(schema_out.field(i).name,
                                                        pa.dictionary(pa.int32(), schema_out.field(i).type)))
            batches = []
            for batch in reader:
                if want:
                    arrays = list(batch.columns)
                    for i in want:
                        arrays[i] = pc.dictionary_encode(arrays[i])
                    batch = pa.RecordBatch.from_arrays(arrays, schema=schema_out)
                batches.append(batch)
        table = pa.Table.from_batches(batches, schema=schema_out)
        del batches
        if want:
            table = table.unify_dictionaries()
        return table.to_pandas(date_as_object=False, self_destruct=True)

    def fingerprint(self, name: str, schema: str | None = None, key: tuple[str, ...] = ()) -> str:
        """SHA-256 of the column names and types and of every row's 64-bit hash in the read order,
        streamed batch by batch (the driver's batch sizes vary; row hashes do not): a changed
        row, column or type changes it; the storage order does not."""
        h = hashlib.sha256()
        with _connect(self.location.url) as conn, conn.cursor() as cur:
            cur.execute(self.query(name, schema, key))
            reader = cur.fetch_record_batch()
            h.update(reader.schema.remove_metadata().to_string().encode())
            for batch in reader:
                rows = pd.util.hash_pandas_object(batch.to_pandas(date_as_object=False), index=False)
                h.update(rows.to_numpy().tobytes())
        return h.hexdigest()


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

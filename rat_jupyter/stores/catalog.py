"""A thin layer over pyiceberg: one Iceberg table per pipeline, namespace ``(ns, layer)``."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
from pyiceberg.catalog import Catalog as IcebergCatalog
from pyiceberg.catalog import load_catalog
from pyiceberg.exceptions import (
    NamespaceAlreadyExistsError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionField, PartitionSpec
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform, HourTransform, IdentityTransform, MonthTransform, YearTransform

from ..common.errors import Conflict
from ..common.history import TABLE_PROPERTIES
from ..common.memo import MISSING, IdentityMemo, Lru
from ..common.names import PipelineId
from ..common.settings import Settings
from ..common.tables import METADATA_UNITS, metadata_weight, table_folder
from ..common.tables import PartitionField as PartitionConfig
from .lock import init_lock, sqlite_folder

# DuckDB hands us nanosecond timestamps in some cases; Iceberg v2 stores microseconds.
os.environ.setdefault("PYICEBERG_DOWNCAST_NS_TIMESTAMP_TO_US_ON_WRITE", "true")



def _memoize_transaction_metadata() -> None:
    """Make ``Transaction.table_metadata`` compute its answer once per staged state instead of per access.

    pyiceberg answers the property by replaying every staged update onto the table's metadata and then
    deep-copying the result — on every access, and one commit reads it about twenty times (each snapshot
    producer, each validation). A deep copy costs in proportion to the metadata, which holds every live
    snapshot, so a table's commit got slower with each run until its snapshots reached their bound
    (``common.history``): twice as slow at 50 snapshots as at 10. The metadata models are frozen and the
    answer depends only on the table's metadata object and the tuple of staged updates (both replaced, never
    mutated, when they change), so the same answer is returned while both are the same objects.
    """
    from pyiceberg.table import Transaction

    original = Transaction.__dict__.get("table_metadata")
    if original is None or getattr(original.fget, "_rat_memoized", False):
        return
    compute = original.fget

    def table_metadata(self: Any) -> Any:
        base, updates = self._table.metadata, self._updates
        cached = self.__dict__.get("_rat_table_metadata")
        if cached is not None and cached[0] is base and cached[1] is updates:
            return cached[2]
        value = compute(self)
        self.__dict__["_rat_table_metadata"] = (base, updates, value)
        return value

    prop = property(table_metadata, doc=original.__doc__)
    prop.fget._rat_memoized = True  # type: ignore[attr-defined]
    Transaction.table_metadata = prop  # type: ignore[method-assign,assignment]


_memoize_transaction_metadata()


def _share_updated_metadata() -> None:
    """``update_table_metadata`` without its closing deep copy (ADR 0030).

    pyiceberg applies a commit's updates to the base metadata — each update makes a new model that shares
    the untouched parts with the old one — and then deep-copies the result. A commit calls it two or three
    times (the transaction's view of its staged state, the catalog's staging), and the copy costs in
    proportion to the metadata: every snapshot, its summary, every schema and log entry, ~0.8 ms each at a
    few snapshots and growing with the history. The copy only protects against in-place changes, and the
    metadata models are frozen and replaced, never changed, by pyiceberg and by this package (the premise of
    ADR 0027's memo), so the result of the same updates is returned shared. Validation, the metadata log and
    ``last-updated-ms`` are done as pyiceberg does.
    """
    from datetime import datetime

    import pyiceberg.catalog as catalog_module
    import pyiceberg.table as table_module
    from pyiceberg.table import update as update_module

    needed = ("_TableMetadataUpdateContext", "_apply_table_update", "_update_table_metadata_log",
              "datetime_to_millis", "TableMetadataUtil", "update_table_metadata")
    if not all(hasattr(update_module, n) for n in needed) or getattr(
            update_module.update_table_metadata, "_rat_shared", False):
        return
    original = update_module.update_table_metadata
    if not (getattr(catalog_module, "update_table_metadata", None) is original
            and getattr(table_module, "update_table_metadata", None) is original):
        return

    def update_table_metadata(base_metadata: Any, updates: Any, enforce_validation: bool = False,
                              metadata_location: str | None = None) -> Any:
        context = update_module._TableMetadataUpdateContext()
        new = base_metadata
        for change in updates:
            new = update_module._apply_table_update(change, new, context)
        if context.has_changes():
            if metadata_location:
                new = update_module._update_table_metadata_log(new, metadata_location, base_metadata.last_updated_ms)
            if base_metadata.last_updated_ms == new.last_updated_ms:
                now = update_module.datetime_to_millis(datetime.now().astimezone())
                new = new.model_copy(update={"last_updated_ms": now})
        new.spec().check_compatible(new.schema())
        new.sort_order().check_compatible(new.schema())
        if enforce_validation:
            return update_module.TableMetadataUtil.parse_obj(new.model_dump())
        return new

    update_table_metadata._rat_shared = True  # type: ignore[attr-defined]
    update_table_metadata._rat_original = original  # type: ignore[attr-defined]
    for module in (update_module, catalog_module, table_module):
        module.update_table_metadata = update_table_metadata  # type: ignore[attr-defined]


_share_updated_metadata()

class _ParsedMetadata:
    """Per-process memo of parsed ``metadata.json`` files: the newest one of each table (a file is immutable).

    pyiceberg's SQL catalog reads and parses the current metadata file on every ``load_table``, and its
    ``commit_table`` loads the table again before each commit to check the requirements: a run paid a parse
    of a file it had just read (or written) on every commit. Files this process parses or writes are kept
    here; the catalog's row still decides which file is current, so a commit by another process or a drop
    is seen exactly as before. The models are frozen and pyiceberg replaces them, never mutates them.

    One file per table (by the table's folder): each commit supersedes the file before it, and a table with
    its 50 snapshots parses to about 230 KiB, so keeping the superseded files too held tens of MiB per
    process of metadata nobody asks for again. A file older than the one kept (time travel to an earlier
    metadata file) is parsed and returned, not kept. The files kept are bounded by what they hold
    (:func:`metadata_weight`), not by their count, as :class:`runner._Tables` is.
    """

    # table folder -> (its newest metadata file seen, parsed), bounded by what the files hold
    _cache: Lru[tuple[str, Any]] = Lru(METADATA_UNITS, weight=lambda held: metadata_weight(held[1]))
    parsed = 0  # how many files were read and parsed (tests count it)

    @classmethod
    def get(cls, location: str, read: Any) -> Any:
        hit = cls._cache.get(table_folder(location))
        if hit is not MISSING and hit[0] == location:
            return hit[1]
        metadata = read()
        cls.parsed += 1
        cls.put(location, metadata)
        return metadata

    @classmethod
    def put(cls, location: str, metadata: Any) -> None:
        cls._cache.put(table_folder(location), (location, metadata), keep=_kept_is_newer)


def _kept_is_newer(held: tuple[str, Any], new: tuple[str, Any]) -> bool:
    """Whether the held metadata file comes after the new one (a later commit of the same table)."""
    a, b = held[1], new[1]
    return held[0] != new[0] and (a.last_sequence_number, a.last_updated_ms) > (b.last_sequence_number,
                                                                              b.last_updated_ms)


# Per-process memo of the schema and reader tree pyiceberg builds to read an Avro file. Opening a manifest
# or a manifest list parses the Avro schema in its header into an Iceberg schema and resolves a reader tree
# against the read schema (~2 ms of Python); a run opens a few of them (the table's live files, scan planning
# for each ``ref()``), every time anew, though the files of one table share the same header schema. The tree
# depends only on the header's schema text, the read schema and the read types, and its readers keep no state
# between files (each read takes the file's decoder), so it is built once per combination (ADR 0029).
_AvroReaders = IdentityMemo(256)


def _memoize_avro_readers() -> None:
    """Route ``AvroFile.__enter__`` through :class:`_AvroReaders` (left alone if pyiceberg's changed)."""
    from pyiceberg.avro import file as avro_file

    original = avro_file.AvroFile.__enter__
    if getattr(original, "_rat_memoized", False) or not all(
            hasattr(avro_file, name) for name in ("new_decoder", "resolve_reader", "_SCHEMA_KEY")) or not hasattr(
            avro_file.AvroFile, "_read_header"):
        return

    def enter(self: Any) -> Any:
        with self.input_file.open() as f:
            self.decoder = avro_file.new_decoder(f.read())
        self.header = self._read_header()
        text = self.header.meta.get(avro_file._SCHEMA_KEY)
        if text is None:
            self.header.get_schema()  # pyiceberg's own error
        read_schema = self.read_schema
        key = (text, id(read_schema), tuple(sorted(self.read_types.items())),
               tuple(sorted(self.read_enums.items())))

        def build() -> tuple[Any, Any]:
            schema = self.header.get_schema()
            return schema, avro_file.resolve_reader(schema, read_schema or schema, self.read_types, self.read_enums)

        # keep: the read schema object itself must match, not a new one that reuses a freed id
        self.schema, self.reader = _AvroReaders.get(key, (read_schema,), build)
        if not self.read_schema:
            self.read_schema = self.schema
        return self

    enter._rat_memoized = True  # type: ignore[attr-defined]
    enter._rat_original = original  # type: ignore[attr-defined]
    avro_file.AvroFile.__enter__ = enter  # type: ignore[method-assign]


_memoize_avro_readers()


# What pyiceberg derives from a schema to write an Avro file (ADR 0030). Each commit writes a manifest and a
# manifest list, and for each pyiceberg builds the manifest entry schema for the partition type, resolves a
# writer tree for it, converts it to an Avro schema for the header and builds the header's own writer:
# ~2.5 ms of Python per commit, identical for every commit of every unpartitioned table. The writers are
# frozen dataclasses (no state between files) and the schemas frozen models, so each is built once: the
# entry schema by (format version, partition type), which are values; the rest by the identity of the
# schema objects that memo returns.
_AvroWriters = IdentityMemo(256)


def _memoize_avro_writers() -> None:
    """Route pyiceberg's writer-tree, header-schema and manifest-schema builds through :class:`_AvroWriters`
    (left alone if pyiceberg's names changed)."""
    from pyiceberg import manifest
    from pyiceberg.avro import file as avro_file

    needed = (hasattr(avro_file, "resolve_writer") and hasattr(avro_file, "construct_writer")
              and hasattr(avro_file, "AvroSchemaConversion") and hasattr(manifest.ManifestWriter, "_with_partition"))
    if not needed or getattr(avro_file.resolve_writer, "_rat_memoized", False):
        return
    resolve, construct = avro_file.resolve_writer, avro_file.construct_writer
    with_partition = manifest.ManifestWriter._with_partition
    conversion = avro_file.AvroSchemaConversion

    def resolve_writer(record_schema: Any, file_schema: Any) -> Any:
        return _AvroWriters.get(("resolve", id(record_schema), id(file_schema)), (record_schema, file_schema),
                                lambda: resolve(record_schema, file_schema))

    def construct_writer(file_schema: Any) -> Any:
        return _AvroWriters.get(("construct", id(file_schema)), (file_schema,), lambda: construct(file_schema))

    class _Conversion(conversion):  # type: ignore[misc, valid-type]
        def iceberg_to_avro(self, schema: Any, schema_name: str | None = None) -> Any:
            # the header's schema; json.dumps only reads the answer
            return _AvroWriters.get(("avro", id(schema), schema_name), (schema,),
                                    lambda: super(_Conversion, self).iceberg_to_avro(schema, schema_name=schema_name))

    def _with_partition(self: Any, format_version: Any) -> Any:
        partition_type = self._spec.partition_type(self._schema)
        return _AvroWriters.get(("entry", type(self), format_version, partition_type), (),
                                lambda: with_partition(self, format_version))

    resolve_writer._rat_memoized = True  # type: ignore[attr-defined]
    resolve_writer._rat_original = resolve  # type: ignore[attr-defined]
    construct_writer._rat_original = construct  # type: ignore[attr-defined]
    avro_file.resolve_writer = resolve_writer
    avro_file.construct_writer = construct_writer
    avro_file.AvroSchemaConversion = _Conversion  # type: ignore[misc]
    manifest.ManifestWriter._with_partition = _with_partition  # type: ignore[method-assign]


_memoize_avro_writers()




def _table_at(iceberg: Any, identifier: tuple[str, ...], location: str) -> Table:
    """The table as of its metadata file ``location``, parsed once per process (:class:`_ParsedMetadata`):
    how the SQL catalog's loads, its commits and :meth:`Catalog.load_at` all build a table."""
    from pyiceberg.io import load_file_io
    from pyiceberg.serializers import FromInputFile

    metadata = _ParsedMetadata.get(location, lambda: FromInputFile.table_metadata(
        load_file_io(properties=iceberg.properties, location=location).new_input(location)))
    return Table(identifier=identifier, metadata=metadata, metadata_location=location,
                 io=iceberg._load_file_io(metadata.properties, location), catalog=iceberg)


def _memoize_sql_catalog_metadata() -> None:
    """Route the SQL catalog's metadata reads and writes through :class:`_ParsedMetadata`."""
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.serializers import ToOutputFile

    if getattr(SqlCatalog, "_rat_memoized", False):
        return
    original = SqlCatalog._convert_orm_to_iceberg

    def convert(self: Any, orm_table: Any) -> Any:
        location = orm_table.metadata_location
        if not location or not orm_table.table_namespace or not orm_table.table_name:
            return original(self, orm_table)  # pyiceberg's own errors
        from pyiceberg.catalog import Catalog as BaseCatalog

        identifier = (*BaseCatalog.identifier_to_tuple(orm_table.table_namespace), orm_table.table_name)
        return _table_at(self, identifier, location)

    def write_metadata(metadata: Any, io: Any, metadata_path: str) -> None:
        ToOutputFile.table_metadata(metadata, io.new_output(metadata_path))
        _ParsedMetadata.put(metadata_path, metadata)

    SqlCatalog._convert_orm_to_iceberg = convert  # type: ignore[method-assign]
    SqlCatalog._write_metadata = staticmethod(write_metadata)  # type: ignore[method-assign,assignment]
    SqlCatalog._rat_memoized = True  # type: ignore[attr-defined]


_memoize_sql_catalog_metadata()


def _pointer_statements(iceberg: Any) -> tuple[Any, Any]:
    """The SQL catalog's "current metadata file of a table" query and its compare-and-set update, built once
    per catalog with bound parameters (``c``, ``ns``, ``n``; the update also ``old``, ``new``): building the
    ORM expressions anew cost more than running them."""
    cached = getattr(iceberg, "_rat_pointer_statements", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    from pyiceberg.catalog.sql import IcebergTables
    from sqlalchemy import bindparam, select, update

    row = (IcebergTables.catalog_name == bindparam("c"), IcebergTables.table_namespace == bindparam("ns"),
           IcebergTables.table_name == bindparam("n"))
    query = select(IcebergTables.metadata_location).where(*row)
    type_filter = iceberg._iceberg_type_filter() if hasattr(iceberg, "_iceberg_type_filter") else None
    if type_filter is not None:
        query = query.where(type_filter)
    move = (update(IcebergTables).where(*row, IcebergTables.metadata_location == bindparam("old"))
            .values(metadata_location=bindparam("new"), previous_metadata_location=bindparam("old")))
    iceberg._rat_pointer_statements = (query, move)
    return query, move


def _lean_sql_commit() -> None:
    """A SQL catalog commit that does not load the table it is handed (ADR 0030).

    pyiceberg's ``SqlCatalog.commit_table`` first loads the table (an ORM query and a new ``Table`` with its
    file IO) to check the commit's requirements against, then updates the row through an ORM session that
    evaluates the ``WHERE`` in Python: ~2 ms of a DAG model's commit. Here the current metadata file is
    read from the row by one Core query and taken parsed from :class:`_ParsedMetadata` (a metadata file is
    immutable; the caller's table may hold staged changes, so it is not trusted for this); the requirements
    are checked against it as pyiceberg does, the new metadata written, and the row moved by one Core
    ``UPDATE … WHERE metadata_location = <current>``: a concurrent commit still makes it fail, as before.
    A new table, or a driver without reliable row counts, takes pyiceberg's own path.
    """
    from pyiceberg.catalog import Catalog as BaseCatalog
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.exceptions import CommitFailedException
    from pyiceberg.table import CommitTableResponse

    original = SqlCatalog.commit_table
    if getattr(original, "_rat_lean", False) or not hasattr(SqlCatalog, "_update_and_stage_table"):
        return

    def commit_table(self: Any, table: Any, requirements: Any, updates: Any) -> Any:
        if not self.engine.dialect.supports_sane_rowcount:
            return original(self, table, requirements, updates)
        identifier = table.name()
        namespace = BaseCatalog.namespace_to_string(BaseCatalog.namespace_from(identifier))
        name = BaseCatalog.table_name_from(identifier)
        query, move = _pointer_statements(self)
        key = {"c": self.name, "ns": namespace, "n": name}
        with self.engine.connect() as conn:
            current = conn.execute(query, key).scalar()
        if not current:
            return original(self, table, requirements, updates)
        # the caller's table may hold staged changes (a schema not yet current): the file is what counts
        base = _table_at(self, identifier, current)
        staged = self._update_and_stage_table(base, identifier, requirements, updates)
        if staged.metadata == base.metadata:
            return CommitTableResponse(metadata=base.metadata, metadata_location=current)
        self._write_metadata(metadata=staged.metadata, io=staged.io, metadata_path=staged.metadata_location)
        with self.engine.begin() as conn:
            moved = conn.execute(move, {**key, "old": current, "new": staged.metadata_location})
        if moved.rowcount < 1:
            raise CommitFailedException(f"Table has been updated by another process: {namespace}.{name}")
        return CommitTableResponse(metadata=staged.metadata, metadata_location=staged.metadata_location)

    commit_table._rat_lean = True  # type: ignore[attr-defined]
    commit_table._rat_original = original  # type: ignore[attr-defined]
    SqlCatalog.commit_table = commit_table  # type: ignore[method-assign]


_lean_sql_commit()

_TRANSFORMS = {"identity": IdentityTransform, "day": DayTransform, "month": MonthTransform,
               "year": YearTransform, "hour": HourTransform}


def build_iceberg_catalog(settings: Settings) -> IcebergCatalog:
    props: dict[str, Any] = {"warehouse": settings.resolved_warehouse, **settings.s3.pyiceberg_properties()}
    props.update(settings.catalog_properties)
    if settings.catalog_type == "rest":
        return load_catalog("rat", type="rest", uri=settings.catalog_uri, **props)
    uri = settings.resolved_catalog_uri
    warehouse = urlparse(settings.resolved_warehouse)
    if warehouse.scheme == "file":
        os.makedirs(warehouse.path, exist_ok=True)
    folder = sqlite_folder(uri)
    if folder is None:
        return load_catalog("rat", type="sql", uri=uri, **props)
    folder.mkdir(parents=True, exist_ok=True)
    # pyiceberg creates its tables check-then-create: two processes on a fresh file would both create them.
    with init_lock(folder):
        _enable_wal(uri[len("sqlite:///"):])
        catalog = load_catalog("rat", type="sql", uri=uri, **props)
    _sync_normal(catalog)
    return catalog


def _sync_normal(catalog: IcebergCatalog) -> None:
    """Every connection of the SQLite catalog with ``synchronous=NORMAL``, like the platform state's.

    In WAL mode, NORMAL syncs the log at checkpoints instead of on every commit: a commit stays atomic and
    the file consistent after any crash; after a power loss the last commits may roll back, to an older
    pointer whose files were written earlier. FULL (SQLite's default) would fsync each pointer move while
    the metadata, manifest and data files it points to are written without one, so it buys no durability
    for the table and costs a sync on the critical path of every run's commit."""
    from sqlalchemy import event

    engine = getattr(catalog, "engine", None)
    if engine is None:
        return

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections opened while the catalog set itself up get the pragma too, when reopened


def _enable_wal(path: str) -> None:
    """Switch the file to WAL once (the mode is stored in the file); reading the mode takes no lock."""
    import sqlite3

    conn = sqlite3.connect(path, timeout=30)
    try:
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


class Catalog:
    """Pipeline-shaped access to the Iceberg catalog."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.iceberg = build_iceberg_catalog(settings)
        self._known: set[tuple[str, str]] = set()

    def load(self, pid: PipelineId) -> Table | None:
        try:
            return self.iceberg.load_table(pid.table_identifier)
        except (NoSuchTableError, NoSuchNamespaceError):
            return None

    def load_at(self, pid: PipelineId, location: str) -> Table | None:
        """The table as of the metadata file ``location`` that :meth:`metadata_location` just named: what
        :meth:`load` would return, without asking the catalog again (on a SQL catalog, the ORM query and
        row conversion cost as much as the parse). Falls back to :meth:`load` when the file cannot be read
        (the table was dropped meanwhile) or the catalog is not a SQL one."""
        from pyiceberg.catalog.sql import SqlCatalog

        iceberg = self.iceberg
        if not isinstance(iceberg, SqlCatalog):
            return self.load(pid)
        try:
            return _table_at(iceberg, pid.table_identifier, location)
        except (OSError, ValueError):
            return self.load(pid)

    def metadata_location(self, pid: PipelineId) -> str | None:
        """The table's current metadata file as the catalog records it, without loading the table: one
        indexed query on a SQL catalog. None when the table does not exist, the query fails, or the catalog
        has no such cheap call (REST): callers then load the table."""
        from pyiceberg.catalog.sql import SqlCatalog
        from sqlalchemy.exc import SQLAlchemyError

        iceberg = self.iceberg
        if not isinstance(iceberg, SqlCatalog):
            return None
        query, _ = _pointer_statements(iceberg)
        key = {"c": iceberg.name, "ns": ".".join(pid.table_identifier[:-1]), "n": pid.table_identifier[-1]}
        try:
            with iceberg.engine.connect() as conn:
                row = conn.execute(query, key).first()
        except SQLAlchemyError:
            return None
        return str(row[0]) if row and row[0] else None

    def exists(self, pid: PipelineId) -> bool:
        return self.load(pid) is not None

    def ensure_namespace(self, namespace: str, layer: str, *, cached: bool = True) -> None:
        """Create the namespace and its layer if they are not there. ``cached=False`` asks the catalog even
        when this process created them before: they may have been deleted (and re-created) elsewhere since."""
        if cached and (namespace, layer) in self._known:
            return
        for ident in ((namespace,), (namespace, layer)):
            try:
                self.iceberg.create_namespace(ident)
            except NamespaceAlreadyExistsError:
                pass
            except Exception:
                # Two workers creating the same namespace at once: the loser gets a driver error.
                if not self._namespace_exists(ident):
                    raise
        self._known.add((namespace, layer))

    def _namespace_exists(self, ident: tuple[str, ...]) -> bool:
        try:
            self.iceberg.load_namespace_properties(ident)
            return True
        except NoSuchNamespaceError:
            return False

    def table_location(self, pid: PipelineId) -> str:
        """Where a new table's files go (the same layout pyiceberg's SQL catalog uses by default)."""
        return f"{self.settings.resolved_warehouse.rstrip('/')}/{pid.namespace}.{pid.layer}/{pid.name}"

    def create(self, pid: PipelineId, schema: pa.Schema,
               partition_by: tuple[PartitionConfig, ...] = (), location: str | None = None) -> Table:
        self.ensure_namespace(pid.namespace, pid.layer)
        try:
            table = self.iceberg.create_table(pid.table_identifier, schema=schema, location=location,
                                              properties=TABLE_PROPERTIES)
        except NoSuchNamespaceError:  # dropped since we cached it
            self._known.discard((pid.namespace, pid.layer))
            self.ensure_namespace(pid.namespace, pid.layer)
            table = self.iceberg.create_table(pid.table_identifier, schema=schema, location=location,
                                              properties=TABLE_PROPERTIES)
        if partition_by:
            with table.update_spec() as spec:
                for p in partition_by:
                    spec.add_field(p.column, _TRANSFORMS[p.transform](), f"{p.column}_{p.transform}")
            table = self.iceberg.load_table(pid.table_identifier)
        return table

    def drop(self, pid: PipelineId) -> None:
        try:
            self.iceberg.drop_table(pid.table_identifier)
        except (NoSuchTableError, NoSuchNamespaceError):
            pass

    def rename(self, pid: PipelineId, new: PipelineId) -> bool:
        """Rename the table of ``pid`` to ``new`` in the catalog (its snapshots, history and files stay as
        they are); False when there is no such table."""
        if not self.exists(pid):
            return False
        try:
            self.iceberg.rename_table(pid.table_identifier, new.table_identifier)
        except TableAlreadyExistsError:
            raise Conflict(f"a table {new} already exists in the catalog") from None
        return True

    def locations(self) -> dict[PipelineId, str | None]:
        """Every RAT table and its current metadata location, in one catalog round trip when possible."""
        engine = getattr(self.iceberg, "engine", None)
        if engine is not None:
            from sqlalchemy import text

            with engine.connect() as conn:
                rows = conn.execute(text(
                    "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables "
                    "WHERE catalog_name = :c"), {"c": self.iceberg.name}).fetchall()
            out: dict[PipelineId, str | None] = {}
            for ns, name, location in rows:
                parts = str(ns).split(".")
                if len(parts) == 2:
                    try:
                        out[PipelineId.of(parts[0], parts[1], name)] = location
                    except Exception:  # noqa: BLE001 - tables created outside RAT with other names
                        continue
            return out
        result: dict[PipelineId, str | None] = {}
        for pid in self.list_tables():
            table = self.load(pid)
            if table is not None:
                result[pid] = table.metadata_location
        return result

    def drop_namespace(self, namespace: str) -> int:
        """Drop every table of a namespace, then the namespace itself."""
        tables = self.list_tables(namespace)
        for pid in tables:
            self.drop(pid)
        try:
            for ident in self.iceberg.list_namespaces((namespace,)):
                self.iceberg.drop_namespace(ident)
            self.iceberg.drop_namespace((namespace,))
        except NoSuchNamespaceError:
            pass
        self._known = {k for k in self._known if k[0] != namespace}
        return len(tables)

    def list_tables(self, namespace: str | None = None) -> list[PipelineId]:
        out: list[PipelineId] = []
        try:
            top = [(namespace,)] if namespace else self.iceberg.list_namespaces()
        except NoSuchNamespaceError:
            return []
        for ns in top:
            try:
                layers = self.iceberg.list_namespaces(ns)
            except NoSuchNamespaceError:
                continue
            for layer_ns in layers:
                if len(layer_ns) != 2:
                    continue
                for ident in self.iceberg.list_tables(layer_ns):
                    try:
                        out.append(PipelineId.of(ident[0], ident[1], ident[2]))
                    except Exception:  # noqa: BLE001 - tables created outside RAT with other names
                        continue
        return sorted(out)


__all__ = ["UNPARTITIONED_PARTITION_SPEC", "Catalog", "PartitionField", "PartitionSpec", "build_iceberg_catalog"]

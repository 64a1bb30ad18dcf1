"""Bounded table metadata: a table's commit cost must not grow with the number of runs it has had.

Every Iceberg commit writes a new ``metadata.json`` that carries every live snapshot and every earlier
metadata file in its logs. Left alone, a pipeline that runs every minute pays a little more per commit for
each run before it (ADR 0018). Three things keep it flat:

- table properties RAT sets when it creates a table (and, for a table created before, in the same commit
  that publishes its next successful run — never on a failed run): keep the last
  ``write.metadata.previous-versions-max`` metadata files and delete older ones after each commit, and merge
  small manifests on append;
- the commit that moves ``main`` (a direct write or a run's publish) also expires the oldest snapshots
  beyond the table's ``rat.history.max-snapshots`` (:func:`beyond_bound`; no snapshot a branch or tag points
  at is touched), so a table at its bound pays no commit of its own for it; :func:`trim`, run after a
  successful publish, catches up where another writer let a table grow past the bound;
- the reaper, which still expires snapshots by age and deletes the files nothing references any more.
"""

from __future__ import annotations

import functools
from typing import Any

MAX_SNAPSHOTS_PROPERTY = "rat.history.max-snapshots"
DEFAULT_MAX_SNAPSHOTS = 50
# :func:`trim` (a commit of its own) runs only when this many snapshots above the bound have piled up.
TRIM_SLACK = 10

TABLE_PROPERTIES: dict[str, str] = {
    "write.metadata.previous-versions-max": "20",
    "write.metadata.delete-after-commit.enabled": "true",
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "16",
    MAX_SNAPSHOTS_PROPERTY: str(DEFAULT_MAX_SNAPSHOTS),
}


def missing_properties(table: Any) -> dict[str, str]:
    """The bounding properties a table does not have yet. A value someone set on purpose is never overridden."""
    current = table.metadata.properties
    return {k: v for k, v in TABLE_PROPERTIES.items() if k not in current}


def max_snapshots(table: Any) -> int:
    return _bound(table.metadata)


def _bound(metadata: Any) -> int:
    try:
        value = int(metadata.properties.get(MAX_SNAPSHOTS_PROPERTY, DEFAULT_MAX_SNAPSHOTS))
    except ValueError:
        return DEFAULT_MAX_SNAPSHOTS
    return max(1, value)


def beyond_bound(metadata: Any, slack: int = 0) -> list[int]:
    """The ids of the oldest snapshots beyond the bound of a table with this ``metadata`` (none until it holds
    more than bound + ``slack``). Snapshots a ref points at (``main``, a running run's branch, a tag) are kept
    whatever their age.

    The commit that moves ``main`` expires them with its own updates (``slack=0``): one snapshot in, one out,
    and nothing else to commit. Expiring in a commit of its own every ``TRIM_SLACK`` runs made one run in ten
    pay a second catalog commit (ADR 0018).
    """
    keep = _bound(metadata)
    if len(metadata.snapshots) <= keep + slack:
        return []
    snapshots = sorted(metadata.snapshots, key=lambda s: (s.timestamp_ms, s.sequence_number or 0))
    protected = {ref.snapshot_id for ref in metadata.refs.values()}
    return [s.snapshot_id for s in snapshots[:-keep] if s.snapshot_id not in protected]


def expiry(metadata: Any) -> tuple[Any, ...]:
    """The update that expires the snapshots beyond the bound of a table with this ``metadata``, for the
    commit that moves ``main`` to carry with its own (empty when there is nothing to expire)."""
    from pyiceberg.table.update import RemoveSnapshotsUpdate

    expired = beyond_bound(metadata)
    return (RemoveSnapshotsUpdate(snapshot_ids=expired),) if expired else ()


def trim(table: Any) -> int:
    """Expire the oldest snapshots beyond the table's bound, in one commit; returns how many went.

    Called after ``main`` was published, so it never touches what a failed run must leave alone; a no-op
    unless the table is ``TRIM_SLACK`` past its bound (the publish commit expires as it goes).
    """
    expired = beyond_bound(table.metadata, TRIM_SLACK)
    if expired:
        table.maintenance.expire_snapshots().by_ids(expired).commit()
    return len(expired)


def overwrite(update: Any, commit_uuid: Any = None) -> Any:
    """``update.overwrite()`` that does not carry dead manifests into the new snapshot.

    pyiceberg's overwrite keeps every manifest of the parent whose entries are all DELETED (what the previous
    overwrite removed): a table rewritten by each run gains one such manifest per run, and every later commit
    and scan opens them all. They describe no live file, so the new snapshot can leave them out (Iceberg's
    own writers drop them too); the snapshot that deleted those files still lists them.
    """
    producer = update.overwrite(commit_uuid=commit_uuid)
    producer.__class__ = _live_overwrite()
    return producer


@functools.cache
def _live_overwrite() -> type:
    """The producer class of :func:`overwrite`, made once per process (pyiceberg imported on first use):
    a class per commit would pile up in a long-lived worker, with every class derived from it."""
    from pyiceberg.table.update.snapshot import _OverwriteFiles

    class _LiveOverwrite(_OverwriteFiles):
        def _existing_manifests(self) -> list[Any]:
            return [m for m in super()._existing_manifests() if m.has_added_files() or m.has_existing_files()]

    return _LiveOverwrite

"""Namespace delete against run submission on a shared PostgreSQL state store, from two workspaces (two
connections, as two servers would be): the advisory lock that serialises submissions serialises the delete
too, so a deleted namespace never gets a run or keeps a table."""

from __future__ import annotations

import threading

from rat_jupyter.core.errors import Conflict, NotFound
from rat_jupyter.core.settings import Settings
from rat_jupyter.core.workspace import Workspace
from tests.conftest import make_pipeline
from tests.fixtures.postgres import PostgresServer, postgres  # noqa: F401

SLOW = "import time\ntime.sleep(0.3)\nresult = pa.table({'v': [1]})\n"


def test_namespace_delete_and_submission_are_serialised_across_connections(
        postgres: PostgresServer, tmp_path) -> None:  # noqa: F811
    url = postgres.create_database("nsrace")
    settings = Settings(data_dir=tmp_path, state_url=url, concurrency=1)
    server, client = Workspace.open(settings), Workspace.open(settings, server=False)
    outcomes = {"delete_won": 0, "submit_won": 0}
    try:
        for i in range(16):
            ns = f"race_{i}"
            server.create_namespace(ns)
            make_pipeline(server, ns, "bronze", "a", SLOW, type="python")
            barrier = threading.Barrier(2)
            result: dict[str, object] = {}

            def delete(ns: str = ns, barrier: threading.Barrier = barrier, result: dict = result) -> None:
                barrier.wait()
                try:
                    server.delete_namespace(ns)
                    result["deleted"] = True
                except Conflict:
                    result["deleted"] = False

            def submit(ns: str = ns, barrier: threading.Barrier = barrier, result: dict = result) -> None:
                barrier.wait()
                try:
                    (run,) = client.run_selection(f"{ns}.bronze.a")
                    result["run"] = run.id
                except NotFound:
                    result["run"] = None

            threads = [threading.Thread(target=delete), threading.Thread(target=submit)]
            if i % 2:
                threads.reverse()
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            if result["deleted"]:
                outcomes["delete_won"] += 1
                assert result["run"] is None
            else:
                outcomes["submit_won"] += 1
                (final,) = client.wait_for_runs([str(result["run"])], timeout=120)
                assert final["status"] == "success", final["error"]
                server.delete_namespace(ns)
            assert server.catalog.list_tables(ns) == []
            assert not [r for r in server.state.active_runs() if r["namespace"] == ns]
    finally:
        client.close()
        server.close()
    print(f"\nnamespace delete vs submit on PostgreSQL (16 races): {outcomes}")
    assert sum(outcomes.values()) == 16

"""The checks' DuckDB sessions (`quality/reading.Sql`): the sessions of a process are connections to one database,
each with its own temporary views and tables, freed when it closes; the spill folder goes with the process."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest

from music_pipeline.lake.store import Lake
from music_pipeline.quality import reading
from music_pipeline.quality.reading import Sql


def _memory(sql: Sql) -> int:
    return sql.scalar("SELECT SUM(memory_usage_bytes) FROM duckdb_memory()")


def test_sessions_share_a_database_but_not_their_tables(tmp_path):
    lake = Lake(str(tmp_path))
    with Sql(lake) as first:
        first.table("listens", pa.table({"user_id": ["u1", "u2"]}))
        first.materialize("repeated_listens", "SELECT range AS n FROM range(3000000)")
        assert _memory(first) > 10_000_000
        with Sql(lake) as second:
            assert second.con is not first.con
            first.con.execute("CREATE TABLE main.probe AS SELECT 1 AS one")  # not temporary: the database's own
            assert second.scalar("SELECT one FROM main.probe") == 1  # so both are connections to one database
            second.con.execute("DROP TABLE main.probe")
            with pytest.raises(Exception, match="listens"):
                second.query("SELECT * FROM listens")
            second.materialize("repeated_listens", "SELECT 7 AS n")  # the same name, its own table
            assert second.scalar("SELECT SUM(n) FROM repeated_listens") == 7
        assert first.scalar("SELECT COUNT(*) FROM repeated_listens") == 3_000_000
        assert first.scalar("SELECT COUNT(*) FROM listens") == 2
    with Sql(lake) as later:
        assert _memory(later) < 1_000_000  # the first session's table went with it
        assert later.scalar("SELECT current_setting('TimeZone')") == "UTC"


def test_a_session_spills_past_the_shared_memory_limit(tmp_path):
    with Sql(Lake(str(tmp_path)), memory_limit="64MB", threads=1) as sql:
        sql.materialize("ordered", "SELECT range AS n, md5(CAST(range AS VARCHAR)) AS h FROM range(2000000) ORDER BY h")
        assert sql.scalar("SELECT COUNT(DISTINCT h) FROM ordered") == 2_000_000
        assert sql.scalar("SELECT current_setting('memory_limit')") == "61.0 MiB"


def test_another_process_makes_its_own_database_and_removes_its_spill_folder(tmp_path, monkeypatch):
    with Sql(Lake(str(tmp_path))) as here:
        mine = here.scalar("SELECT current_setting('temp_directory')")
    monkeypatch.setattr(reading.os, "getpid", lambda: -1)  # as in a forked process
    with Sql(Lake(str(tmp_path))) as forked:
        theirs = forked.scalar("SELECT current_setting('temp_directory')")
    assert theirs != mine
    reading._close(reading._databases.pop((-1, reading.DUCKDB_MEMORY_LIMIT, 2)), theirs, -1)  # its exit, here
    assert not os.path.exists(theirs)

    script = (
        "from music_pipeline.lake.store import Lake\n"
        "from music_pipeline.quality.reading import Sql\n"
        f"with Sql(Lake({str(tmp_path)!r})) as sql:\n"
        "    print(sql.scalar(\"SELECT current_setting('temp_directory')\"))\n"
    )
    spill = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert "music-pipeline-checks-" in spill
    assert not os.path.exists(spill)


def test_a_forked_child_exiting_leaves_its_parents_database_and_spill_folder(tmp_path):
    with Sql(Lake(str(tmp_path))) as sql:
        spill = sql.scalar("SELECT current_setting('temp_directory')")
    database = reading._databases[(os.getpid(), reading.DUCKDB_MEMORY_LIMIT, 2)]
    reading._close(database, spill, os.getpid() + 1)  # the exit handler as a child inherits it
    assert os.path.isdir(spill)
    with Sql(Lake(str(tmp_path))) as sql:
        assert sql.scalar("SELECT 41 + 1") == 42

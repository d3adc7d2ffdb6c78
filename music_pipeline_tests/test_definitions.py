"""The public graph stays what it is unless a change means it: a snapshot of the code location (asset keys,
groups, partitioning, deps, kinds, checks with their blocking flags, jobs, sensors), and no module reading
the environment outside settings.py and the CLI entry point.

After an intended change of the graph: `UPDATE_DEFINITIONS_SNAPSHOT=1 pytest music_pipeline_tests/test_definitions.py`
rewrites the snapshot; review its diff like code."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

from music_pipeline.core import registry as tables
from music_pipeline.core.settings import Settings
from music_pipeline.core.specs import AssetTable
from music_pipeline.quality.scorecard import PUBLICATION

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")
ROOT = Path(__file__).resolve().parents[1]
ALLOWED_ENVIRONMENT_READERS = {
    "music_pipeline/core/settings.py",
    "music_pipeline_tools/cli.py",
    "music_pipeline_tools/local_stack.py",
    "music_pipeline_tools/rehearsal.py",
    "music_pipeline_tools/postgres.py",
    "music_pipeline_tools/dev.py",
    "music_pipeline_tools/state.py",
}  # settings, and the tools' entry points and what sets variables for the processes they launch


def snapshot_of(defs) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": type(node.partitions_def).__name__ if node.partitions_def else None,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "kinds": sorted(node.kinds),
            "checks": {c.name: graph.get(c).blocking for c in sorted(node.check_keys, key=lambda c: c.name)},
        }
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in defs.jobs or []),
        "sensors": sorted(s.name for s in defs.sensors or []),
        "schedules": sorted(s.name for s in defs.schedules or []),
    }


def test_the_code_location_matches_its_snapshot():
    from music_pipeline.definitions import build_definitions

    current = snapshot_of(build_definitions(Settings()))
    if os.environ.get("UPDATE_DEFINITIONS_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    for name in sorted(set(expected["assets"]) | set(current["assets"])):
        assert current["assets"].get(name) == expected["assets"].get(name), name
    assert current == expected


def test_the_snapshot_records_every_dep_and_blocking_flag_of_the_declarations():
    """Deps and blocking flags in the snapshot come from the Dagster graph itself and equal the declarations,
    so changing an input or a check's `blocking` in tables.py changes the snapshot (and fails the test above)."""
    from music_pipeline.definitions import build_definitions
    from music_pipeline.quality.catalog import CHECKS

    current = snapshot_of(build_definitions(Settings()))["assets"]
    for t in tables.ASSETS:
        published = [PUBLICATION.to_user_string()] if t.name == "data_quality_daily" else []  # timeliness needs it
        assert current[t.name]["deps"] == sorted([n for n in t.inputs if isinstance(tables.table(n), AssetTable)] + published)
        assert current[t.name]["checks"] == {c.name: c.blocking for c in CHECKS[t.name]}, t.name
    for s in tables.SERVINGS:
        assert current[s.asset]["deps"] == sorted(s.sources)
        assert current[s.asset]["checks"] == {"matches_gold": False, "freshness_check": False}  # defs/operations.py
    assert current["validated_streams"]["checks"]["rows_conserved"] is True
    assert current["validated_streams"]["checks"]["rejected_share"] is True  # a day above the limit is held
    assert current["validated_streams"]["checks"]["near_duplicates"] is False


def test_no_module_reads_the_environment_outside_settings():
    readers = []
    paths = [*(ROOT / "music_pipeline").rglob("*.py"), *(ROOT / "music_pipeline_tools").rglob("*.py")]
    for path in sorted(paths):
        if path.relative_to(ROOT).as_posix() in ALLOWED_ENVIRONMENT_READERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            name = ast.unparse(node) if isinstance(node, (ast.Attribute, ast.Call)) else ""
            if name in ("os.environ", "os.getenv") or name.startswith(("os.environ.", "os.getenv(")):
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert readers == []


def test_importing_the_code_location_reads_no_settings(monkeypatch):
    """A broken variable fails when the definitions are built, not when the module is imported."""
    import importlib

    import music_pipeline.definitions as definitions

    monkeypatch.setenv("MUSIC_PIPELINE_ENGINE", "no-such-engine")
    importlib.reload(definitions)  # no error: nothing is read at import time
    try:
        definitions.build_definitions(Settings.from_env())
    except ValueError as error:
        assert "MUSIC_PIPELINE_ENGINE" in str(error)
    else:
        raise AssertionError("a wrong engine must be refused when the definitions are built")

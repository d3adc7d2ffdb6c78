"""Where a local command keeps its state (the project folder, or `--project-dir`) and its DynamoDB endpoint."""

from __future__ import annotations

import argparse
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from music_pipeline.core.settings import PROJECT_ROOT, Settings


@dataclass(frozen=True)
class LocalState:
    """Where the local stack keeps its state (DESIGN section 7): under the project folder unless
    `--project-dir` says otherwise. The environment's DAGSTER_HOME / MUSIC_PIPELINE_LAKE win."""

    root: Path

    @property
    def env_file(self) -> Path:
        return self.root / ".env"

    @property
    def dynamodb(self) -> Path:
        return self.root / ".data" / "dynamodb"

    @property
    def lake(self) -> Path:
        return self.root / ".data" / "lake"

    @property
    def dagster_home(self) -> Path:
        return self.root / ".dagster_home"

    def activate(self, dagster_home: bool = True) -> None:
        """Read the project's `.env` (the environment wins, as in `dagster dev`), then default the
        lake and the Dagster home to this state's and give the home the quiet dagster.yaml."""
        from music_pipeline_tools.local_stack import load_env_file, prepare_dagster_home

        load_env_file(self.env_file)
        os.environ.setdefault("MUSIC_PIPELINE_LAKE", str(self.lake))
        if dagster_home:
            os.environ.setdefault("DAGSTER_HOME", str(self.dagster_home))
            prepare_dagster_home(os.environ["DAGSTER_HOME"])


def state_of(args: argparse.Namespace) -> LocalState:
    return LocalState(Path(args.project_dir).resolve() if args.project_dir else PROJECT_ROOT)


def endpoint(state: LocalState, verbose: bool = True):
    """The DynamoDB endpoint of a local command: the configured one, AWS itself for an S3 lake,
    else the persistent local endpoint on the state's tables (started when none runs)."""
    from music_pipeline_tools.local_stack import configured_endpoint, persistent_dynamodb

    if not configured_endpoint() and Settings.from_env().lake.startswith("s3://"):
        return contextlib.nullcontext(None)
    return persistent_dynamodb(state.dynamodb, verbose=verbose)

"""The one SQL loader: `<domain>/sql/<name>.sql` of any domain package, `$param` placeholders filled in.

SQL file names are unique across the package (a test holds them so), so a name finds its file
wherever its domain keeps it; package resources work from the Glue library zip too.
"""

from __future__ import annotations

import string
from functools import cache
from importlib import resources


@cache
def _sql_files() -> dict[str, str]:
    """name -> text of every `sql/*.sql` one level under a package of `music_pipeline`."""
    files: dict[str, str] = {}
    for package in resources.files("music_pipeline").iterdir():
        folder = package.joinpath("sql")
        if not package.is_dir() or not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name.endswith(".sql"):
                name = entry.name.removesuffix(".sql")
                if name in files:
                    raise RuntimeError(f"two SQL files named {name}.sql under music_pipeline")
                files[name] = entry.read_text()
    return files


def sql_names() -> list[str]:
    return sorted(_sql_files())


def load_sql(name: str, **params: object) -> str:
    """Text of the SQL file `name` with `$param` placeholders filled in."""
    try:
        text = _sql_files()[name]
    except KeyError:
        raise ValueError(f"no SQL file {name}.sql; known: {', '.join(sql_names())}") from None
    return string.Template(text).substitute({k: str(v) for k, v in params.items()})

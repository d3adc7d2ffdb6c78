"""The AWS::Glue::Table resources of infra/cloudformation.yaml, written from `lake/catalog.py`.

    python -m music_pipeline_tools.catalog_template   # prints the block to paste over the template's

The template is plain YAML for reviewers and linters, so the tables are written out there; this prints them
from the registry when a contract changes, and music_pipeline_tests/tools/test_catalog.py fails until the
template holds exactly what `catalog.glue_table_input` derives (names, columns, types, partition keys,
projection). The lake is `s3://${LakeBucket}` and the projection starts at the `StartDate` parameter.
"""

from __future__ import annotations

import json

from music_pipeline.core import registry
from music_pipeline.lake.catalog import glue_table_input

LAKE = "s3://${LakeBucket}"
START = "${StartDate}"


def logical_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + "CatalogTable"


def _scalar(value: str) -> str:
    """A quoted YAML scalar; `!Sub` when it names a template parameter (`${date}` stays Athena's: `${!date}`)."""
    if "${" not in value:
        return json.dumps(value)
    return "!Sub " + json.dumps(value.replace("${date}", "${!date}"))


def _flow(mapping: dict) -> str:
    return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in mapping.items()) + "}"


def resource(name: str) -> list[str]:
    table = glue_table_input(registry.table(name), LAKE, START)
    storage = table["StorageDescriptor"]
    lines = [
        f"  {logical_id(name)}:",
        "    Type: AWS::Glue::Table",
        "    Properties:",
        '      CatalogId: !Ref "AWS::AccountId"',
        "      DatabaseName: !Ref CatalogDatabase",
        "      TableInput:",
        f"        Name: {_scalar(table['Name'])}",
        f"        Description: {_scalar(table['Description'])}",
        f"        TableType: {_scalar(table['TableType'])}",
        "        Parameters:",
        *(f"          {key}: {_scalar(value)}" for key, value in table["Parameters"].items()),
        "        PartitionKeys:" + ("" if table["PartitionKeys"] else " []"),
        *(f"          - {_flow(key)}" for key in table["PartitionKeys"]),
        "        StorageDescriptor:",
        f"          Location: {_scalar(storage['Location'])}",
        f"          InputFormat: {_scalar(storage['InputFormat'])}",
        f"          OutputFormat: {_scalar(storage['OutputFormat'])}",
        "          SerdeInfo:",
        f"            SerializationLibrary: {_scalar(storage['SerdeInfo']['SerializationLibrary'])}",
        f"            Parameters: {_flow(storage['SerdeInfo']['Parameters'])}",
        "          Columns:",
        *(f"            - {_flow(column)}" for column in storage["Columns"]),
    ]
    return lines


def render() -> str:
    blocks = ["\n".join(resource(t.name)) for t in registry.LAKE_TABLES]
    return "\n\n".join(blocks) + "\n"


if __name__ == "__main__":
    print(render(), end="")

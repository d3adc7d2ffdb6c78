"""A day's publication is all or nothing for readers (issue 27, part 2): at every single write of a publish a
reader sees the previous complete version of the day or the new complete one; a publish that dies at any
write leaves a complete version served and the next publish repairs the rest; one publisher of a day at a
time; range reads take each day from the copy that serves it; a publish throttled past every retry (a
fault-injecting proxy in front of a moto server) fails the run, keeps the previous day served, and the same
command publishes the whole new day once DynamoDB recovers."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pyarrow as pa
import pytest
from boto3.dynamodb.conditions import Key

from music_pipeline.core import faults, layout
from music_pipeline.core.specs import DynamoTable
from music_pipeline.lake import aws
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables, rows_to_items
from music_pipeline.serving.pointers import DayBeingPublished
from music_pipeline_tests.fault_proxy import Fault, FaultProxy, Request
from music_pipeline_tests.helpers import land, materialize_days, song_row, stream_csv, write_songs, write_users

DAY = "2024-06-01"
GENRES = serving_tables.DAILY_GENRE_KPIS_SERVING
METRICS = serving_tables.DAILY_METRICS_SERVING


def genre_items(day: str, counts: dict[str, int]) -> list[dict]:
    rows = [{"date": dt.date.fromisoformat(day), "genre": g, "listen_count": n, "unique_listeners": 1} for g, n in counts.items()]
    return rows_to_items(GENRES, pa.Table.from_pylist(rows))


def metric_items(day: str, counts: dict[str, int]) -> list[dict]:
    return [
        {
            "metric_type": "listens_by_country",
            "metric_key": f"{day}#country={c}",
            "date": day,
            "value": Decimal(n),
            "unit": "count",
            "dimensions": {"country": c},
        }
        for c, n in counts.items()
    ]


def state(items: list[dict]) -> frozenset:
    """What a reader sees of a day: each item's key and value."""
    return frozenset((str(i.get("genre") or i["metric_key"]), int(i.get("listen_count") or i["value"])) for i in items)


OLD = {f"g{k:02d}": k + 1 for k in range(30)}  # 30 items: more than one batch
NEW = {**{f"g{k:02d}": 100 + k for k in range(10, 40)}}  # 10 gone, 20 changed, 10 added
CASES = {"DailyGenreKPIs": (GENRES.table, genre_items), "DailyMetrics (read by its date index)": (METRICS.table, metric_items)}


class Stepwise:
    """A boto3 Table whose every write is one request, followed by a look (`observe`) of a reader."""

    def __init__(self, table, observe):
        self._table, self._observe = table, observe

    def __getattr__(self, name):
        return getattr(self._table, name)

    def update_item(self, **kwargs):
        answer = self._table.update_item(**kwargs)
        self._observe()
        return answer

    def batch_writer(self, **_):
        table, observe = self._table, self._observe

        class Writer:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def put_item(self, Item):  # noqa: N803 - boto3's names
                table.put_item(Item=Item)
                observe()

            def delete_item(self, Key):  # noqa: N803
                table.delete_item(Key=Key)
                observe()

        return Writer()


class SteppedTables(ServingTables):
    def __init__(self, observe):
        super().__init__()
        self.observe = observe

    def table(self, spec: DynamoTable):
        return Stepwise(super().table(spec), self.observe)


@pytest.mark.parametrize("case", list(CASES))
def test_a_reader_sees_the_old_or_the_new_complete_day_at_every_write(mocked_aws, case):
    spec, items_of = CASES[case]
    reader = ServingTables()
    reader.ensure()
    reader.replace_day(spec, DAY, items_of(DAY, OLD))
    old, new = state(items_of(DAY, OLD)), state(items_of(DAY, NEW))
    assert state(reader.day_items(spec, DAY)) == old

    seen: list[frozenset] = []
    SteppedTables(lambda: seen.append(state(reader.day_items(spec, DAY)))).replace_day(spec, DAY, items_of(DAY, NEW))
    assert len(seen) > 100  # every put and delete of both copies and each switch was looked at
    assert set(seen) == {old, new}  # never a part, never a mix
    assert seen.index(new) > 30 and seen[-1] == new  # the old day was served while the new one was staged
    assert state(reader.day_items(spec, DAY)) == new
    staged = reader.table(serving_tables.staging(spec)).scan()["Items"]
    assert staged == []  # the staging copy is cleared once the live table serves the new day


@pytest.mark.parametrize(
    "crash_at", [1, 17, 31, 32, 33, 50, 72, 73, 74, 103]
)  # of 103 writes: claim, 30 staged, switch, 40 live, switch, 30 cleared
def test_a_publish_that_dies_at_any_write_leaves_a_complete_day_and_the_next_one_repairs_it(mocked_aws, crash_at):
    spec = GENRES.table
    reader = ServingTables()
    reader.ensure()
    reader.replace_day(spec, DAY, genre_items(DAY, OLD))
    old, new = state(genre_items(DAY, OLD)), state(genre_items(DAY, NEW))
    writes = {"n": 0}

    def crash():
        writes["n"] += 1
        if writes["n"] == crash_at:
            raise ConnectionError("the publisher's connection dropped")

    with pytest.raises(ConnectionError):
        SteppedTables(crash).replace_day(spec, DAY, genre_items(DAY, NEW))
    assert state(reader.day_items(spec, DAY)) in (old, new)
    pointer = reader.table(serving_tables.PUBLISHED_DAYS).get_item(Key={"table": spec.name, "date": DAY})["Item"]
    assert "writer" not in pointer  # the claim was given back: the next run need not wait for it to expire

    assert reader.replace_day(spec, DAY, genre_items(DAY, NEW))["version"] >= 2
    assert state(reader.day_items(spec, DAY)) == new
    assert reader.table(serving_tables.staging(spec)).scan()["Items"] == []


def test_one_publisher_of_a_day_at_a_time(mocked_aws):
    spec, tables = GENRES.table, ServingTables()
    tables.ensure()
    tables.pointers.claim(spec.name, DAY, "another-run")
    with pytest.raises(DayBeingPublished, match="being published by another run") as error:
        tables.replace_day(spec, DAY, genre_items(DAY, OLD))
    assert faults.is_transient(error.value)  # the asset's retries wait for the other run
    assert tables.day_items(spec, DAY) == []

    tables.table(serving_tables.PUBLISHED_DAYS).update_item(  # the other run died: its claim expires
        Key={"table": spec.name, "date": DAY},
        UpdateExpression="SET claimed_until = :past",
        ExpressionAttributeValues={":past": int(time.time()) - 1},
    )
    assert tables.replace_day(spec, DAY, genre_items(DAY, OLD))["written"] == 30
    assert state(tables.day_items(spec, DAY)) == state(genre_items(DAY, OLD))


def test_range_reads_take_each_day_from_the_copy_that_serves_it(mocked_aws):
    spec, tables = GENRES.table, ServingTables()
    tables.ensure()
    for n, day in enumerate(("2024-06-01", "2024-06-02", "2024-06-03")):
        tables.replace_day(spec, day, genre_items(day, {"pop": n + 1, "rock": 10}))
    # 2024-06-02 caught between its switches: served from staging (pop 50), the live copy half rewritten (pop 99)
    pointers, twin = tables.pointers, serving_tables.staging(spec)
    current = pointers.claim(spec.name, "2024-06-02", "w")
    tables.table(twin).put_item(Item=genre_items("2024-06-02", {"pop": 50})[0])
    tables.table(twin).put_item(Item=genre_items("2024-06-02", {"rock": 50})[0])
    pointers.switch(spec.name, "2024-06-02", "w", type(current)("staging", current.version + 1, 2), release=False)
    tables.table(spec).put_item(Item=genre_items("2024-06-02", {"pop": 99})[0])

    pop = tables.query_items(spec, Key("genre").eq("pop") & Key("date").between("2024-06-01", "2024-06-03"), "genre-date-index")
    assert sorted((i["date"], int(i["listen_count"])) for i in pop) == [("2024-06-01", 1), ("2024-06-02", 50), ("2024-06-03", 3)]
    assert state(tables.day_items(spec, "2024-06-02")) == {("pop", 50), ("rock", 50)}
    every = sorted((i["date"], i["genre"], int(i["listen_count"])) for i in tables.all_items(spec))
    assert every == [
        ("2024-06-01", "pop", 1),
        ("2024-06-01", "rock", 10),
        ("2024-06-02", "pop", 50),
        ("2024-06-02", "rock", 50),
        ("2024-06-03", "pop", 3),
        ("2024-06-03", "rock", 10),
    ]


# --------------------------------------------------------------------------------- end to end, over HTTP
def published(endpoint: str) -> dict[str, frozenset]:
    tables = ServingTables(endpoint_url=endpoint)
    return {
        s.table.name: frozenset(str(sorted(i.items())) for i in tables.day_items(s.table, DAY)) for s in serving_tables.SERVINGS
    }


def test_a_throttled_publish_keeps_the_previous_day_served_and_the_same_command_repairs_it(tmp_path, fresh_moto, monkeypatch):
    monkeypatch.setattr(faults, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(aws, "RETRIES", {"max_attempts": 2, "mode": "standard"})  # botocore gives up sooner
    root = tmp_path / "lake"
    write_songs(root, [song_row(f"s{g}", f"genre{g:02d}") for g in range(40)])
    write_users(root, [f"u{i}" for i in range(40)])
    land(root, f"{layout.RAW_STREAMS}/a.csv", stream_csv([(f"u{g}", f"s{g}", f"{DAY} 10:{g:02d}:00") for g in range(40)]))
    with FaultProxy(fresh_moto) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
        assert materialize_days(root, DAY).success
        before = published(fresh_moto)
        assert len(before["DailyGenreKPIs"]) == 40 and len(before["TopSongsPerGenre"]) == 40

        # a second delivery of the day doubles every genre's listens; DynamoDB then throttles the publish:
        # the first batch of each table goes through, every later one is refused past the retries
        land(root, f"{layout.RAW_STREAMS}/b.csv", stream_csv([(f"u{g}", f"s{g}", f"{DAY} 11:{g:02d}:00") for g in range(40)]))
        batches = {"n": 0}

        def after_the_first_batch(r: Request) -> bool:
            if r.dynamodb_operation != "BatchWriteItem":
                return False
            batches["n"] += 1
            return batches["n"] % 4 != 1

        proxy.add(
            Fault(
                "BatchWriteItem throttled",
                after_the_first_batch,
                Fault.dynamodb("BatchWriteItem", throttle=True).respond,
                seconds=3600,
            )
        )
        failed = materialize_days(root, DAY, raise_on_error=False)
        assert not failed.success
        assert sum(proxy.fired.values()) > 0
        during = published(fresh_moto)

        proxy.clear()  # DynamoDB recovers: the same command, no manual step
        assert materialize_days(root, DAY).success
    after = published(fresh_moto)
    for table, served in during.items():  # each table served one complete version: the previous or the new
        assert served in (before[table], after[table]), table
    assert during["DailyGenreKPIs"] == before["DailyGenreKPIs"] != after["DailyGenreKPIs"]  # 4 batches: it failed
    kpis = ServingTables(endpoint_url=fresh_moto).day_items(GENRES.table, DAY)
    assert len(kpis) == 40 and {int(i["listen_count"]) for i in kpis} == {2}
    assert len(published(fresh_moto)["TopSongsPerGenre"]) == 40


def after_the_first(operation: str) -> Fault:
    """Every `operation` request but the first answered 500: a publish that dies part-way, until cleared."""
    seen = {"n": 0}

    def matches(r: Request) -> bool:
        seen["n"] += r.dynamodb_operation == operation
        return r.dynamodb_operation == operation and seen["n"] > 1

    return Fault(f"{operation} after the first -> 500", matches, Fault.dynamodb(operation).respond, seconds=3600)


PUBLISHED, FAILED = "published", "failed"
PROXY_FAULTS = {  # the fault, and how the publish ends (None: either, depending on timing)
    "every other batch throttled": (
        lambda: Fault.dynamodb("BatchWriteItem", throttle=True, every=2, seconds=3600),
        PUBLISHED,  # botocore's retries absorb it
    ),
    "500 on three batches": (lambda: Fault.dynamodb("BatchWriteItem", status=500, times=3), PUBLISHED),
    "UnprocessedItems three times": (lambda: Fault.unprocessed_items(times=3), PUBLISHED),
    "503 on every write for 2 s, then recovery": (lambda: Fault.dynamodb("BatchWriteItem", status=503, seconds=2), None),
    "every batch after the first fails until cleared": (lambda: after_the_first("BatchWriteItem"), FAILED),
    "the pointer's writes fail until cleared": (lambda: Fault.dynamodb("UpdateItem", status=500, seconds=3600), FAILED),
}


@pytest.mark.parametrize("fault", list(PROXY_FAULTS))
def test_dynamodb_faults_end_with_the_clean_day_or_a_clean_failure_that_a_rerun_repairs(fresh_moto, monkeypatch, fault):
    monkeypatch.setattr(faults, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(aws, "RETRIES", {"max_attempts": 3, "mode": "standard"})
    spec, twin = METRICS.table, serving_tables.staging(METRICS.table)  # the table read through its date index
    reader = ServingTables(endpoint_url=fresh_moto)
    with FaultProxy(fresh_moto) as proxy:
        writer = ServingTables(endpoint_url=proxy.url)
        writer.ensure()
        writer.replace_day(spec, DAY, metric_items(DAY, OLD))
        old, new = state(metric_items(DAY, OLD)), state(metric_items(DAY, NEW))
        make, expected = PROXY_FAULTS[fault]
        proxy.add(make())
        try:
            faults.with_retries(lambda: writer.replace_day(spec, DAY, metric_items(DAY, NEW)))
            failed = False
        except Exception as error:
            assert faults.is_transient(error), error  # a clean failure: the run fails and is retried
            failed = True
        assert sum(proxy.fired.values()) > 0
        assert expected in (None, FAILED if failed else PUBLISHED), proxy.fired
        assert state(reader.day_items(spec, DAY)) == (old if failed else new)  # never a part of either
        if failed:
            proxy.clear()  # the service recovers: the same publish again
            writer.replace_day(spec, DAY, metric_items(DAY, NEW))
    assert state(reader.day_items(spec, DAY)) == new
    assert reader.table(twin).scan()["Items"] == []
    pointer = reader.pointers.get(spec.name, DAY)
    assert pointer.slot == "live" and pointer.items == len(NEW)

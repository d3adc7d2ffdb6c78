"""The arithmetic of docs/scale.md: `python -m benchmarks.scale_model` prints its tables.

Every input is a measurement (file and line) or a published price (docs/scale.md, "Prices"); every
assumption is named ASSUMED_*. Nothing here runs the pipeline.
"""

from __future__ import annotations

import math

# ------------------------------------------------------------------ measurements
# benchmarks/RESULTS.md:N below is line N of the 2026-12-01 full run (`git show c0e9a80:benchmarks/RESULTS.md`)
# benchmarks/RESULTS.md:57 and :64: the spark engine, local[2], one 10,000,000-listen day, seconds per step
SPARK_STEP_SECONDS_10M = {
    "validated_streams": 178.2,
    "genre_daily_kpis": 5.20,
    "top_songs_per_genre": 3.33,
    "top_genres_daily": 0.58,
    "daily_user_engagement": 23.6,
    "artist_daily_popularity": 13.5,
    "platform_usage_daily": 12.3,
}
LOCAL_CORES = 2  # benchmarks/RESULTS.md:3
# benchmarks/SCALE.md:15: CPU seconds per million listens inside the Spark tasks reading landed CSV (raw_streams)
INGEST_TASK_CPU_S_PER_M = 1.75
# benchmarks/SCALE.md:15: the run process's seconds (content hashes, decisions, publishing) for 4,000,000 listens
RUN_PROCESS_INGEST_S_PER_M = 1.0 / 4
# benchmarks/RESULTS.md:31: the asset checks of a 10,000,000-listen day, DuckDB in the run process, 2 cores (s)
CHECKS_SECONDS_10M = 8.65
# benchmarks/SCALE.md (validated_streams checks): the checks on Spark local[2] over the same checks on DuckDB in the
# run process, best wall seconds of one run each (issue 28 item 2: on the glue engine the checks run on Glue)
SPARK_CHECKS_FACTOR = 10.43
# quality/catalog.py: table assets with checks evaluated every day (raw_streams, validated_streams, six gold tables,
# data_quality_daily); on the glue engine each check op is one Glue job run (quality/engine_checks.py)
DAILY_CHECK_OPS = 9
# benchmarks/SCALE.md:14-15: bytes of 4,000,000 listens: landed CSV 136 MB, gzipped 35.5 MB, bronze Parquet 55.2 MB
CSV_B, GZIP_B, BRONZE_B = 136e6 / 4e6, 35.5e6 / 4e6, 55.2e6 / 4e6

# ------------------------------------------------------------------ prices (us-east-1; docs/scale.md, "Prices")
GLUE_DPU_HOUR = 0.44
DDB_WRITE_PER_M = 0.625
S3_PUT_PER_1000, S3_GET_PER_1000 = 0.005, 0.0004
S3_STANDARD_GB_MONTH, S3_DEEP_ARCHIVE_GB_MONTH = 0.023, 0.00099
FARGATE_VCPU_HOUR, FARGATE_GB_HOUR = 0.04048, 0.004445
RDS_T4G_MICRO_HOUR, RDS_GP3_GB_MONTH = 0.016, 0.115
HOURS_PER_MONTH = 730

# ------------------------------------------------------------------ assumptions
ASSUMED_VCPU_PER_DPU = 4  # a G.1X worker: 1 DPU = 4 vCPU, 16 GB (AWS Glue docs); one worker hosts the driver
ASSUMED_GLUE_VCPU_EQUALS_LOCAL_CORE = True  # a Glue vCPU does the work of one benchmark core: not measured on Glue
ASSUMED_LISTENS_PER_FILE = 2_000_000  # ~70 MB of CSV per landed file (the producer's choice)
ASSUMED_GENRES, ASSUMED_COUNTRIES, ASSUMED_DEVICES, ASSUMED_PLANS = 114, 250, 10, 4
ASSUMED_GLUE_START_S = 60  # allowance per Glue job run on the critical path (start-up not measured here)
WORKERS = {10_000_000: 2, 100_000_000: 5, 1_000_000_000: 20}  # G.1X workers per job run (2 = the template's default)
RETENTION_DAYS = {"bronze": 30, "validated": 90, "archive_standard": 90, "archive_deep": 7 * 365 - 90}


def vcpu_s_per_m(step_seconds_10m: float) -> float:
    return LOCAL_CORES * step_seconds_10m / 10


def steps(listens: int) -> dict[str, float]:
    """vCPU-seconds of each engine step for a day of `listens`."""
    m = listens / 1e6
    out = {"raw_streams (Spark tasks)": INGEST_TASK_CPU_S_PER_M * m}
    out.update({name: vcpu_s_per_m(s) * m for name, s in SPARK_STEP_SECONDS_10M.items()})
    return out


def glue_run(work_vcpu_s: float, workers: int, longest_task_s: float = 0.0) -> tuple[float, float]:
    """(billed DPU-hours, wall seconds) of one job run: executors are the workers but one, 1-minute minimum;
    never shorter than its longest task (ingestion: one landed file)."""
    executors = (workers - 1) * ASSUMED_VCPU_PER_DPU
    wall = max(work_vcpu_s / executors, longest_task_s)
    return workers * max(wall, 60) / 3600, wall


def items_per_day() -> int:
    """DynamoDB items of one published day (serving/tables.py, serving/sql/daily_metrics_items.sql)."""
    genre_kpis = ASSUMED_GENRES
    top_songs = 3 * ASSUMED_GENRES
    top_genres = 5
    per_day_metrics = 7 + 5  # engagement figures + quality scorecard
    per_value = ASSUMED_GENRES + (ASSUMED_DEVICES + 24 + ASSUMED_COUNTRIES + ASSUMED_PLANS) + 10  # + top 10 artists
    return genre_kpis + top_songs + top_genres + per_day_metrics + per_value


def model(listens: int) -> dict:
    workers = WORKERS[listens]
    one_file_s = INGEST_TASK_CPU_S_PER_M * ASSUMED_LISTENS_PER_FILE / 1e6
    per_step = {
        name: glue_run(work, workers, one_file_s if name.startswith("raw_streams") else 0.0)
        for name, work in steps(listens).items()
    }
    dpu_h = sum(b for b, _ in per_step.values())
    files = max(1, math.ceil(listens / ASSUMED_LISTENS_PER_FILE))
    items = items_per_day()
    wru = 3 * items + 4 * 4  # staging put, live put, staging delete per item; ~4 pointer writes per table
    # S3 requests per day: per landed file ~12 (listing, manifests x2 + read, content index, hash + read GETs per
    # 8 MB, slice PUT + COPY + DELETE per day); engine steps ~10 requests per input or output file; a margin x2
    mb_per_file = ASSUMED_LISTENS_PER_FILE * CSV_B / 1e6
    s3_put = 2 * (files * (6 + 3) + 9 * 20)
    s3_get = 2 * (files * (4 + 2 * math.ceil(mb_per_file / 8)) + 9 * 40)
    gb = listens / 1e9
    storage_gb = {
        "bronze (30 d)": BRONZE_B * gb * RETENTION_DAYS["bronze"],
        "validated (90 d, ~bronze size)": BRONZE_B * gb * RETENTION_DAYS["validated"],
        "archive, Standard (90 d)": GZIP_B * gb * RETENTION_DAYS["archive_standard"],
        "archive, Deep Archive (to 7 y)": GZIP_B * gb * RETENTION_DAYS["archive_deep"],
    }
    storage_month = sum(v for k, v in storage_gb.items() if "Deep" not in k) * S3_STANDARD_GB_MONTH + (
        storage_gb["archive, Deep Archive (to 7 y)"] * S3_DEEP_ARCHIVE_GB_MONTH
    )
    # the checks: one Glue job run per check op (the work of validated_streams' checks, the others at the minimum)
    checks_vcpu_s = LOCAL_CORES * CHECKS_SECONDS_10M * listens / 10e6  # on DuckDB
    checks_billed, checks_wall = glue_run(checks_vcpu_s * SPARK_CHECKS_FACTOR, workers)
    checks_billed += (DAILY_CHECK_OPS - 1) * glue_run(0.0, workers)[0]
    dpu_h += checks_billed
    # critical path: ingest -> validated -> its (blocking) checks -> the widest KPI -> top lists -> their checks
    kpi = max(per_step[n][1] for n in ("daily_user_engagement", "artist_daily_popularity", "platform_usage_daily"))
    top = max(per_step[n][1] for n in ("top_songs_per_genre", "top_genres_daily", "genre_daily_kpis"))
    glue_wall = per_step["raw_streams (Spark tasks)"][1] + per_step["validated_streams"][1] + checks_wall + kpi + top
    glue_wall += 6 * ASSUMED_GLUE_START_S  # four step runs and two check runs in sequence
    run_task_vcpu = 0.5  # infra/dagster-service.yaml:58-62 (ServiceCpu 512)
    run_process_s = RUN_PROCESS_INGEST_S_PER_M * listens / 1e6 / run_task_vcpu  # content hashes: the checks left it
    return {
        "listens": listens,
        "workers": workers,
        "per_step": per_step,
        "dpu_h": dpu_h,
        "glue_usd": dpu_h * GLUE_DPU_HOUR,
        "files": files,
        "items": items,
        "wru": wru,
        "ddb_usd": wru * DDB_WRITE_PER_M / 1e6,
        "s3_put": s3_put,
        "s3_get": s3_get,
        "s3_req_usd": s3_put * S3_PUT_PER_1000 / 1000 + s3_get * S3_GET_PER_1000 / 1000,
        "landed_gb": CSV_B * gb,
        "storage_gb": storage_gb,
        "storage_usd_month": storage_month,
        "glue_wall_s": glue_wall,
        "run_process_s": run_process_s,
        "checks_vcpu_s": checks_vcpu_s,
        "checks_dpu_h": checks_billed,
        "checks_wall_s": checks_wall,
    }


def dagster_month() -> dict[str, float]:
    service = 3 * (0.5 * FARGATE_VCPU_HOUR + 1 * FARGATE_GB_HOUR) * HOURS_PER_MONTH  # webserver, daemon, code server
    rds = RDS_T4G_MICRO_HOUR * HOURS_PER_MONTH + 20 * RDS_GP3_GB_MONTH
    return {"ecs_services": service, "rds": rds, "run_task_hour": 0.5 * FARGATE_VCPU_HOUR + 1 * FARGATE_GB_HOUR}


def main() -> None:
    fixed = dagster_month()
    print(f"Dagster on ECS (3 services, 0.5 vCPU / 1 GB, 24/7): ${fixed['ecs_services']:.2f}/month")
    print(f"RDS db.t4g.micro + 20 GB gp3: ${fixed['rds']:.2f}/month; a run task: ${fixed['run_task_hour']:.4f}/hour")
    for listens in WORKERS:
        m = model(listens)
        run_hours = m["run_process_s"] / 3600
        print(f"\n== {listens:,} listens/day, {m['workers']} G.1X workers per run")
        for name, (billed, wall) in m["per_step"].items():
            print(f"  {name:28s} work {steps(listens)[name]:>9.0f} vCPU-s  wall {wall:>7.0f} s  billed {billed:.4f} DPU-h")
        print(
            f"  {'checks (' + str(DAILY_CHECK_OPS) + ' job runs)':28s} work {m['checks_vcpu_s'] * SPARK_CHECKS_FACTOR:>9.0f} vCPU-s  "
            f"wall {m['checks_wall_s']:>7.0f} s  billed {m['checks_dpu_h']:.4f} DPU-h"
        )
        print(f"  Glue: {m['dpu_h']:.3f} DPU-h/day = ${m['glue_usd']:.2f}/day = ${m['glue_usd'] * 30:.0f}/month")
        print(f"  DynamoDB: {m['items']} items/day, {m['wru']} WRU/day = ${m['ddb_usd']:.4f}/day")
        print(
            f"  S3: {m['files']} files, {m['s3_put']} PUT-class + {m['s3_get']} GET-class requests/day = "
            f"${m['s3_req_usd']:.3f}/day; landed {m['landed_gb']:.1f} GB/day"
        )
        print("  stored (steady state): " + ", ".join(f"{k} {v:,.0f} GB" for k, v in m["storage_gb"].items()))
        print(f"  storage ${m['storage_usd_month']:.2f}/month")
        print(
            f"  wall: Glue critical path {m['glue_wall_s'] / 60:.1f} min; run process (content hashes at 0.5 vCPU) "
            f"{m['run_process_s'] / 60:.1f} min; run task "
            f"${run_hours * fixed['run_task_hour']:.3f}/day"
        )
        month = {
            "Glue": m["glue_usd"] * 30,
            "DynamoDB writes": m["ddb_usd"] * 30,
            "S3 requests": m["s3_req_usd"] * 30,
            "S3 storage": m["storage_usd_month"],
            "ECS services + run tasks": fixed["ecs_services"] + run_hours * fixed["run_task_hour"] * 30,
            "RDS": fixed["rds"],
        }
        total = sum(month.values())
        print("  month: " + ", ".join(f"{k} ${v:.2f}" for k, v in month.items()))
        print(f"  month total ${total:.2f}; per million listens ${total / (listens * 30 / 1e6):.4f}")


if __name__ == "__main__":
    main()

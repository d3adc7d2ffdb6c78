"""Screenshots of the Dagster UI for the README, taken with headless Chromium from the system packages.

    make demo && make dev                        # in one terminal: the UI on the demo's days
    python scripts/screenshots.py                # in another: writes docs/screenshots/*.png
    python scripts/screenshots.py --url http://127.0.0.1:3014 --out /tmp/shots

Needs `chromium` (Debian: `apt-get install -y chromium`). The UI is a single-page app that keeps
polling, so Chromium is given a virtual-time budget to render before the capture; the welcome
dialog is off in the project's dagster.yaml (`nux: enabled: false`), which `music-pipeline dev` uses.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (file name, UI path, what it shows)
PAGES = [
    (
        "lineage.png",
        "/assets/dynamodb_daily_genre_kpis?view=lineage&lineageScope=upstream&lineageDepth=6",
        "the asset graph by group, from the landed files to a DynamoDB table, with kinds, checks and partitions",
    ),
    (
        "partitions.png",
        "/assets/genre_daily_kpis?view=partitions&partition=2024-06-03",
        "genre_daily_kpis by day from 2024-06-01: the sample's days materialized, one day's metadata",
    ),
    (
        "plots.png",
        "/assets/daily_user_engagement?view=plots",
        "daily_user_engagement's plots: each day's headline KPIs (DAU, listens, sessions, completion rate) across days",
    ),
    ("checks.png", "/assets/validated_streams?view=checks", "the asset checks of validated_streams and their results"),
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit("screenshots: chromium not found (Debian: apt-get install -y chromium)")


def capture(browser: str, url: str, target: Path, width: int, height: int, budget_ms: int) -> None:
    command = [
        browser,
        "--headless",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--window-size={width},{height}",
        f"--virtual-time-budget={budget_ms}",
        f"--screenshot={target}",
        url,
    ]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if run.returncode != 0 or not target.is_file():
        sys.exit(f"screenshots: chromium failed on {url} (exit {run.returncode}):\n{run.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the running UI (make dev)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--budget-ms", type=int, default=25000, help="virtual time Chromium gives the page to render")
    args = parser.parse_args(argv)
    try:
        urllib.request.urlopen(f"{args.url}/server_info", timeout=10).close()
    except OSError as exc:
        sys.exit(f"screenshots: no Dagster UI at {args.url} ({exc}); start it with `make dev`")
    args.out.mkdir(parents=True, exist_ok=True)
    browser = chromium()
    for name, path, what in PAGES:
        capture(browser, args.url + path, args.out / name, args.width, args.height, args.budget_ms)
        print(f"{args.out / name}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

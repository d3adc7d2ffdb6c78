"""Screenshots of the Dagster UI for the README, taken with headless Chromium from the system packages.

    make demo && make dev                        # in one terminal: the UI on the demo's days
    .venv/bin/python scripts/screenshots.py      # in another: writes docs/screenshots/*.png (websockets: the venv)
    .venv/bin/python scripts/screenshots.py --url http://127.0.0.1:3014 --out /tmp/shots

Needs `chromium` (Debian: `apt-get install -y chromium`). The UI is a single-page app that keeps
polling, so Chromium is given a virtual-time budget to render before the capture; the welcome
dialog is off in the project's dagster.yaml (`nux: enabled: false`), which `music-pipeline dev` uses.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (file name, UI path, what it shows[, the label of a button to click first])
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
        "/assets/daily_user_engagement",
        "daily_user_engagement's metadata plots: each day's headline KPIs (DAU, listens, sessions, completion rate)",
        # the overview's metadata toggles are page state, not URL parameters; "Partitions" plots only the latest
        # 120 partitions of the definition (2026's, empty here), "Events" plots every materialization by time
        ("Plots", "Events"),
    ),
    ("checks.png", "/assets/validated_streams?view=checks", "the asset checks of validated_streams and their results"),
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit("screenshots: chromium not found (Debian: apt-get install -y chromium)")


def capture(browser: str, url: str, target: Path, width: int, height: int, budget_ms: int, timeout: float) -> None:
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
    run = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if run.returncode != 0 or not target.is_file():
        sys.exit(f"screenshots: chromium failed on {url} (exit {run.returncode}):\n{run.stderr[-2000:]}")


def capture_after_click(
    browser: str, url: str, target: Path, width: int, height: int, labels: tuple[str, ...], timeout: float, settle: float = 15
) -> None:
    """Load the page in headless Chromium driven over the DevTools protocol (websockets, a dependency of
    dagster-webserver), click the buttons labelled `labels` in turn once each is there, let it render, capture."""
    from websockets.sync.client import connect

    with tempfile.TemporaryDirectory(prefix="screenshots-", ignore_cleanup_errors=True) as profile:
        command = [
            browser,
            "--headless",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--window-size={width},{height}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        if os.geteuid() == 0:
            command.insert(1, "--no-sandbox")
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + timeout
            port_file = Path(profile) / "DevToolsActivePort"
            while not port_file.is_file() or not port_file.read_text().strip():
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"screenshots: chromium did not open its DevTools port (exit {proc.poll()})")
                time.sleep(0.2)
            port = port_file.read_text().split()[0]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=30) as answer:
                page = next(t for t in json.load(answer) if t["type"] == "page")
            with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
                calls = iter(range(1, 10**6))

                def call(method: str, **params):
                    ident = next(calls)
                    ws.send(json.dumps({"id": ident, "method": method, "params": params}))
                    while True:
                        message = json.loads(ws.recv(timeout=max(1.0, deadline - time.monotonic())))
                        if message.get("id") == ident:
                            if "error" in message:
                                sys.exit(f"screenshots: {method}: {message['error']}")
                            return message.get("result", {})

                call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
                call("Page.navigate", url=url)
                for label in labels:
                    click = (
                        "(() => { const b = [...document.querySelectorAll('button')].find(e => e.textContent.trim() === "
                        + json.dumps(label)
                        + "); if (!b) return false; b.click(); b.scrollIntoView({block: 'start'}); return true; })()"
                    )
                    while not call("Runtime.evaluate", expression=click, returnByValue=True)["result"].get("value"):
                        if time.monotonic() > deadline:
                            sys.exit(f"screenshots: no button {label!r} on {url} within {timeout:.0f} s")
                        time.sleep(0.5)
                time.sleep(settle)  # the plots fetch the materializations and draw
                scroll = (
                    "[...document.querySelectorAll('button')].find(e => e.textContent.trim() === "
                    + json.dumps(labels[-1])
                    + ")?.scrollIntoView({block: 'start'})"
                )
                call("Runtime.evaluate", expression=scroll)  # the page re-renders as it loads: scroll last
                time.sleep(1)
                shot = call("Page.captureScreenshot", format="png")
                target.write_bytes(base64.b64decode(shot["data"]))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the running UI (make dev)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--budget-ms", type=int, default=25000, help="virtual time Chromium gives the page to render")
    parser.add_argument("--timeout", type=float, default=300, help="seconds one capture may take (a busy machine is slow)")
    parser.add_argument("--only", nargs="*", help="file names to take (default: all)")
    args = parser.parse_args(argv)
    try:
        urllib.request.urlopen(f"{args.url}/server_info", timeout=10).close()
    except OSError as exc:
        sys.exit(f"screenshots: no Dagster UI at {args.url} ({exc}); start it with `make dev`")
    args.out.mkdir(parents=True, exist_ok=True)
    browser = chromium()
    for name, path, what, *click in PAGES:
        if args.only and name not in args.only:
            continue
        if click:
            capture_after_click(browser, args.url + path, args.out / name, args.width, args.height, click[0], args.timeout)
        else:
            capture(browser, args.url + path, args.out / name, args.width, args.height, args.budget_ms, args.timeout)
        print(f"{args.out / name}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

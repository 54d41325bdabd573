"""Screenshot of the Dagster UI's asset graph, served from PEX artifacts by a warm host.

    python scripts/ui_screenshot.py [--out docs/ui-asset-graph.png] [--project example_project]

Runs `dagster-fastdeploy dev` on a scratch store and data dir (loopback ports), waits until the
project serves, points Debian's headless Chromium (`apt-get install chromium`) at the asset graph,
then stops everything. Anyone can rerun it to refresh the picture in docs/.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--window-size=1400,860", "--virtual-time-budget=20000",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("headless Chromium is needed: `apt-get install chromium` (Debian) and rerun")


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        print(line, end="")
        if text in line:
            return
        if time.monotonic() > deadline:
            break
    sys.exit(f"`dagster-fastdeploy dev` never printed {text!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "ui-asset-graph.png")
    parser.add_argument("--project", type=Path, default=REPO / "example_project")
    parser.add_argument(
        "--path",
        default="/assets/orders_by_region?view=lineage&lineageScope=upstream",
        help="UI page to capture (default: the asset graph upstream of orders_by_region)",
    )
    args = parser.parse_args()
    browser = chromium()
    scratch = Path(tempfile.mkdtemp(prefix="fastdeploy-screenshot-"))
    ui_port, host_port = free_port(), free_port()
    location_port = free_port()
    dev = subprocess.Popen(
        [sys.executable, "-m", "dagster_fastdeploy.cli", "dev", str(args.project),
         "--store", (scratch / "store").as_uri(), "--data-dir", str(scratch / "data"),
         "--port", str(host_port), "--location-ports", f"{location_port}-{location_port}",
         "--ui-port", str(ui_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for_line(dev, "watching", timeout=900)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={scratch / 'chromium'}",
             f"--screenshot={args.out.resolve()}", f"http://127.0.0.1:{ui_port}{args.path}"],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
        print(f"wrote {args.out}")
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(60)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

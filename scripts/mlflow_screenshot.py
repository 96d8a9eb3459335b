"""A headless-browser look at the MLflow runs table of a run directory: `mlflow server` on 127.0.0.1 over
its SQLite store, then Chromium's own `--headless --screenshot` of the experiment's runs page (the shared
view the chains set: the grid's axis, LE/FE, the paper's figure and the difference as columns).

    python scripts/mlflow_screenshot.py --run-dir runs/demo --experiment table3 --out /tmp/runs.png

Needs a Chromium binary (Debian: `apt-get install chromium`); without one it says so and exits 3.
``--layout-only`` first writes a store of three Table III parent runs through the chains' own tracking
calls, with placeholder figures (top-1 50.0, nothing trained), into RUN_DIR: for checking what the table
shows on a machine too busy to run the grid. Not part of the test suite (a browser is minutes to start on
a loaded machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def layout_store(run_dir: Path) -> None:
    """Three Table III chain parents as `grid III --profile smoke` leaves them, figures as placeholders."""
    from crossmoco.experiments.grids import table_trials
    from crossmoco.pipeline import tracking
    from crossmoco.pipeline.chain import paper_metrics
    from crossmoco.training.config import to_flat_dict

    store = tracking.init_store(tracking.default_uri(run_dir), "table3", artifact_root=run_dir / "artifacts")
    for trial in table_trials("III", "smoke", [], synthetic=True):
        run, _ = tracking.start_chain(store, trial.name, f"layout-{trial.name}", {"crossmoco.row": trial.row_id})
        tracking.log_params(store, run, {**to_flat_dict(trial.config), **dict(trial.setting)})
        measured = {"linear_top1": 50.0, "finetune_top1": 50.0}  # placeholders: nothing was trained
        beside = paper_metrics(measured, dict(trial.paper))
        tracking.log_metrics(store, run, {**measured, **beside})
        tracking.show_columns(store, [k for k, _ in trial.setting],
                              [m for k in measured for m in (k, f"{k}_paper", f"{k}_diff") if m == k or m in beside])
        tracking.end_run(store, run)


def screenshot(run_dir: Path, experiment: str, out: Path, chromium: str, wait_s: float) -> Path:
    from crossmoco.pipeline import tracking

    uri = tracking.default_uri(run_dir)
    exp_id = tracking.init_store(uri, experiment).experiment_id
    port = _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
                               "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"mlflow server did not answer on {base}") from None
                time.sleep(2)
        url = tracking.runs_url(exp_id, base)
        subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1700,800", f"--virtual-time-budget={int(wait_s * 1000)}",
                        f"--screenshot={out}", url], check=True, timeout=900,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"{url}\nwrote {out}")
        return out
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--experiment", default="table3")
    parser.add_argument("--out", type=Path, default=Path("mlflow_runs.png"))
    parser.add_argument("--wait", type=float, default=20.0, help="Seconds of page time before the screenshot.")
    parser.add_argument("--layout-only", action="store_true", help="Write placeholder Table III parents first.")
    args = parser.parse_args()
    chromium = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)
    if chromium is None:
        print("no Chromium on PATH (Debian: apt-get install chromium); nothing done", file=sys.stderr)
        raise SystemExit(3)
    if args.layout_only:
        args.run_dir.mkdir(parents=True, exist_ok=True)
        layout_store(args.run_dir.resolve())
    screenshot(args.run_dir.resolve(), args.experiment, args.out.resolve(), chromium, args.wait)


if __name__ == "__main__":
    main()

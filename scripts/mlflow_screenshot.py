"""A headless-browser look at the MLflow runs table of a run directory: `mlflow server` on 127.0.0.1 over
its SQLite store, then Chromium's own `--headless --screenshot` of the experiment's runs page (the shared
view the chains set: the grid's axis, LE/FE, the paper's figure and the difference as columns).

    python scripts/mlflow_screenshot.py --run-dir runs/demo --experiment table3 --out /tmp/runs.png

The browser opens the server as http://crossmoco-mlflow:PORT (mapped to 127.0.0.1 inside Chromium only): the
MLflow 3 UI opens its Assistant pane, over a third of the page, on the first visit to a `localhost` or
`127.0.0.1` page. Needs a Chromium binary (Debian: `apt-get install chromium`); without one it says so and
exits 3.
``--layout-only`` first writes a store of three Table III parent runs through the chains' own tracking
calls, with placeholder figures (top-1 50.0, nothing trained), into RUN_DIR: for checking what the table
shows on a machine too busy to run the grid. Not part of the test suite (a browser is minutes to start on
a loaded machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
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
    from crossmoco.pipeline.chain import headline_columns, paper_metrics
    from crossmoco.training.config import to_flat_dict

    store = tracking.init_store(tracking.default_uri(run_dir), "table3", artifact_root=run_dir / "artifacts")
    for trial in table_trials("III", "smoke", [], synthetic=True):
        run, _ = tracking.start_chain(store, trial.name, f"layout-{trial.name}", {"crossmoco.row": trial.row_id})
        tracking.log_params(store, run, {**to_flat_dict(trial.config), **dict(trial.setting)})
        measured = {"linear_top1": 50.0, "finetune_top1": 50.0}  # placeholders: nothing was trained
        beside = paper_metrics(measured, dict(trial.paper), diff=False)  # synthetic: the figure is context
        tracking.log_metrics(store, run, {**measured, **beside})
        tracking.show_columns(store, [k for k, _ in trial.setting], headline_columns(list(measured), beside))
        tracking.end_run(store, run)


HOST = "crossmoco-mlflow"  # the page's host name in the browser: not localhost, so no Assistant pane


def _serve(uri: str, port: int) -> subprocess.Popen:
    """``mlflow server`` on 127.0.0.1 that also answers the browser's host name; its own process group, so
    stopping it stops its workers too."""
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_SERVER_ALLOWED_HOSTS": f"127.0.0.1:{port},{HOST}:{port}",  # the page's requests, by Host
           "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": f"http://{HOST}:{port}"}  # and by Origin (search is a POST)
    return subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
                             "--host", "127.0.0.1", "--port", str(port)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_healthy(server: subprocess.Popen, base: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"mlflow server did not answer on {base}") from None
            time.sleep(2)


def screenshot(run_dir: Path, experiment: str, out: Path, chromium: str, wait_s: float,
               window: str = "1400,470") -> Path:
    """The experiment's runs table (``tracking.runs_url``: the shared view of the chains' columns) as a PNG."""
    from crossmoco.pipeline import tracking

    uri = tracking.default_uri(run_dir)
    if not tracking.experiment_exists(uri, experiment):
        raise SystemExit(f"{run_dir}: no MLflow experiment {experiment!r}")
    exp_id = tracking.init_store(uri, experiment).experiment_id
    port = _free_port()
    server = _serve(uri, port)
    try:
        _wait_healthy(server, f"http://127.0.0.1:{port}")
        url = tracking.runs_url(exp_id, f"http://{HOST}:{port}")
        # --virtual-time-budget: the shot waits for the page's requests and timers, not a fixed real time.
        shot = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                f"--host-resolver-rules=MAP {HOST} 127.0.0.1", f"--window-size={window}",
                f"--virtual-time-budget={int(wait_s * 1000)}", f"--screenshot={out}", url]
        for attempt in (1, 2):  # one Chromium on a loaded machine hung for 10 minutes; the same shot took 5 s
            try:
                subprocess.run(shot, check=True, timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                break
            except subprocess.TimeoutExpired:
                if attempt == 2:
                    raise SystemExit("chromium took a screenshot in neither of two 300 s tries") from None
        print(f"{url}\nwrote {out} ({out.stat().st_size // 1024} KB)")
        return out
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--experiment", default="table3")
    parser.add_argument("--out", type=Path, default=Path("mlflow_runs.png"))
    parser.add_argument("--wait", type=float, default=20.0, help="Seconds of page time before the screenshot.")
    parser.add_argument("--window", default="1400,470", help="Browser window WIDTH,HEIGHT in pixels.")
    parser.add_argument("--layout-only", action="store_true", help="Write placeholder Table III parents first.")
    args = parser.parse_args()
    chromium = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)
    if chromium is None:
        print("no Chromium on PATH (Debian: apt-get install chromium); nothing done", file=sys.stderr)
        raise SystemExit(3)
    if args.layout_only:
        args.run_dir.mkdir(parents=True, exist_ok=True)
        layout_store(args.run_dir.resolve())
    screenshot(args.run_dir.resolve(), args.experiment, args.out.resolve(), chromium, args.wait, args.window)


if __name__ == "__main__":
    main()

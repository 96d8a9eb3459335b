"""The console: our progress lines and every library's warnings; Ray's and MLflow's chatter only in the file."""

from __future__ import annotations

import logging
import types

import pytest

from crossmoco.pipeline import console
from crossmoco.pipeline.grid import TrialLines
from crossmoco.pipeline.progress import EpochLines, duration


@pytest.fixture
def terminal(monkeypatch, capsys):
    """``console.configure`` for a test; the console is pytest's captured stderr (``capsys``);
    the root and ``ray`` loggers and the environment are restored afterwards."""
    root, ray_logger = logging.getLogger(), logging.getLogger("ray")
    saved = (list(root.handlers), root.level, list(ray_logger.handlers), ray_logger.propagate, ray_logger.level)
    for key in (console.VERBOSE_ENV, *console.QUIET_ENV, "TQDM_DISABLE"):
        monkeypatch.setenv(key, "")  # recorded, so that what configure sets is undone afterwards
        monkeypatch.delenv(key)
    console.configure(verbose=False)
    yield lambda: capsys.readouterr().err
    for h in list(root.handlers):
        if getattr(h, "_crossmoco", ""):
            root.removeHandler(h)
            h.close()
    root.handlers[:], root.level, ray_logger.handlers[:], ray_logger.propagate, ray_logger.level = saved


def test_console_shows_our_lines_and_warnings_and_the_file_keeps_everything(terminal, tmp_path):
    logging.getLogger("ray").setLevel(logging.ERROR)  # as ray.init(logging_level="ERROR") leaves it
    path = console.log_to_file(tmp_path)
    assert path == tmp_path / "logs" / "crossmoco.log" and console.log_dir() == path.parent
    console.route_ray_logs()  # after `import ray`: Ray's own stderr handler gives way to ours
    logging.getLogger("crossmoco.pipeline.chain").info("pretrain epoch 1/2: loss 5.1")
    logging.getLogger("ray.tune").info("Trial _trial_abc started with configuration ...")
    logging.getLogger("somelib.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("sqlalchemy.pool").warning("something SQLAlchemy worries about")
    logging.getLogger("ray._private.authentication.authentication_token_setup").warning(
        "Token authentication is enabled for this Ray cluster. Set RAY_AUTH_MODE=disabled to opt out.")
    shown = terminal()
    assert "pretrain epoch 1/2: loss 5.1" in shown and "INFO" not in shown
    assert "WARNING sqlalchemy.pool: something SQLAlchemy worries about" in shown
    assert "Trial _trial_abc" not in shown and "SQLiteImpl" not in shown and "Token authentication" not in shown
    kept = path.read_text()
    for text in ("pretrain epoch 1/2", "Trial _trial_abc", "SQLiteImpl", "SQLAlchemy worries", "Token authentication"):
        assert text in kept, text
    assert console.os.environ["MLFLOW_CONFIGURE_LOGGING"] == "false" and console.os.environ["TQDM_DISABLE"] == "1"


def test_verbose_shows_everything(terminal):
    console.configure(verbose=True)
    logging.getLogger("somelib.migration").debug("Will assume non-transactional DDL.")
    assert "non-transactional DDL" in terminal() and console.is_verbose()


def test_epoch_lines_read_each_epoch_once_from_the_run(terminal):
    history = {"loss": [], "samples_per_s": []}
    client = types.SimpleNamespace(get_metric_history=lambda run_id, key: history.get(key, []))
    lines = EpochLines(types.SimpleNamespace(client=client), "run", epochs=2, every=3600)
    point = types.SimpleNamespace
    history["loss"].append(point(step=1, value=6.25))
    history["samples_per_s"].append(point(step=1, value=150.4))
    lines.poll()
    lines.poll()
    history["loss"].append(point(step=2, value=5.5))
    with lines:
        pass  # polls once more on close
    shown = terminal().splitlines()
    assert [ln[9:] for ln in shown] == ["pretrain epoch 1/2: loss 6.2500, 150 samples/s",
                                        "pretrain epoch 2/2: loss 5.5000"]


def test_epoch_lines_estimate_the_rest_from_the_pace_of_this_run(terminal, monkeypatch):
    """Epochs reach MLflow with their checkpoint, in bursts: the last line of a burst carries the ETA, at the
    pace of this run (a resumed run counts from where it resumed)."""
    clock = iter([1000.0, 1100.0, 1200.0])  # opened, then one poll at +100 s and one at close, +200 s
    monkeypatch.setattr("crossmoco.pipeline.progress.time.monotonic", lambda: next(clock))
    history = {"loss": []}
    client = types.SimpleNamespace(get_metric_history=lambda run_id, key: history.get(key, []))
    lines = EpochLines(types.SimpleNamespace(client=client), "run", epochs=30, every=3600)
    point = types.SimpleNamespace
    with lines:
        history["loss"] += [point(step=s, value=5.0) for s in (11, 12)]  # resumed after epoch 10
        lines.poll()
        history["loss"].append(point(step=30, value=4.0))
    shown = [ln[9:] for ln in terminal().splitlines()]
    assert shown == ["pretrain epoch 11/30: loss 5.0000", "pretrain epoch 12/30: loss 5.0000, ETA 15m00s",
                     "pretrain epoch 30/30: loss 4.0000"]


def test_trial_lines_count_trials_and_estimate_the_rest(terminal, monkeypatch):
    clock = iter([0.0, 100.0, 100.0, 160.0])
    monkeypatch.setattr("crossmoco.pipeline.grid.time.monotonic", lambda: next(clock))
    lines = TrialLines(total=3, concurrent=1)

    def trial(tid, name, **result):
        return types.SimpleNamespace(trial_id=tid, config={"trial": {"name": name}}, last_result=result,
                                     status="RUNNING")

    a, b = trial("a", "banks1", linear_top1=80.44, finetune_top1=91.1, linear_top5=99.0), trial("b", "banks2")
    lines.on_trial_start(0, [a, b], a)
    lines.on_trial_complete(0, [a, b], a)
    lines.on_trial_start(0, [a, b], b)
    lines.on_trial_error(0, [a, b], b)
    shown = terminal().splitlines()
    assert shown[0][9:] == "trial 1/3 banks1: done (finetune 91.1, linear 80.4) in 1m40s; ETA 3m20s"
    assert "trial 2/3 banks2: FAILED" in shown[1] and shown[1].endswith("in 1m00s; ETA 1m20s")


def test_durations_read_like_a_person_writes_them():
    assert [duration(s) for s in (4.4, 65, 3725)] == ["4s", "1m05s", "1h02m"]

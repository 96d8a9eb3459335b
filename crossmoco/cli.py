"""The one command line: ``python -m crossmoco VERB ...`` (also installed as ``crossmoco``).

Commands only parse arguments and delegate. Logging is configured here, once; library code logs
through ``logging.getLogger(__name__)`` and never prints. An error a user can cause (bad input, a
missing or unwritable file, a full disk, Ctrl-C) is one ``error: ...`` line on stderr and a
non-zero exit; its traceback is shown only with ``-v``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from crossmoco.datasets.locations import REPO_ROOT
from crossmoco.pipeline import console
from crossmoco.pipeline.config_file import PROFILES, load_config
from crossmoco.training.config import Config, ConfigError, config_hash, to_flat_dict

if TYPE_CHECKING:
    from crossmoco.experiments.grid_runner import GridSummary
    from crossmoco.training.dataset import LoadedDataset

log = logging.getLogger("crossmoco.pipeline")

app = typer.Typer(
    name="crossmoco",
    help="CrossMoCo experiment pipeline: synthetic data, preprocessing, Ray Train pretraining, "
    "evaluation protocols, Ray Tune grids and MLflow tracking.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_PROFILE = "smoke"  # every verb that trains: minutes on a laptop, never paper-sized on a CPU by surprise
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", "-p", help=f"Named profile: {', '.join(sorted(PROFILES))} "
                             f"(default: the --config file's, else {DEFAULT_PROFILE}).")
]
ConfigFileOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="A TOML or YAML file of settings (what `config` prints "
                              "reads back in): applied after the profile, before --set.")
]
DataOpt = Annotated[
    str | None, typer.Option("--data", "-d", help="The dataset: a shard directory (holding manifest.json) or "
                             "preprocess's OUT_DIR, a folder or a URI (s3://...). One dataset there sets "
                             "data.dataset and its default split. Smoke profile: synthetic data by default.")
]
ResultsDirOpt = Annotated[
    Path | None, typer.Option("--results-dir", help="The folder whose results/ holds the kept figures (read for "
                              "the controls and verdicts; written only with --record / --write, with the README's "
                              "and docs' tables). Default: this checkout.")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config value, e.g. --set contrastive.num_banks=3 (repeatable)."),
]


_verbose = False  # -v: tracebacks of user errors are shown too
INTERRUPTED = 130  # the shell's exit status of a command stopped by Ctrl-C (128 + SIGINT)
TERMINATED = 143  # ... and by SIGTERM (128 + SIGTERM): what a cluster sends before it takes a node
_interrupt_code = INTERRUPTED


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM ends a command as Ctrl-C does (its runs marked KILLED, one line), with exit 143."""
    global _interrupt_code
    _interrupt_code = TERMINATED
    raise KeyboardInterrupt


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Everything on the console: debug "
                                          "logging, Ray's and MLflow's own output, Ray worker lines, "
                                          "tracebacks of errors.")] = False,
    storage: Annotated[str | None, typer.Option(
        "--storage", help="Where Ray Train and Tune keep runs and checkpoints: a URI (s3://bucket/prefix, "
        "any pyarrow filesystem) or a folder every node mounts; sets CROSSMOCO_STORAGE. "
        "Default: the run directory (one machine).")] = None,
) -> None:
    global _verbose, _interrupt_code
    _verbose, _interrupt_code = verbose, INTERRUPTED
    signal.signal(signal.SIGTERM, _terminated)  # the default would end the process with no line, runs RUNNING
    if storage:
        import os

        from crossmoco.pipeline.storage import STORAGE_ENV

        os.environ[STORAGE_ENV] = storage
    console.configure(verbose)  # once, before ray or mlflow is imported


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a user-facing error (after the traceback of the error being handled, with -v) and exit non-zero."""
    if _verbose and sys.exc_info()[1] is not None:
        traceback.print_exc()
    _stop_ray()
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _stop_ray() -> None:
    """Shut down the Ray this process started or joined, so that the logs Ray forwards from its
    dying actors come before the error line, not after it."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def os_error_message(e: OSError) -> str:
    """``<file>: <reason>`` of an OSError (a missing or unwritable file, a full disk)."""
    reason = e.strerror or str(e)
    if e.filename is None:
        return reason
    return f"{e.filename}: {reason}" + (f" ({e.filename2})" if e.filename2 else "")


def writable_dir(path: Path) -> None:
    """Create ``path`` if needed and prove a file can be written there (an OSError naming it if not)."""
    path.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
        pass


def interrupted(what: str, hint: str = "run the same command again to resume") -> NoReturn:
    how = "terminated (SIGTERM)" if _interrupt_code == TERMINATED else "interrupted"
    fail(f"{how}: {what}; {hint}", code=_interrupt_code)


def resolve_config(profile: str | None, overrides: list[str] | None) -> Config:
    """Load a profile plus overrides, turning a bad one into a clear CLI error before any work."""
    try:
        return load_config(profile, overrides or [])
    except ConfigError as e:
        fail(str(e))


def run_settings(profile: str | None, config_file: Path | None, overrides: list[str] | None,
                 data: str | None = None) -> tuple[str, list[str]]:
    """(the profile, every override in order): what ``data`` holds (one dataset: ``data.dataset`` and its
    default split), then the ``--config`` file's settings, then ``--set``: a later one wins."""
    from crossmoco.pipeline.config_file import file_overrides
    from crossmoco.pipeline.data import inferred_overrides

    file_profile, from_file = None, []
    if config_file is not None:
        try:
            file_profile, from_file = file_overrides(config_file)
        except ConfigError as e:
            fail(str(e))
    name = profile or file_profile or DEFAULT_PROFILE
    if name not in PROFILES:
        fail(f"unknown profile {name!r}; expected one of {sorted(PROFILES)}")
    inferred = list(inferred_overrides(data)) if data is not None else []
    return name, [*inferred, *from_file, *(overrides or [])]


def results_root(results_dir: Path | None, writing: bool = False) -> Path:
    """The folder holding results/: ``--results-dir``, else this checkout (``REPO_ROOT``), which a command writes
    into only when asked (``writing``: --record, --write) and only if it is a checkout (it has results/)."""
    if results_dir is not None:
        return results_dir
    if writing and not (REPO_ROOT / "results").is_dir():
        fail(f"{REPO_ROOT} is not a checkout of this project (no results/ there): give --results-dir DIR")
    return REPO_ROOT


def one_data(positional: str | None, option: str | None) -> str | None:
    """The dataset given as DATA_DIR (the older spelling) or --data; both is an error."""
    if positional is not None and option is not None and positional != option:
        fail(f"give the dataset once: DATA_DIR {positional!r} and --data {option!r} differ")
    return option if option is not None else positional


@app.command("config")
def config_cmd(
    profile: ProfileOpt = None, config_file: ConfigFileOpt = None, set_: SetOpt = None, data: DataOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="toml (reads back in with --config FILE) or json "
                                     "(flat, with the hash; also reads back in).")] = "toml",
) -> None:
    """Print the resolved configuration a run would use, with its hash (precision auto resolved for this
    machine, as a chain resolves it before hashing): save it, edit it, run it with --config FILE."""
    from crossmoco.pipeline.config_file import to_toml
    from crossmoco.training.precision import resolve_precision

    if fmt not in ("toml", "json"):
        fail(f"--format: expected toml or json, got {fmt!r}")
    name, overrides = run_settings(profile, config_file, set_, data)
    cfg, precision = resolve_precision(resolve_config(name, overrides))
    if fmt == "json":
        typer.echo(json.dumps({"hash": config_hash(cfg), "precision": precision.describe(),
                               "config": to_flat_dict(cfg)}, indent=2))
    else:
        typer.echo(to_toml(cfg, f"crossmoco config, profile {name}, hash {config_hash(cfg)}, "
                                f"precision {precision.describe()}\nrun it with: --config THIS_FILE"), nl=False)


@app.command()
def synth(
    out_dir: Path,
    seed: Annotated[int, typer.Option(help="Seed: the same seed writes the same files.")] = 0,
    performers: Annotated[int, typer.Option(help="Number of synthetic performers (xsub: odd ids train).")] = 10,
    repetitions: Annotated[int, typer.Option(help="Repetitions of each action per performer and camera.")] = 1,
    min_frames: Annotated[int, typer.Option(help="Shortest recording, in frames.")] = 40,
    max_frames: Annotated[int, typer.Option(help="Longest recording, in frames.")] = 80,
) -> None:
    """Generate the embedded synthetic dataset as NTU RGB+D `.skeleton` files."""
    from crossmoco.datasets.synthetic import generate_synthetic

    try:
        paths = generate_synthetic(out_dir, seed=seed, num_performers=performers, repetitions=repetitions,
                                   min_frames=min_frames, max_frames=max_frames)  # fmt: skip
    except ValueError as e:
        fail(str(e))
    typer.echo(f"wrote {len(paths)} recordings and label_map.txt to {out_dir}")


@app.command("figure-occlusion")
def figure_occlusion(
    out_png: Path,
    skeleton: Annotated[Path | None, typer.Option(help="An NTU .skeleton file (default: real A027 'jump up').")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the occlusion mask.")] = 0,
    profile: ProfileOpt = None,
    set_: SetOpt = None,
) -> None:
    """Draw the paper's Fig. 4: one sequence and its occlusion mask at frames 10, 20, 30, 40, 50."""
    from crossmoco.pipeline.occlusion_figure import default_sequence, plot_occlusion

    cfg = resolve_config(profile, set_)
    path = skeleton if skeleton is not None else default_sequence()
    if not path.is_file():
        fail(f"no skeleton file at {path}")
    plot_occlusion(path, out_png, occlusion=cfg.augment.occlusion, seed=seed)
    typer.echo(f"wrote {out_png}")


@app.command("occlusion-stats")
def occlusion_stats(
    profile: ProfileOpt = None,
    set_: SetOpt = None,
    dataset: Annotated[str, typer.Option(help="Whose skeleton layout: ucla (20 joints), ntu60 (25), pku ...")] = "ucla",
    all_readings: Annotated[bool, typer.Option("--all-readings", help="One line per reading of Eq. (14) at the "
                                               "configured rates, instead of the configured reading only.")] = False,
    samples: Annotated[int, typer.Option(help="Sequences drawn (two views each).")] = 512,
    seed: Annotated[int, typer.Option(help="Seed of the draws.")] = 0,
) -> None:
    """Print what an occlusion setting zeroes: joint-frames, clean and blank frames, what two views share."""
    import dataclasses
    import typing

    from crossmoco.datasets.config import OcclusionConfig
    from crossmoco.datasets.occlusion import setting_statistics
    from crossmoco.datasets.registry import DATASETS, layout_for

    if dataset not in DATASETS:
        fail(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    cfg = resolve_config(profile, set_)
    occ = cfg.augment.occlusion
    readings = typing.get_args(typing.get_type_hints(OcclusionConfig)["reading"]) if all_readings else (occ.reading,)
    layout = layout_for(dataset)
    typer.echo(f"occlusion at r = {occ.spatial_rate:g}, beta = {occ.temporal_rate:g} ({occ.spatial_sampling}, "
               f"rate {occ.rate_mode}, count {occ.count}, partner {occ.partner}) on {dataset}'s "
               f"{layout.num_joints} joints, {cfg.preprocess.num_frames} frames, {samples} sequences x 2 views")
    typer.echo(f"{'reading':32s} {'zeroed':>7s} {'clean frames':>13s} {'blank frames':>13s} {'visible in both':>16s}")
    for reading in readings:
        stats = setting_statistics(layout.parents0, dataclasses.replace(occ, reading=reading), samples=samples,
                                   frames=cfg.preprocess.num_frames, seed=seed)
        typer.echo(f"{reading:32s} {stats['zeroed']:7.1%} {stats['clean_frames']:13.1%} "
                   f"{stats['blank_frames']:13.1%} {stats['visible_in_both']:16.1%}")


@app.command()
def preprocess(
    dataset: str, raw_dir: Path,
    out_dir: Annotated[str, typer.Argument(help="A folder, or a URI on shared storage (s3://bucket/prefix, "
                                           "any pyarrow filesystem): shards first, manifest.json last.")],
    profile: ProfileOpt = None, set_: SetOpt = None,
    workers: Annotated[int | None, typer.Option("--workers", "-j", help="Processes (default: all cores).")] = None,
    on_ray: Annotated[bool | None, typer.Option(
        "--ray/--no-ray", help="Parse the files as Ray tasks across the cluster (default: on when RAY_ADDRESS "
        "is set); RAW_DIR must then be at the same path on every node.")] = None,
) -> None:
    """Preprocess raw files (ntu60, ntu120, pku, ucla, synthetic) into Parquet shards + manifest.json."""
    import os

    from crossmoco.datasets.errors import DatasetFormatError
    from crossmoco.datasets.preprocess import preprocess_dataset
    from crossmoco.datasets.registry import DATASETS
    from crossmoco.pipeline.shared_data import preprocess_to
    from crossmoco.pipeline.storage import is_uri

    if dataset not in DATASETS:
        fail(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    cfg = resolve_config(profile, set_)
    mapper = None
    if on_ray if on_ray is not None else bool(os.environ.get("RAY_ADDRESS")):
        from crossmoco.pipeline.preprocess_ray import ray_mapper
        from crossmoco.pipeline.train_ray import ray_init_local

        ray_init_local()
        mapper = ray_mapper()
    try:
        shard_dir: str | Path
        if is_uri(out_dir):
            shard_dir = preprocess_to(out_dir, dataset, raw_dir, cfg.preprocess, workers=workers, mapper=mapper)
        else:
            shard_dir = preprocess_dataset(dataset, raw_dir, Path(out_dir), cfg.preprocess, workers=workers,
                                           mapper=mapper)
    except (DatasetFormatError, FileNotFoundError, FileExistsError) as e:
        fail(str(e))
    except OSError as e:  # an unwritable folder, a full disk: nothing half-written is left
        fail(os_error_message(e), code=1)
    except KeyboardInterrupt:
        interrupted(f"preprocessing {dataset}; nothing was written")
    typer.echo(shard_dir)


RunDirOpt = Annotated[Path, typer.Option("--run-dir", help="Run directory: MLflow store, Ray storage, artifacts, "
                                           "logs/ (what Ray and MLflow print).")]
ExperimentOpt = Annotated[str, typer.Option("--experiment", help="MLflow experiment name.")]
DataArg = Annotated[str | None, typer.Argument(help="The dataset, as --data (the older spelling; either works).",
                                               show_default=False)]


def _start_chain(data_dir: str | None, cfg: Config, run_dir: Path, experiment: str, **kwargs: object) -> None:
    from crossmoco.pipeline.data import DataError, load_dataset
    from crossmoco.pipeline.embedded import ensure_synthetic_shards

    try:
        if data_dir is None:  # the smoke profile's embedded dataset (_data_or_synthetic checked it is asked for)
            data_dir = str(ensure_synthetic_shards(run_dir.resolve() / "synthetic"))
        # a missing or mismatched dataset is an error before Ray starts
        data = load_dataset(data_dir, cfg, cache=run_dir.resolve() / "data")
    except (DataError, OSError, ValueError) as e:
        fail(str(e))
    if kwargs.get("checkpoint") is not None:  # weights that fit neither the config nor the data: before any run
        from crossmoco.training.checkpoints import CheckpointError
        from crossmoco.training.protocols import load_model

        try:
            load_model(cfg, data, kwargs["checkpoint"])
        except CheckpointError as e:
            fail(str(e))
    trains_on_ray = cfg.resources.num_workers > 0 and cfg.method != "random" and kwargs.get("checkpoint") is None
    with run_folder(run_dir, start_ray=trains_on_ray):
        _chain_in(data, cfg, run_dir, experiment, **kwargs)


@contextlib.contextmanager
def run_folder(run_dir: Path, start_ray: bool = False) -> Iterator[None]:
    """What every verb that runs does first with RUN_DIR: prove it writable (exit 1 naming it if not), hold it
    against a second command (``one_command_in``), send Ray's and MLflow's output to its logs/, and start
    local Ray when ``start_ray``."""
    try:
        writable_dir(run_dir)
    except OSError as e:
        fail(os_error_message(e), code=1)
    with one_command_in(run_dir):
        log.info("logs: %s", console.log_to_file(run_dir).parent)
        if start_ray:
            from crossmoco.pipeline.train_ray import ray_init_local

            ray_init_local()
        yield


@contextlib.contextmanager
def one_command_in(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir`` while the block runs (``pipeline.run_lock``): a second command on it is one line, exit 1."""
    from crossmoco.pipeline.run_lock import RunDirBusy, hold

    try:
        lock = hold(run_dir)
        lock.__enter__()
    except RunDirBusy as e:
        fail(str(e), code=1)
    except OSError as e:
        fail(os_error_message(e), code=1)
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def _chain_in(data: LoadedDataset, cfg: Config, run_dir: Path, experiment: str, **kwargs: object) -> None:
    from crossmoco.pipeline import tracking
    from crossmoco.pipeline.chain import ChainLabels, ChainPlan, StageError, run_chain, summary_json

    log.info("data: %s (%s/%s)", data.root, cfg.data.dataset, cfg.data.split)
    try:
        labels = ChainLabels(str(kwargs.pop("row_id", "")))
        result = run_chain(data, cfg, run_dir=run_dir, experiment=experiment, labels=labels,
                           plan=ChainPlan(**kwargs))
    except StageError as e:
        fail(str(e), code=1)
    except KeyboardInterrupt:
        interrupted(f"the chain's MLflow runs are marked KILLED; its checkpoints are in {run_dir}")
    typer.echo(summary_json(result))
    typer.echo(tracking.ui_hint(result.tracking_uri, result.experiment_id))
    if result.checkpoint is not None:
        typer.echo(f"checkpoint: {result.checkpoint}")


def _chain_config(data_dir: str | None, profile: str | None, config_file: Path | None,
                  set_: list[str] | None) -> Config:
    """The chain's config: with no dataset given, the smoke profile runs on the embedded synthetic one."""
    from crossmoco.pipeline.embedded import SYNTHETIC_OVERRIDES

    name, overrides = run_settings(profile, config_file, set_, data_dir)
    if data_dir is None:
        if name != "smoke":
            fail(f"give the dataset with --data DIR; only the smoke profile falls back to synthetic data "
                 f"(profile {name})")
        overrides = [*SYNTHETIC_OVERRIDES, *overrides]
    return resolve_config(name, overrides)


@app.command()
def pretrain(
    data_dir: DataArg = None, data: DataOpt = None, profile: ProfileOpt = None, config_file: ConfigFileOpt = None,
    set_: SetOpt = None, run_dir: RunDirOpt = Path("runs"), experiment: ExperimentOpt = "crossmoco",
) -> None:
    """Self-supervised CrossMoCo pretraining on Ray Train (DDP); ends by printing the checkpoint's path."""
    data = one_data(data_dir, data)
    _start_chain(data, _chain_config(data, profile, config_file, set_), run_dir, experiment, stages=[])


@app.command()
def evaluate(
    checkpoint: Path, data_dir: DataArg = None, data: DataOpt = None,
    profile: Annotated[str | None, typer.Option("--profile", "-p", help="Take this profile's eval.* settings "
                                                "(default: the checkpoint's own).")] = None,
    set_: SetOpt = None, run_dir: RunDirOpt = Path("runs"), experiment: ExperimentOpt = "crossmoco",
) -> None:
    """Evaluate a pretrained checkpoint (its own config, so its dataset, plus --set) with the configured
    protocols."""
    from crossmoco.training.checkpoints import CheckpointError, read_config, read_state
    from crossmoco.training.config import apply_overrides

    try:
        cfg = read_config(checkpoint)
        if profile is not None:
            cfg = apply_overrides(cfg, [o for o in PROFILES[profile] if o.startswith("eval.")])
        cfg = apply_overrides(cfg, set_ or [])
        read_state(checkpoint)  # a missing or unreadable state.pt is an error before any MLflow run
    except (ConfigError, OSError, KeyError, CheckpointError) as e:
        fail(str(e))
    data = one_data(data_dir, data)
    if data is None and cfg.data.dataset != "synthetic":
        fail(f"give the checkpoint's {cfg.data.dataset} dataset with --data DIR")
    _start_chain(data, cfg, run_dir, experiment, checkpoint=checkpoint)


@app.command()
def chain(
    data_dir: DataArg = None, data: DataOpt = None, profile: ProfileOpt = None, config_file: ConfigFileOpt = None,
    set_: SetOpt = None, run_dir: RunDirOpt = Path("runs"), experiment: ExperimentOpt = "crossmoco",
    row: Annotated[str, typer.Option(help="Table row id this chain reproduces (an MLflow tag).")] = "",
) -> None:
    """Pretrain then evaluate, as one MLflow parent run with a child run per stage (resumable); ends by printing
    the checkpoint's path."""
    data = one_data(data_dir, data)
    _start_chain(data, _chain_config(data, profile, config_file, set_), run_dir, experiment, row_id=row)


def _seeds(text: str | None) -> tuple[int, ...]:
    """``--seeds 0,1,2`` -> (0, 1, 2); one line naming the option on a bad value."""
    if not text:
        return ()
    try:
        seeds = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        fail(f"--seeds: expected comma-separated non-negative integers, got {text!r}")
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        fail(f"--seeds: expected distinct non-negative integers, got {text!r}")
    return seeds


@app.command()
def grid(
    table: Annotated[str | None, typer.Argument(help="A paper table (I-VII) whose runnable rows to run; `claims` "
                                                "(every row the paper's claims measure on the profile); or row "
                                                "ids joined by commas.")] = None,
    over: Annotated[list[str] | None, typer.Option(help="Grid a config key: KEY=V1,V2,... (repeatable).")] = None,
    profile: ProfileOpt = None,
    data: DataOpt = None,
    config_file: ConfigFileOpt = None,
    set_: SetOpt = None,
    experiment: Annotated[str | None, typer.Option("--experiment", help="MLflow experiment name (default: "
                                                   "table<n>, claims, or grid-<keys>).")] = None,
    name: Annotated[str | None, typer.Option(help="Grid name prefix (a hash of the trial configs is added).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted grid; finished trials are kept.")] = False,
    seeds: Annotated[str | None, typer.Option(help="Repeat every trial with each seed, e.g. 0,1,2 (paired "
                                              "comparisons: experiments/claims.py).")] = None,
    record: Annotated[bool, typer.Option("--record", help="Keep each finished row's figure in results/ (with "
                                         "its per-clip predictions), as `reproduce --record` does.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="With --record: replace kept figures measured with "
                                          "other --set overrides (refused without it, before anything runs).")] = False,
    results_dir: ResultsDirOpt = None,
    run_dir: RunDirOpt = Path("runs"),
) -> None:
    """Run a table's rows, the claims' rows, or any config grid (--over KEY=V1,V2), as Ray Tune trials of whole
    chains."""
    from crossmoco.experiments.grid_runner import run_table_or_over

    if (table is None) == (not over):
        fail("give either a TABLE (I-VII, claims, or row ids) or one or more --over KEY=V1,V2,...")
    seed_list = _seeds(seeds)
    # a table's rows name their own dataset; an --over grid takes the one --data holds
    profile, overrides = run_settings(profile, config_file, set_, data if table is None else None)
    resolve_config(profile, overrides)
    record_to = results_root(results_dir, writing=True) if record else None
    try:
        with run_folder(run_dir):
            summary = run_table_or_over(table, over or [], profile=profile, data_dir=data, overrides=overrides,
                                        name=name, resume=resume, run_dir=run_dir, seeds=seed_list,
                                        record_to=record_to, replace=replace, experiment=experiment)
    except (KeyError, ValueError, FileExistsError, ConfigError) as e:
        fail(str(e).strip('"'))
    except KeyboardInterrupt:  # a second Ctrl-C, past Tune's own handler
        interrupted("the grid", "run the same command with --resume to finish it")
    typer.echo(summary.text)
    grid_outcome(summary)


def grid_outcome(summary: GridSummary) -> None:
    """A grid whose trials did not all finish is a non-zero exit: 1 if one failed, else 130."""
    failed, stopped = summary.of("failed"), summary.of("interrupted")
    if failed:
        cause = ([ln for ln in failed[0].error.splitlines() if ln.strip()] or ["?"])[-1].strip()  # Ray's are long
        fail(f"{len(failed)} of {len(summary.outcomes)} trials failed; first: {failed[0].name}: {cause}", code=1)
    if stopped:
        names = ", ".join(o.name for o in stopped)
        interrupted(f"{len(stopped)} of {len(summary.outcomes)} trials did not finish ({names})",
                    "run the same command with --resume to finish them")


@app.command()
def reproduce(
    rows: Annotated[list[str], typer.Argument(help="Row ids, e.g. table5-crossmoco-ucla (see README tables).")],
    profile: ProfileOpt = None,
    data: DataOpt = None,
    config_file: ConfigFileOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = Path("runs"),
    experiment: Annotated[str | None, typer.Option("--experiment", help="MLflow experiment name (default: "
                                                   "table<n>).")] = None,
    record: Annotated[bool, typer.Option("--record", help="Keep each figure measured on the row's own dataset: "
                                         "results/<row>-<profile>.csv in --results-dir (-seed<S>.csv with "
                                         "--set seed=S, beside the default seed's), README tables "
                                         "regenerated.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="With --record: replace a kept figure of the same "
                                          "row, profile and seed measured with other --set overrides (refused "
                                          "without it, before anything runs).")] = False,
    results_dir: ResultsDirOpt = None,
) -> None:
    """Reproduce rows of a paper table: prints the paper's figure beside the measured one (--record keeps it)."""
    from crossmoco.experiments.reproduce import check_request, reproduce_rows
    from crossmoco.pipeline.chain import StageError
    from crossmoco.pipeline.data import DataError

    profile, set_ = run_settings(profile, config_file, set_)  # a row names its own dataset: nothing inferred
    cfg = resolve_config(profile, set_)
    root = results_root(results_dir, writing=record)
    try:  # an unknown or cited-only row, or a kept figure measured another way: an error before Ray starts
        check_request(rows, profile, cfg, set_, record_to=root if record else None, replace=replace)
    except (KeyError, ValueError, FileExistsError) as e:
        fail(str(e).strip('"'))
    with run_folder(run_dir, start_ray=cfg.resources.num_workers > 0):
        try:
            for line in reproduce_rows(rows, profile=profile, data_dir=data, run_dir=run_dir, overrides=set_,
                                       experiment=experiment, results_dir=root, keep=record, replace=replace):
                typer.echo(line)
        except (KeyError, ValueError, DataError, ConfigError) as e:
            fail(str(e).strip('"'))
        except StageError as e:
            fail(str(e), code=1)
        except KeyboardInterrupt:
            interrupted("reproducing the rows; the running chain's MLflow runs are marked KILLED")


@app.command()
def claims(
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Also log the report to MLflow (experiment "
                                                 "`claims`) in this run directory.")] = None,
    write: Annotated[bool, typer.Option("--write", help="Regenerate the claims block of README.md and "
                                        "docs/claims.md in --results-dir from its results/.")] = False,
    results_dir: ResultsDirOpt = None,
) -> None:
    """The paper's claims with their verdicts, from the figures in results/: per claim the paper's difference,
    the measured paired difference (mean, sd, 95% interval over seeds and test clips) and holds / reversed /
    not resolved."""
    from crossmoco.experiments.claims import judge_all, summary_counts, verdict_table
    from crossmoco.experiments.claims_report import log_claims, write_claims
    from crossmoco.experiments.results import ResultsError, check_recorded_runs, load_results
    from crossmoco.pipeline.tracking import default_uri

    root = results_root(results_dir, writing=write)
    try:
        verdicts = judge_all(root)
        if write:  # figures that the run folder's store recorded are held to their runs there before publishing
            check_recorded_runs(load_results(root), default_uri(run_dir or Path("runs")))
    except ResultsError as e:
        fail(str(e))
    typer.echo(verdict_table(verdicts))
    counts = summary_counts(verdicts)
    typer.echo(", ".join(f"{n} {k}" for k, n in counts.items()))
    if write:
        for path in write_claims(root, verdicts):
            typer.echo(f"wrote {path}")
    if run_dir is not None:
        typer.echo(f"logged to MLflow run {log_claims(run_dir, verdicts)}")


@app.command()
def rows(
    table: Annotated[str | None, typer.Argument(help="Only this table's rows (I-VII).")] = None,
    results_dir: ResultsDirOpt = None,
) -> None:
    """List the table rows: id (what reproduce and grid take), table, column, the paper's figure and the figures
    kept in results/ (per profile; several seeds as their mean)."""
    from crossmoco.experiments.results import ResultsError
    from crossmoco.experiments.row_index import row_table
    from crossmoco.experiments.tables import TABLE_IDS

    if table is not None and table.upper() not in TABLE_IDS and not table.isdigit():
        fail(f"unknown table {table!r}; expected one of {', '.join(TABLE_IDS)}")
    try:
        typer.echo(row_table(results_root(results_dir), table))
    except (ResultsError, KeyError) as e:
        fail(str(e).strip('"'))


@app.command()
def report(
    table: Annotated[str, typer.Argument(help="A paper table, I-VII.")],
    run_dir: RunDirOpt = Path("runs"),
    out: Annotated[Path | None, typer.Option(help="Folder for the .md and .png (default RUN_DIR/reports).")] = None,
    experiment: Annotated[str | None, typer.Option("--experiment", help="The MLflow experiment the rows ran in "
                                                   "(default: table<n>, as grid and reproduce name it).")] = None,
) -> None:
    """Write a paper-vs-measured Markdown table and PNG chart from MLflow (also logged as artifacts); a run
    directory with no finished run of the table is an error, and nothing is written."""
    from crossmoco.experiments.report import report as make_report

    try:
        rep = make_report(table, run_dir, out, experiment=experiment)
    except (KeyError, ValueError, FileNotFoundError) as e:
        fail(str(e).strip('"'))
    typer.echo(rep.markdown.read_text())
    typer.echo(f"wrote {rep.markdown} and {rep.chart}; logged to MLflow run {rep.mlflow_run_id}")


@app.command()
def demo(
    run_dir: RunDirOpt = Path("runs/demo"),
    table: Annotated[str, typer.Option(help="The table whose rows the demo grid runs.")] = "III",
) -> None:
    """The main job on a laptop: synthetic data -> shards -> Table III's bank-count grid (smoke profile)
    on local Ray with 2 DDP workers per trial -> MLflow -> the paper-vs-measured table."""
    from crossmoco.experiments.grid_runner import run_table_or_over

    typer.echo(f"demo: Table {table} on the embedded synthetic dataset, smoke profile, run directory {run_dir}")
    typer.echo("  1/4 synthetic NTU-format .skeleton files -> 2/4 Parquet shards -> 3/4 Ray Tune grid "
               "(each trial: Ray Train DDP pretraining on 2 workers, then its evaluation protocols) -> "
               "4/4 summary logged to MLflow")
    with run_folder(run_dir):
        summary = run_table_or_over(table, [], profile="smoke", data_dir=None, overrides=[], name="demo",
                                    resume=True, run_dir=run_dir)
    typer.echo(summary.text)
    typer.echo("The figures (confusion matrices, t-SNE, curves) are artifacts of each chain's child runs.")
    grid_outcome(summary)


def _unknown_verb(argv: list[str]) -> str | None:
    """The first word of ``argv`` past the global options when it is no verb of the CLI, else None."""
    verbs = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    words = iter(argv)
    for word in words:
        if word == "--storage":
            next(words, None)
        elif not word.startswith("-"):
            return None if word in verbs else word
    return None


def main() -> None:
    """Console-script entry point: errors a user can cause that no command caught are one line too."""
    if (verb := _unknown_verb(sys.argv[1:])) is not None:
        _last_resort(f"unknown command {verb!r}; `python -m crossmoco --help` lists them", 2)
    try:
        app()
    except ConfigError as e:  # a bad config that slipped past resolve_config
        _last_resort(str(e), 2)
    except OSError as e:  # a missing or unwritable file, a full disk
        _last_resort(os_error_message(e), 1)
    except ValueError as e:  # a hand-edited results file met while recording or rendering (ResultsError)
        from crossmoco.experiments.results import ResultsError

        if not isinstance(e, ResultsError):
            raise
        _last_resort(str(e), 2)


def _last_resort(message: str, code: int) -> NoReturn:
    if _verbose:
        traceback.print_exc()
    typer.echo(f"error: {message}", err=True)
    sys.exit(code)

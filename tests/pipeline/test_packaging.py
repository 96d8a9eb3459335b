"""Import purity, the `datasets` package identity, the CLI's verbs, README <-> CI agreement."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BELOW_THE_CORE = ("pipeline.config",)  # the config schema the core reads, until it moves into training/
VERBS = ("synth", "preprocess", "pretrain", "evaluate", "chain", "grid", "reproduce", "report", "demo")


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_models_datasets_and_training_import_with_ray_and_mlflow_blocked():
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for pkg in ("models", "datasets", "training")
        for p in (ROOT / pkg).glob("*.py")
        if p.name != "__main__.py"
    )
    code = (
        "import sys\n"
        "for name in ('ray', 'mlflow'):\n"
        "    sys.modules[name] = None\n"
        "import importlib\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m.removesuffix('.__init__'))\n"
        "leaked = [m for m in sys.modules if m.split('.')[0] in ('ray', 'mlflow', 'experiments', 'crossmoco')\n"
        "          and sys.modules[m] is not None]\n"
        f"leaked += [m for m in sys.modules if m.startswith('pipeline.') and m not in {BELOW_THE_CORE!r}]\n"
        "assert not leaked, leaked\n"
        "print('ok', len(" + repr(modules) + "))\n"
    )
    proc = _run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


def test_models_never_import_datasets():
    for path in (ROOT / "models").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+datasets\b", text, re.M), path


def test_imports_run_one_way_with_the_command_line_on_top():
    """crossmoco (the CLI) -> experiments -> pipeline (orchestration) -> training (the PyTorch core) ->
    {models, datasets}: no arrow points up. ``pipeline/__main__.py`` is the one exception, the entry point
    ``python -m pipeline`` runs."""
    above = {"pipeline": ("experiments", "crossmoco"), "experiments": ("crossmoco",),
             "training": ("pipeline", "experiments", "crossmoco"),
             "models": ("training", "pipeline", "experiments", "crossmoco"),
             "datasets": ("training", "pipeline", "experiments", "crossmoco")}
    allowed = "|".join(re.escape(m) for m in BELOW_THE_CORE)
    for pkg, forbidden in above.items():
        for path in (ROOT / pkg).rglob("*.py"):
            if path.name == "__main__.py":
                continue
            text = re.sub(rf"^\s*from\s+({allowed})\s+import.*$", "", path.read_text(), flags=re.M)
            for name in forbidden:
                assert not re.search(rf"^\s*(from|import)\s+{name}\b", text, re.M), (path, name)


def test_mlflow_is_imported_in_one_module():
    packages = ("crossmoco", "experiments", "pipeline", "training", "models", "datasets")
    importers = sorted(str(p.relative_to(ROOT)) for pkg in packages for p in (ROOT / pkg).rglob("*.py")
                       if re.search(r"^\s*(from|import)\s+mlflow\b", p.read_text(), re.M))
    assert importers == ["pipeline/tracking.py"]


def test_datasets_package_is_this_project_not_hugging_face():
    import datasets

    assert Path(datasets.__file__).resolve().parent == ROOT / "datasets"
    assert datasets.PROJECT_PACKAGE == "crossmoco"
    assert not hasattr(datasets, "load_dataset"), "the Hugging Face package must not be what imports"


def test_no_dependency_on_hugging_face_datasets():
    text = (ROOT / "pyproject.toml").read_text()
    deps = re.findall(r'^\s*"([A-Za-z0-9_.\-\[\],]+)', text, re.M)
    assert not any(d.split("[")[0].split(">")[0].split("=")[0].lower() == "datasets" for d in deps)


def test_cli_help_lists_every_verb():
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    for verb in VERBS:
        assert re.search(rf"\b{verb}\b", proc.stdout), verb


def test_cli_rejects_a_bad_override_before_doing_work():
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "config", "--set", "contrastive.num_bank=3"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "contrastive.num_bank" in proc.stderr


def _readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\n(.*?)\n## ", readme, re.S)
    assert block, "README.md needs a '## Quick start' section"
    commands = re.findall(r"^(?:\$ )?(make \w+[^\n]*)$", block.group(1), re.M)
    assert len(commands) == 2, f"the quick start has exactly two commands, found {commands}"
    (test_cmd,) = [c for c in commands if "test" in c]
    return test_cmd.strip()


def test_ci_runs_the_readme_test_command_exactly():
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in ci
    skip = ("#", "set ", "export ", "cd ")
    last = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.strip().startswith(skip)][-1]
    assert last == _readme_test_command()


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb):
    from typer.testing import CliRunner

    from crossmoco.cli import app

    result = CliRunner().invoke(app, [verb, "--help"])
    assert result.exit_code == 0, result.output

"""Import purity, the `datasets` package identity, the CLI's verbs, README <-> CI agreement."""

from __future__ import annotations

import re
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BELOW_THE_CORE: tuple[str, ...] = ()  # what the core may read from pipeline/: nothing
VERBS = ("synth", "preprocess", "pretrain", "evaluate", "chain", "grid", "reproduce", "report", "demo")


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


def _imports(text: str, module: str) -> bool:
    """Whether ``text`` imports ``module`` (``crossmoco.pipeline``) or one of its submodules, either spelling."""
    parent, _, name = module.rpartition(".")
    return bool(re.search(rf"^\s*(from|import)\s+{re.escape(module)}\b", text, re.M)
                or re.search(rf"^\s*from\s+{re.escape(parent)}\s+import\s+[^\n]*\b{name}\b", text, re.M))


def test_models_datasets_and_training_import_with_ray_and_mlflow_blocked():
    modules = sorted(
        ".".join(("crossmoco", *p.relative_to(ROOT).with_suffix("").parts))
        for pkg in ("models", "datasets", "training")
        for p in (ROOT / pkg).glob("*.py")
        if p.name != "__main__.py"
    )
    core_reads = tuple(f"crossmoco.{m}" for m in BELOW_THE_CORE)
    code = (
        "import sys\n"
        "for name in ('ray', 'mlflow'):\n"
        "    sys.modules[name] = None\n"
        "import importlib\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m.removesuffix('.__init__'))\n"
        "leaked = [m for m in sys.modules if sys.modules[m] is not None and (m.split('.')[0] in ('ray', 'mlflow')\n"
        "          or m.startswith(('crossmoco.experiments', 'crossmoco.cli', 'crossmoco.__main__')))]\n"
        f"leaked += [m for m in sys.modules if m.startswith('crossmoco.pipeline.') and m not in {core_reads!r}]\n"
        "assert not leaked, leaked\n"
        "print('ok', len(" + repr(modules) + "))\n"
    )
    proc = _run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


def test_models_never_import_datasets():
    for path in (ROOT / "models").rglob("*.py"):
        assert not _imports(path.read_text(), "crossmoco.datasets"), path


def test_imports_run_one_way_with_the_command_line_on_top():
    """crossmoco (the CLI) -> experiments -> pipeline (orchestration) -> training (the PyTorch core) ->
    {models, datasets}: no arrow points up. ``pipeline/__main__.py`` is the one exception, the checkout's
    ``python -m pipeline``."""
    cli = tuple(f"crossmoco.{p.stem}" for p in (ROOT / "crossmoco").glob("*.py") if p.stem != "__init__")
    pipeline, experiments, training = "crossmoco.pipeline", "crossmoco.experiments", "crossmoco.training"
    above = {"pipeline": (experiments, *cli), "experiments": cli, "training": (pipeline, experiments, *cli),
             "models": (training, pipeline, experiments, *cli),
             "datasets": (training, pipeline, experiments, *cli)}
    allowed = "|".join(re.escape(f"crossmoco.{m}") for m in BELOW_THE_CORE)
    for pkg, forbidden in above.items():
        for path in (ROOT / pkg).rglob("*.py"):
            if path.name == "__main__.py":
                continue
            text = re.sub(rf"^\s*from\s+({allowed})\s+import.*$", "", path.read_text(), flags=re.M)
            for name in forbidden:
                assert not _imports(text, name), (path, name)


def test_mlflow_is_imported_in_one_module():
    packages = ("crossmoco", "experiments", "pipeline", "training", "models", "datasets")
    importers = sorted(str(p.relative_to(ROOT)) for pkg in packages for p in (ROOT / pkg).rglob("*.py")
                       if re.search(r"^\s*(from|import)\s+mlflow\b", p.read_text(), re.M))
    assert importers == ["pipeline/tracking.py"]


def test_datasets_package_is_this_project_not_hugging_face():
    from crossmoco import datasets

    assert Path(datasets.__file__).resolve().parent == ROOT / "datasets"
    assert datasets.PROJECT_PACKAGE == "crossmoco"
    assert not hasattr(datasets, "load_dataset"), "the Hugging Face package must not be what imports"


def test_no_dependency_on_hugging_face_datasets():
    text = (ROOT / "pyproject.toml").read_text()
    deps = re.findall(r'^\s*"([A-Za-z0-9_.\-\[\],]+)', text, re.M)
    assert not any(d.split("[")[0].split(">")[0].split("=")[0].lower() == "datasets" for d in deps)


def test_cli_help_lists_every_verb():
    proc = subprocess.run(
        [sys.executable, "-m", "crossmoco", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    for verb in VERBS:
        assert re.search(rf"\b{verb}\b", proc.stdout), verb


def test_the_checkouts_python_m_pipeline_still_runs():
    """The older spelling, from the repository's root: pipeline/__main__.py hands over to crossmoco.cli."""
    proc = subprocess.run([sys.executable, "-m", "pipeline", "config", "--set", "contrastive.num_bank=3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "contrastive.num_bank" in proc.stderr, proc.stderr


def test_cli_rejects_a_bad_override_before_doing_work():
    proc = subprocess.run(
        [sys.executable, "-m", "crossmoco", "config", "--set", "contrastive.num_bank=3"],
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


# -- the installed wheel beside Hugging Face `datasets` (issue 33) ---------------------------------------------

_FAKE_HF = '"""A stand-in for Hugging Face datasets."""\nHF_MARKER = True\n\ndef load_dataset(name):\n    return name\n'
_SIDE_BY_SIDE = """
import sys
sys.path[:0] = {path!r}
import datasets
import crossmoco.datasets
from crossmoco.cli import app
from crossmoco.training.config import Config
assert datasets.HF_MARKER and datasets.load_dataset("x") == "x", datasets.__file__
assert crossmoco.datasets.PROJECT_PACKAGE == "crossmoco", crossmoco.datasets.__file__
assert list(crossmoco.__path__) == [{target!r} + "/crossmoco"], crossmoco.__path__
ours = sorted(n for n, m in sys.modules.items() if (getattr(m, "__file__", None) or "").startswith({target!r}))
assert all(n.startswith("crossmoco") for n in ours), ours
checkout = sorted(n for n, m in sys.modules.items() if (getattr(m, "__file__", None) or "").startswith({root!r})
                  and not m.__file__.startswith({prefix!r}))  # a .venv inside the checkout holds the dependencies
assert not checkout, checkout
print("ok", len(ours), Config.__module__)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built offline from a copy of the sources (no build/ or egg-info left in the checkout)."""
    pytest.importorskip("setuptools")
    from crossmoco import SUBPACKAGES

    src, dist = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    for folder in ("crossmoco", *SUBPACKAGES):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "--quiet", "--wheel-dir", str(dist), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = dist.glob("crossmoco-*.whl")
    return built


def test_the_wheels_only_top_level_name_is_crossmoco(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"crossmoco", f"{wheel.name.split('-py3')[0]}.dist-info"}
    from crossmoco import SUBPACKAGES

    sources = {f"crossmoco/{p.relative_to(ROOT)}" for folder in SUBPACKAGES for p in (ROOT / folder).rglob("*.py")
               if "__pycache__" not in p.parts}
    assert sources <= set(names), f"left out of the wheel: {sorted(sources - set(names))}"


@pytest.mark.parametrize("hugging_face_first", [True, False], ids=["hf-first", "wheel-first"])
def test_the_installed_wheel_and_hugging_face_datasets_import_side_by_side(wheel, tmp_path, hugging_face_first):
    """Installed with --target beside a stand-in Hugging Face ``datasets``, in either order on sys.path,
    each import is the right package and nothing comes from the checkout (no site: no editable finder)."""
    target, hf = tmp_path / "site", tmp_path / "hf"
    (hf / "datasets").mkdir(parents=True)
    (hf / "datasets" / "__init__.py").write_text(_FAKE_HF)
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                              "--target", str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    order = [str(hf), str(target)] if hugging_face_first else [str(target), str(hf)]
    path = [*order, *[p for p in site.getsitepackages() if Path(p).is_dir()]]  # the dependencies, .pth files unread
    code = _SIDE_BY_SIDE.format(path=path, target=str(target), root=str(ROOT) + "/", prefix=sys.prefix + "/")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok") and "crossmoco.training.config" in proc.stdout


def test_every_top_level_package_folder_is_in_the_namespace():
    """A new top-level folder (``training/``) joins crossmoco.SUBPACKAGES, or the wheel would leave it out."""
    from crossmoco import SUBPACKAGES

    folders = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"crossmoco"}
    assert folders == set(SUBPACKAGES)


def test_the_tree_imports_only_through_the_namespace():
    """No ``from datasets...``/``python -m pipeline`` left: scripts/namespace_imports.py would change nothing."""
    proc = subprocess.run([sys.executable, "scripts/namespace_imports.py", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"run `python scripts/namespace_imports.py`; it would rewrite:\n{proc.stdout}"

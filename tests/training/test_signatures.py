"""No function of the training core or of ``pipeline`` takes more than 8 parameters: values that
travel together go as one dataclass (a job, a run handle, a worker's place, a chain's labels)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_PARAMETERS = 8  # more travel together: a dataclass groups them (issue 35)


def _parameters(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = fn.args
    names = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    return len([n for n in names if n not in ("self", "cls")]) + (a.vararg is not None) + (a.kwarg is not None)


def test_no_signature_takes_more_than_eight_parameters() -> None:
    long = [f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name} ({_parameters(fn)})"
            for package in ("pipeline", "training") for path in sorted((ROOT / package).glob("**/*.py"))
            for fn in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) and _parameters(fn) > MAX_PARAMETERS]
    assert not long, long

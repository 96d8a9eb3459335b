"""Where the packages come from (the rest of the metadata is in pyproject.toml).

The repository's top-level folders install as ``crossmoco.<folder>`` (``crossmoco/__init__.py`` lists
them in ``SUBPACKAGES``), subpackages included, so the wheel's only top-level name is ``crossmoco``.
pyproject.toml cannot rename a folder while finding packages; this file does only that.
"""

import ast
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent


def subpackages() -> tuple[str, ...]:
    """``crossmoco.SUBPACKAGES``, read without importing the package."""
    tree = ast.parse((ROOT / "crossmoco" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SUBPACKAGES" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise SystemExit("crossmoco/__init__.py defines no SUBPACKAGES")


folders = subpackages()
setup(
    packages=["crossmoco", *(f"crossmoco.{p}" for p in find_packages(where=str(ROOT), include=[f"{f}" for f in folders]
                                                                      + [f"{f}.*" for f in folders]))],
    package_dir={f"crossmoco.{f}": f for f in folders},
    package_data={"crossmoco.experiments": ["*.json", "*.csv"],
                  "crossmoco.pipeline": ["profiles/*.toml"]},  # the named profiles (pipeline/config_file.py)
)

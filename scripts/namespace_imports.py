"""Rewrite the tree's imports to one namespace: ``from datasets.x import y`` -> ``from crossmoco.datasets.x import y``.

The folders ``crossmoco.SUBPACKAGES`` names (``datasets/``, ``models/``, ...) install as ``crossmoco.<folder>``
(see ``crossmoco/__init__.py``); every reference to them by their bare name is rewritten, in every file git
knows (tracked or new, not ignored):

- Python imports, at any indentation (``from N... import``, ``import N.x [as y]``); ``import N.x`` without an
  alias also rewrites the file's uses of ``N.x``, and a bare ``import N`` becomes ``from crossmoco import N``;
- string literals that name one of our modules (``"pipeline.engine"``, ``"pipeline.grid.time.monotonic"``)
  and logger names (``getLogger("pipeline")``, ``logger="datasets"``);
- commands: ``python -m pipeline`` (the command line) -> ``python -m crossmoco``, ``-m N.x`` ->
  ``-m crossmoco.N.x``, in prose, Makefiles and subprocess argument lists (``"-m", "pipeline"``).

Then ``ruff check --fix --select I`` re-sorts the touched Python files. Running it twice changes nothing.
A new top-level folder is one more name in ``SUBPACKAGES``; rerun this script.

    python scripts/namespace_imports.py            # rewrite the tree
    python scripts/namespace_imports.py --check    # list what would change; exit 1 if anything would
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "crossmoco"
CLI_FOLDER = "pipeline"  # pipeline/__main__.py is the command line: ``-m pipeline`` becomes ``-m crossmoco``
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".cfg", ".sh", ".txt"}
TEXT_NAMES = {"Makefile", "run"}  # .ci/run
# Files whose ``-m pipeline`` stays: the checkout's shim itself.
KEEP_COMMANDS = {"pipeline/__main__.py"}
# Left alone: this script, and the packaging test, which runs the checkout's shim and imports the bare
# ``datasets`` on purpose (it must be Hugging Face's, beside the installed wheel).
SKIP = {"scripts/namespace_imports.py", "tests/pipeline/test_packaging.py"}


def subpackages(root: Path) -> tuple[str, ...]:
    """``crossmoco.SUBPACKAGES``, read without importing the package."""
    tree = ast.parse((root / NAMESPACE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SUBPACKAGES" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise SystemExit(f"{NAMESPACE}/__init__.py defines no SUBPACKAGES")


class Rewriter:
    """The rules for one tree, compiled once from its folder names."""

    def __init__(self, root: Path, names: tuple[str, ...]) -> None:
        self.root = root
        alt = "|".join(map(re.escape, names))
        self.from_import = re.compile(rf"^(\s*)from ({alt})((?:\.\w+)*) import\b", re.M)
        self.bare_import = re.compile(rf"^(\s*)import ({alt})[ \t]*$", re.M)
        self.dotted_import = re.compile(rf"^(\s*)import ({alt})((?:\.\w+)+)([ \t]+as[ \t]+\w+)?[ \t]*$", re.M)
        self.module_string = re.compile(rf"(?<=[\"'])({alt})\.(\w+)")
        self.logger_name = re.compile(rf"(getLogger\(|logger=)([\"'])({alt})((?:\.\w+)*)\2")
        self.command = re.compile(rf"(?<![\w.-])-m ({alt})((?:\.\w+)*)\b(?![\w/-])")
        self.argv = re.compile(rf"([\"'])-m\1(,\s*)([\"'])({alt})((?:\.\w+)*)\3")

    def _module(self, folder: str, rest: str) -> str:
        return f"{NAMESPACE}.{folder}{rest}"

    def _cli(self, folder: str, rest: str) -> str:
        return NAMESPACE if folder == CLI_FOLDER and not rest else self._module(folder, rest)

    def _is_module(self, folder: str, child: str) -> bool:
        base = self.root / folder / child
        return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()

    def python(self, text: str) -> str:
        plain = [m.group(2) + m.group(3) for m in self.dotted_import.finditer(text) if not m.group(4)]
        text = self.from_import.sub(lambda m: f"{m[1]}from {self._module(m[2], m[3])} import", text)
        text = self.bare_import.sub(lambda m: f"{m[1]}from {NAMESPACE} import {m[2]}", text)
        text = self.dotted_import.sub(lambda m: f"{m[1]}import {self._module(m[2], m[3])}{m[4] or ''}", text)
        for dotted in sorted(set(plain), key=len, reverse=True):  # `import N.x` binds N: its uses move too
            text = re.sub(rf"(?<![\w.]){re.escape(dotted)}\b", f"{NAMESPACE}.{dotted}", text)
        text = self.module_string.sub(
            lambda m: self._module(m[1], "." + m[2]) if self._is_module(m[1], m[2]) else m[0], text)
        return self.logger_name.sub(lambda m: f"{m[1]}{m[2]}{self._module(m[3], m[4])}{m[2]}", text)

    def commands(self, text: str) -> str:
        text = self.command.sub(lambda m: f"-m {self._cli(m[1], m[2])}", text)
        return self.argv.sub(lambda m: f"{m[1]}-m{m[1]}{m[2]}{m[3]}{self._cli(m[4], m[5])}{m[3]}", text)

    def rewrite(self, rel: str, text: str) -> str:
        if rel.endswith(".py"):
            text = self.python(text)
        elif rel.endswith(".md"):
            text = self.from_import.sub(lambda m: f"{m[1]}from {self._module(m[2], m[3])} import", text)
        return text if rel in KEEP_COMMANDS else self.commands(text)


def tree_files(root: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    return sorted(rel for rel in out.splitlines() if rel not in SKIP and (root / rel).is_file()
                  and (Path(rel).suffix in TEXT_SUFFIXES or Path(rel).name in TEXT_NAMES))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything would change")
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree to rewrite (default: this checkout)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    rewriter = Rewriter(root, subpackages(root))
    changed = []
    for rel in tree_files(root):
        path = root / rel
        text = path.read_text()
        new = rewriter.rewrite(rel, text)
        if new != text:
            changed.append(rel)
            if not args.check:
                path.write_text(new)
    for rel in changed:
        print(rel)
    if args.check:
        return 1 if changed else 0
    touched = [rel for rel in changed if rel.endswith(".py")]
    print(f"{len(changed)} files rewritten", file=sys.stderr)
    if not touched:
        return 0
    ruff = [sys.executable, "-m", "ruff", "check", "--quiet"]
    subprocess.run([*ruff, "--fix", "--select", "I", *touched], cwd=root, check=True)  # the new names sort anew
    long_lines = subprocess.run([*ruff, "--select", "E501", "--output-format", "concise", *touched], cwd=root)
    if long_lines.returncode:
        print("these lines grew past the line length: shorten them by hand, in a commit of their own",
              file=sys.stderr)
    return long_lines.returncode


if __name__ == "__main__":
    sys.exit(main())

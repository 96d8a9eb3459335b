"""``git_sha``: the commit a chain records, in a checkout and in a copy of the working tree without ``.git``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from crossmoco.pipeline import provenance

GIVEN = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def _fresh_cache():
    provenance.git_sha.cache_clear()
    yield
    provenance.git_sha.cache_clear()


def test_a_checkout_says_its_own_commit_whatever_the_environment_claims(monkeypatch):
    monkeypatch.setenv("CROSSMOCO_COMMIT", GIVEN)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          cwd=Path(provenance.__file__).parent).stdout.strip()  # fmt: skip
    if not head:
        pytest.skip("not run from a git checkout")
    assert provenance.git_sha().removesuffix("-dirty") == head


def test_a_copy_without_git_reads_the_commit_it_was_given(monkeypatch):
    def no_repo(cmd, **kw):  # what git says in a folder that is not a repository
        return subprocess.CompletedProcess(cmd, 128, stdout="", stderr="fatal: not a git repository")

    monkeypatch.setattr(provenance.subprocess, "run", no_repo)
    monkeypatch.setenv("CROSSMOCO_COMMIT", GIVEN)
    assert provenance.git_sha() == GIVEN
    provenance.git_sha.cache_clear()
    monkeypatch.delenv("CROSSMOCO_COMMIT")
    assert provenance.git_sha() == "unknown"


def test_no_git_program_falls_back_to_the_given_commit(monkeypatch):
    def missing(cmd, **kw):
        raise FileNotFoundError(2, "No such file or directory", "git")

    monkeypatch.setattr(provenance.subprocess, "run", missing)
    monkeypatch.setenv("CROSSMOCO_COMMIT", GIVEN)
    assert provenance.git_sha() == GIVEN

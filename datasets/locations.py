"""Where the real datasets live: a setting, never a constant buried in code.

``CROSSMOCO_DATA`` points at a folder laid out like ``../shared/data`` (``ntu/``, ``pku_mmd/``,
``nw_ucla/``); by default it is ``../shared/data`` beside the repository root.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout: defined here once (results/, README, docs)
DATA_ENV = "CROSSMOCO_DATA"
REQUIRE_ENV = "CROSSMOCO_REQUIRE_DATA"


def data_root() -> Path:
    """The real-data folder (``$CROSSMOCO_DATA`` or ``<repo>/../shared/data``); it may not exist."""
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser().resolve() if value else (REPO_ROOT.parent / "shared" / "data").resolve()

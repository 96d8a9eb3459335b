"""A run's settings as a file: ``--config FILE`` reads TOML, YAML or the JSON ``config`` prints,
``config`` writes TOML that reads back in, and the named profiles are such files in the package
(``pipeline/profiles/<name>.toml``).

A file holds an optional ``profile`` and the config's keys, either as sections (``[contrastive]``
then ``num_banks = 3``) or as dotted keys (``"contrastive.num_banks" = 3``); the JSON of
``config --format json`` is read from its ``config`` entry. Its values are applied after the
profile and before ``--set``, so a command line still changes one value of a kept file. A bad
key or value is a ``ConfigError`` naming the file and the key.

A profile file is the same format: a profile that names another (``profile = "cpu"``) is that
profile's settings, then its own. ``load_config`` is the base config, then a profile, then ``--set``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from crossmoco.training.config import Config, ConfigError, apply_overrides, from_flat_dict, to_flat_dict

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package (pyproject's dependencies)
    import tomli as tomllib  # type: ignore[no-redef]

PROFILE_DIR = Path(__file__).with_name("profiles")  # <name>.toml each, shipped as package data


def _flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def read_config_file(path: Path) -> tuple[str | None, dict[str, Any]]:
    """(the file's profile or None, its settings as ``{dotted key: value}``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from e
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            raw: Any = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text) or {}
        elif suffix == ".json":
            raw = json.loads(text)
            raw = raw.get("config", raw) if isinstance(raw, dict) else raw
        else:
            raise ConfigError(f"{path}: expected a .toml, .yaml/.yml or .json file")
    except ConfigError:
        raise
    except Exception as e:  # tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError name the line
        raise ConfigError(f"{path}: {e}") from e
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a table of settings, got {type(raw).__name__}")
    flat = _flatten(raw)
    profile = flat.pop("profile", None)
    if profile is not None and not isinstance(profile, str):
        raise ConfigError(f"{path}: profile must be a string, got {profile!r}")
    return profile, flat


def _override_text(value: Any) -> str:
    """A value as ``--set`` spells it: lists comma-joined, booleans lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_override_text(v) for v in value)
    return str(value)


def file_overrides(path: Path) -> tuple[str | None, list[str]]:
    """(the file's profile or None, its settings as ``key=value`` overrides), each checked against the
    config's keys and types: a bad one is a ``ConfigError`` naming the file and the key."""
    profile, settings = read_config_file(path)
    try:
        from_flat_dict(settings)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return profile, [f"{k}={_override_text(v)}" for k, v in settings.items()]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string: JSON's escapes are TOML's


def to_toml(cfg: Config, header: str = "") -> str:
    """The whole config as TOML, one ``[section]`` per top-level section: ``--config`` reads it back."""
    flat = to_flat_dict(cfg)
    lines = [f"# {ln}" for ln in header.splitlines()]
    top = {k: v for k, v in flat.items() if "." not in k}
    lines += [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    sections: dict[str, list[str]] = {}
    for key, value in flat.items():
        if "." in key:
            section, rest = key.split(".", 1)
            sections.setdefault(section, []).append(f"{rest} = {_toml_value(value)}")
    for section, entries in sections.items():
        lines += ["", f"[{section}]", *entries]
    return "\n".join(lines) + "\n"


def _profile_overrides(name: str, seen: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The overrides of ``PROFILE_DIR/<name>.toml``, after those of the profile it names, if any."""
    if name in seen:
        raise ConfigError(f"profile {name!r} names itself through {' -> '.join(seen)}")
    base, own = file_overrides(PROFILE_DIR / f"{name}.toml")
    return (*(_profile_overrides(base, (*seen, name)) if base is not None else ()), *own)


PROFILES: dict[str, tuple[str, ...]] = {p.stem: _profile_overrides(p.stem) for p in sorted(PROFILE_DIR.glob("*.toml"))}


def load_config(profile: str | None = None, overrides: Iterable[str] = ()) -> Config:
    """The base config, then the profile's overrides, then the user's."""
    cfg = Config()
    if profile is not None:
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile {profile!r}; expected one of {sorted(PROFILES)}")
        cfg = apply_overrides(cfg, PROFILES[profile])
    return apply_overrides(cfg, overrides)

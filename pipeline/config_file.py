"""A run's settings as a file: ``--config FILE`` reads TOML, YAML or the JSON ``config`` prints, and
``config`` writes TOML that reads back in.

A file holds an optional ``profile`` and the config's keys, either as sections (``[contrastive]``
then ``num_banks = 3``) or as dotted keys (``"contrastive.num_banks" = 3``); the JSON of
``config --format json`` is read from its ``config`` entry. Its values are applied after the
profile and before ``--set``, so a command line still changes one value of a kept file. A bad
key or value is a ``ConfigError`` naming the file and the key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.config import Config, ConfigError, from_flat_dict, to_flat_dict


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
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                raise ConfigError(f"{path}: TOML needs Python >= 3.11; write the settings as YAML") from None
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

"""The Fig. 4 picture (pipeline/occlusion_figure.py) and the `synth` / `figure-occlusion` commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from crossmoco.cli import app
from crossmoco.datasets.config import OcclusionConfig
from crossmoco.pipeline.occlusion_figure import DEFAULT_FILE, plot_occlusion


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_plot_from_an_array(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = (rng.normal(0, 0.3, (3, 30, 25, 2)) + np.array([0, 0, 3.0])[:, None, None, None]).astype(np.float32)
    data[..., 1] = 0  # one person
    out = plot_occlusion(data, tmp_path / "fig" / "occlusion.png", occlusion=OcclusionConfig(temporal_rate=1.0))
    width, height = png_size(out)
    assert width > 4 * height / 2 and not list((tmp_path / "fig").glob(".*"))


def test_plot_the_real_jump_up_sequence(tmp_path: Path, shared_data: Path) -> None:
    out = plot_occlusion(shared_data / DEFAULT_FILE, tmp_path / "fig4.png", seed=3)
    assert png_size(out)[0] > 1000


def test_synth_command_writes_the_dataset(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", str(tmp_path / "s"), "--performers", "2", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "s").glob("*.skeleton"))) == 2 * 3 * 15
    bad = CliRunner().invoke(app, ["synth", str(tmp_path / "t"), "--performers", "1"])
    assert bad.exit_code == 2 and "performers" in bad.output


def test_figure_command(tmp_path: Path) -> None:
    CliRunner().invoke(app, ["synth", str(tmp_path / "s"), "--performers", "2"])
    skeleton = tmp_path / "s" / "S001C002P001R001A006.skeleton"
    result = CliRunner().invoke(app, ["figure-occlusion", str(tmp_path / "f.png"), "--skeleton", str(skeleton),
                                      "--set", "augment.occlusion.count=joints"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert png_size(tmp_path / "f.png")[0] > 1000
    missing = CliRunner().invoke(app, ["figure-occlusion", str(tmp_path / "g.png"), "--skeleton", "nowhere.skeleton"])
    assert missing.exit_code == 2


@pytest.mark.parametrize("frames", [(1, 25), (5, 10, 15)])
def test_any_frame_selection(tmp_path: Path, frames: tuple[int, ...]) -> None:
    data = np.ones((3, 40, 25, 1), np.float32)
    plot_occlusion(data, tmp_path / "x.png", frames=frames, num_frames=25)

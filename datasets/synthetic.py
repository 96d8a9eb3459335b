"""The embedded synthetic dataset: procedurally generated NTU RGB+D ``.skeleton`` files.

It lets every command run with no download, through the same NTU reader and preprocessing as
real data. Recordings are ``S001CcccPpppRrrrAaaa.skeleton``:

* ``A``: one of :data:`SYNTHETIC_CLASSES` (datasets/synthetic_actions.py: joint-angle
  trajectories; the last two involve two people);
* ``P``: a performer with their own bone lengths (datasets/synthetic_body.py), tempo and range of
  motion; the cross-subject split trains on odd performer ids and tests on even ones;
* ``C``: one of three Kinect-like cameras at different yaw angles and heights (:data:`CAMERAS`);
  the cross-view split tests on camera 1;
* ``R``: a repetition, with fresh timing, position, orientation and noise.

Nothing but the motion depends on the class: the sequence length, the performer's position and
facing, the camera distance and the noise are drawn identically for every class, so a classifier
on a trivial cue (mean position, length, camera) stays near chance. Each recording draws from its
own generator seeded by ``(seed, performer, camera, repetition, action)``: deterministic per seed
and independent of which other files are generated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossmoco.datasets.atomic import write_text_atomic
from crossmoco.datasets.ntu_writer import write_ntu_skeleton
from crossmoco.datasets.synthetic_actions import ACTIONS, TWO_PERSON, Timing
from crossmoco.datasets.synthetic_body import Body, forward_kinematics

log = logging.getLogger(__name__)

SYNTHETIC_CLASSES: tuple[str, ...] = tuple(ACTIONS)
"""Class names in label order (A001 is the first)."""


@dataclass(frozen=True)
class Camera:
    yaw_deg: float  # where the camera stands around the scene, 0 = in front of the performer
    height_m: float  # height of the sensor above the floor


CAMERAS = {1: Camera(-45.0, 0.8), 2: Camera(0.0, 1.1), 3: Camera(45.0, 1.4)}  # as NTU's three views
FPS = 30.0  # Kinect v2 frame rate
BASE_ID = 72057594037927936  # Kinect tracking ids in real NTU files start near 2**56


@dataclass(frozen=True)
class Performer:
    body: Body
    tempo: float  # speed factor: >1 moves faster
    amplitude: float  # range of motion factor

    @classmethod
    def draw(cls, seed: int, performer: int) -> Performer:
        rng = np.random.default_rng([seed, 1, performer])
        return cls(Body.random(rng), float(rng.uniform(0.8, 1.25)), float(rng.uniform(0.85, 1.1)))


def _timing(rng: np.random.Generator, performer: Performer, min_frames: int, max_frames: int) -> Timing:
    duration = float(np.clip(rng.uniform(0.6, 0.8) / performer.tempo, 0.45, 0.9))
    return Timing(
        num_frames=int(rng.integers(min_frames, max_frames + 1)),
        onset=float(rng.uniform(0.0, 1.0 - duration)),
        duration=duration,
        cycles_per_frame=performer.tempo * float(rng.uniform(1.6, 2.2)) / FPS,  # about 2 repetitions a second
        phase=float(rng.uniform(0, 2 * np.pi)),
        amplitude=performer.amplitude * float(rng.uniform(0.9, 1.1)),
        direction=float(rng.choice([-1.0, 1.0])),
    )


def _scene(action: str, timing: Timing, people: list[Performer], rng: np.random.Generator) -> np.ndarray:
    """World coordinates of everyone in the recording, placed and turned at random.

    Shape:
        -> (P, T, 25, 3) metres; world y up, the scene's front faces +z
    """
    poses = ACTIONS[action](timing)
    facing = rng.uniform(-np.pi / 6, np.pi / 6)
    centre = np.array([rng.uniform(-0.5, 0.5), 0.0, rng.uniform(-0.5, 0.5)])
    out = []
    for k, (pose, person) in enumerate(zip(poses, people, strict=True)):
        if len(poses) == 2:  # face each other across about 0.9 m, side-on to the scene's front
            pose.yaw += np.pi / 2 if k == 0 else -np.pi / 2
            offset = np.array([-0.45 if k == 0 else 0.45, 0.0, 0.0])
        else:
            offset = np.zeros(3)
        joints = forward_kinematics(pose, person.body) + offset  # (T, 25, 3)
        c, s = np.cos(facing), np.sin(facing)
        x, z = joints[..., 0].copy(), joints[..., 2].copy()
        joints[..., 0], joints[..., 2] = c * x + s * z, -s * x + c * z
        out.append(joints + centre)
    return np.stack(out)


def _to_camera(world: np.ndarray, camera: Camera, rng: np.random.Generator) -> np.ndarray:
    """Kinect camera coordinates: x to the sensor's left, y up, z the depth away from it.

    Shape:
        world: (..., 3) -> (..., 3)
    """
    yaw = np.deg2rad(camera.yaw_deg + rng.uniform(-5, 5))
    distance = rng.uniform(3.0, 4.0)
    position = np.array([distance * np.sin(yaw), camera.height_m + rng.uniform(-0.1, 0.1), distance * np.cos(yaw)])
    forward = np.array([-np.sin(yaw), 0.0, -np.cos(yaw)])  # looking at the scene's centre
    left = np.cross(np.array([0.0, 1.0, 0.0]), forward)
    tilt = np.deg2rad(rng.uniform(0.0, 8.0))  # the sensor is tilted slightly down
    up = np.cos(tilt) * np.array([0.0, 1.0, 0.0]) + np.sin(tilt) * forward
    depth = np.cos(tilt) * forward - np.sin(tilt) * np.array([0.0, 1.0, 0.0])
    d = world - position
    return np.stack([d @ left, d @ up, d @ depth], axis=-1)


def _sensor_noise(xyz: np.ndarray, rng: np.random.Generator, lost_frame_prob: float) -> np.ndarray:
    """Gaussian noise, rare joint jumps (noisier at the hand tips and thumbs) and lost frames.

    Shape:
        xyz: (P, T, 25, 3) -> (P, T, 25, 3); a lost frame is all zeros for everyone
    """
    std = np.full(25, 0.008)
    std[[21, 22, 23, 24]] = 0.02  # Kinect v2 tracks the hand tips and thumbs poorly
    noisy = xyz + rng.normal(size=xyz.shape) * std[:, None]
    jumps = rng.random(xyz.shape[:3]) < 0.004
    noisy += jumps[..., None] * rng.normal(0, 0.06, xyz.shape)
    t = xyz.shape[1]
    if rng.random() < lost_frame_prob:
        lost = rng.choice(np.arange(1, t), size=int(rng.integers(1, 4)), replace=False)
        noisy[:, lost] = 0.0
    return noisy


def _partner(performer: int, num_performers: int) -> int:
    """The second person of a two-person action: the next performer of the same parity, so both
    stay on the same side of the cross-subject split."""
    candidate = performer + 2
    return candidate if candidate <= num_performers else 2 - performer % 2


def synthesize(seed: int, performer: int, camera: int, repetition: int, label: int, *,
               num_performers: int = 10, min_frames: int = 40, max_frames: int = 80,
               lost_frame_prob: float = 0.25) -> np.ndarray:  # fmt: skip
    """One recording as the Kinect would report it (1-based ids as in the file name, 0-based label).

    Shape:
        -> (3, T, 25, P) float32, P = 1 or 2 people, camera coordinates in metres
    """
    action = SYNTHETIC_CLASSES[label]
    rng = np.random.default_rng([seed, 2, performer, camera, repetition, label])
    people = [Performer.draw(seed, performer)]
    if action in TWO_PERSON:
        people.append(Performer.draw(seed, _partner(performer, num_performers)))
    timing = _timing(rng, people[0], min_frames, max_frames)
    world = _scene(action, timing, people, rng)  # (P, T, 25, 3)
    xyz = _sensor_noise(_to_camera(world, CAMERAS[camera], rng), rng, lost_frame_prob)
    return xyz.transpose(3, 1, 2, 0).astype(np.float32)  # (P, T, V, C) -> (C, T, V, P)


def synthetic_name(camera: int, performer: int, repetition: int, label: int) -> str:
    return f"S001C{camera:03d}P{performer:03d}R{repetition:03d}A{label + 1:03d}.skeleton"


def generate_synthetic(out_dir: Path, *, seed: int = 0, num_performers: int = 10, repetitions: int = 1,
                       cameras: tuple[int, ...] = (1, 2, 3), min_frames: int = 40, max_frames: int = 80,
                       lost_frame_prob: float = 0.25) -> list[Path]:  # fmt: skip
    """Write the synthetic dataset into ``out_dir`` and a ``label_map.txt`` (one class name a line).

    The default, 10 performers x 3 cameras x 1 repetition x 15 classes = 450 files of 40-80
    frames, takes a few seconds to write and to preprocess.
    """
    if num_performers < 2 or repetitions < 1 or not set(cameras) <= set(CAMERAS) or not cameras:
        raise ValueError(f"need >= 2 performers, >= 1 repetition and cameras from {sorted(CAMERAS)}")
    if not 2 <= min_frames <= max_frames:
        raise ValueError(f"need 2 <= min_frames <= max_frames, got {min_frames}, {max_frames}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in range(1, num_performers + 1):
        for c in cameras:
            for r in range(1, repetitions + 1):
                for label in range(len(SYNTHETIC_CLASSES)):
                    data = synthesize(seed, p, c, r, label, num_performers=num_performers, min_frames=min_frames,
                                      max_frames=max_frames, lost_frame_prob=lost_frame_prob)  # fmt: skip
                    ids = [BASE_ID + 1000 * p + 10 * r + m for m in range(data.shape[-1])]
                    paths.append(write_ntu_skeleton(out_dir / synthetic_name(c, p, r, label), data, ids))
    label_map = out_dir / "label_map.txt"
    write_text_atomic(label_map, "\n".join(SYNTHETIC_CLASSES) + "\n")
    log.info("wrote %d synthetic recordings (%d classes) to %s", len(paths), len(SYNTHETIC_CLASSES), out_dir)
    return paths

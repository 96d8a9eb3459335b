"""Forward kinematics of a synthetic performer on the NTU 25-joint layout (datasets/skeleton.py).

A pose is a set of joint-angle trajectories (:class:`Pose`, one value per frame); a performer is a
set of bone lengths (:class:`Body`). :func:`forward_kinematics` turns both into joint positions in
the performer's own frame: x to the performer's left, y up, z the way they face, feet on the
ground (y = 0) unless the pose lifts them. datasets/synthetic.py places that frame in the world and
views it from a camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NUM_JOINTS = 25
# 0-based NTU joint indices used below (1-based numbers in datasets/skeleton.py's NTU_JOINT_NAMES).
BASE, MID_SPINE, NECK, HEAD, SPINE = 0, 1, 2, 3, 20
ARM = {"left": (4, 5, 6, 7, 21, 22), "right": (8, 9, 10, 11, 23, 24)}  # shoulder elbow wrist hand tip thumb
LEG = {"left": (12, 13, 14, 15), "right": (16, 17, 18, 19)}  # hip knee ankle foot
SIDE = {"left": 1.0, "right": -1.0}  # sign of the performer's x axis

# Segment lengths (metres) of a 1.75 m adult; a performer scales and perturbs them.
MEAN_BONES = {
    "pelvis": 0.25, "chest": 0.22, "neck": 0.08, "head": 0.14, "shoulder": 0.19, "upper_arm": 0.29,
    "forearm": 0.25, "hand": 0.08, "hand_tip": 0.07, "hip": 0.09, "thigh": 0.42, "shin": 0.41,
    "foot": 0.14, "ankle": 0.08,
}  # fmt: skip


def _zeros() -> np.ndarray:
    return np.zeros(0)


@dataclass
class Pose:
    """Joint-angle trajectories in radians (and metres for ``lift``/``shift``), each of shape (T,).

    Arms: ``elev`` raises the arm from hanging (0) through horizontal (pi/2) to overhead (pi),
    ``azim`` turns that raise from the sagittal plane (0) to the side (pi/2; negative: across the
    body), ``elbow`` flexes the forearm. Legs: ``flex`` lifts the thigh forward, ``knee`` bends the
    shin back. Trunk: ``pitch`` bends forward at the hips, ``yaw``
    turns the whole body about the vertical, ``lift`` raises it (a jump), ``shift`` moves it back
    along its facing direction (being pushed).
    """

    num_frames: int
    arm: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    leg: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    pitch: np.ndarray = field(default_factory=_zeros)
    yaw: np.ndarray = field(default_factory=_zeros)
    lift: np.ndarray = field(default_factory=_zeros)
    shift: np.ndarray = field(default_factory=_zeros)

    def __post_init__(self) -> None:
        zero = np.zeros(self.num_frames)
        for name in ("pitch", "yaw", "lift", "shift"):
            value = getattr(self, name)
            setattr(self, name, zero + value if np.size(value) else zero.copy())
        for limbs, keys in ((self.arm, ("elev", "azim", "elbow")), (self.leg, ("flex", "knee"))):
            for side in ("left", "right"):
                limb = limbs.setdefault(side, {})
                for key in keys:
                    limb[key] = zero + limb.get(key, 0.0)


@dataclass(frozen=True)
class Body:
    """A performer's bone lengths in metres (keys of MEAN_BONES)."""

    bones: dict[str, float]

    @classmethod
    def random(cls, rng: np.random.Generator) -> Body:
        """Overall size within +-15% and each segment within about +-5% of that."""
        scale = float(np.clip(rng.normal(1.0, 0.07), 0.85, 1.15))
        return cls({k: v * scale * float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1)) for k, v in MEAN_BONES.items()})


def _unit(e: np.ndarray, a: np.ndarray, side: float, up, fwd, lat) -> tuple[np.ndarray, np.ndarray]:
    """Direction of a limb raised by ``e`` in the plane turned by ``a``, and its derivative in e.

    Shape:
        e, a: (T,); up, fwd, lat: (T, 3) or (3,) -> two (T, 3) unit vectors, orthogonal
    """
    se, ce, sa, ca = np.sin(e)[:, None], np.cos(e)[:, None], np.sin(a)[:, None], np.cos(a)[:, None]
    u = se * ca * fwd + se * sa * side * lat - ce * up
    w = ce * ca * fwd + ce * sa * side * lat + se * up
    return u, w


def _bend(u: np.ndarray, w: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate u towards w by ``angle`` (T,): the next segment after a hinge joint."""
    return np.cos(angle)[:, None] * u + np.sin(angle)[:, None] * w


def _trunk_and_arms(pose: Pose, b: dict[str, float], out: np.ndarray) -> None:
    """Spine, head and both arms, with the trunk pitched forward at the base of the spine."""
    t = pose.num_frames
    p = pose.pitch[:, None]
    up = np.hstack([np.zeros((t, 1)), np.cos(p), np.sin(p)])  # (T, 3)
    fwd = np.hstack([np.zeros((t, 1)), -np.sin(p), np.cos(p)])
    lat = np.array([1.0, 0.0, 0.0])
    out[:, MID_SPINE] = out[:, BASE] + up * b["pelvis"]
    out[:, SPINE] = out[:, MID_SPINE] + up * b["chest"]
    out[:, NECK] = out[:, SPINE] + up * b["neck"]
    out[:, HEAD] = out[:, NECK] + up * b["head"]
    for side, (sh, el, wr, ha, tip, th) in ARM.items():
        s, arm = SIDE[side], pose.arm[side]
        out[:, sh] = out[:, SPINE] + s * lat * b["shoulder"] - up * 0.03
        u, w = _unit(arm["elev"], arm["azim"], s, up, fwd, lat)
        out[:, el] = out[:, sh] + u * b["upper_arm"]
        fore = _bend(u, w, arm["elbow"])
        out[:, wr] = out[:, el] + fore * b["forearm"]
        out[:, ha] = out[:, wr] + fore * b["hand"]
        out[:, tip] = out[:, ha] + fore * b["hand_tip"]
        out[:, th] = out[:, ha] + fore * 0.02 + _bend(fore, w, np.full(t, np.pi / 2)) * 0.04


def _legs(pose: Pose, b: dict[str, float], out: np.ndarray) -> None:
    """Both legs from the (unpitched) pelvis: hip, knee, ankle, foot."""
    up, fwd, lat = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])
    for side, (hip, knee, ankle, foot) in LEG.items():
        s, leg = SIDE[side], pose.leg[side]
        out[:, hip] = out[:, BASE] + s * lat * b["hip"] - up * 0.05
        u, w = _unit(leg["flex"], np.zeros(pose.num_frames), s, up, fwd, lat)  # thigh raised forward
        out[:, knee] = out[:, hip] + u * b["thigh"]
        shin = _bend(u, w, -leg["knee"])
        out[:, ankle] = out[:, knee] + shin * b["shin"]
        out[:, foot] = out[:, ankle] + fwd * b["foot"] - up * 0.04


def forward_kinematics(pose: Pose, body: Body) -> np.ndarray:
    """Joint positions of one performer in their own frame, feet on the ground.

    The pelvis height is whatever puts the lower ankle at ankle height, plus ``pose.lift``; then the
    whole body turns by ``pose.yaw`` about the vertical and moves back by ``pose.shift``.

    Shape:
        -> (T, 25, 3) float64 metres, axes x (performer's left), y (up), z (facing)
    """
    t = pose.num_frames
    out = np.zeros((t, NUM_JOINTS, 3))
    _trunk_and_arms(pose, body.bones, out)
    _legs(pose, body.bones, out)
    ankles = out[:, [LEG["left"][2], LEG["right"][2]], 1].min(axis=1)  # (T,)
    out[..., 1] += (body.bones["ankle"] - ankles + pose.lift)[:, None]
    out[..., 2] -= pose.shift[:, None]
    c, s = np.cos(pose.yaw)[:, None], np.sin(pose.yaw)[:, None]
    x, z = out[..., 0].copy(), out[..., 2].copy()
    out[..., 0], out[..., 2] = c * x + s * z, -s * x + c * z
    return out

"""The action classes of the synthetic dataset, each a set of joint-angle trajectories.

Every class is a function ``(Timing) -> list[Pose]`` (one pose per person) written in terms of
a few time profiles: ``window`` (0 -> 1 over the active part of the recording), ``bump`` (0 -> 1 ->
0 over it), ``ramp`` (0 -> 1, smooth), ``envelope`` (on for the middle of it, for repeated motions)
and ``osc`` (the repetition at the performer's tempo). Only the motion differs between classes:
sequence length, position and orientation are drawn by datasets/synthetic.py the same way for all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crossmoco.datasets.synthetic_body import Pose


@dataclass(frozen=True)
class Timing:
    """When and how one recording's action happens (drawn per recording from the performer's style)."""

    num_frames: int
    onset: float  # fraction of the recording before the action starts
    duration: float  # fraction of the recording the action lasts
    cycles_per_frame: float  # tempo of repeated motions (waving, clapping, punching, shaking hands)
    phase: float  # radians, start of the repetition
    amplitude: float  # the performer's range of motion, ~1
    direction: float  # +1 or -1: which way to turn

    @property
    def frames(self) -> np.ndarray:
        return np.arange(self.num_frames, dtype=np.float64)


def window(tm: Timing) -> np.ndarray:
    """Progress through the action, 0 before it, 1 after it. Shape: -> (T,)"""
    return np.clip((tm.frames / max(tm.num_frames - 1, 1) - tm.onset) / tm.duration, 0.0, 1.0)


def ramp(phi: np.ndarray) -> np.ndarray:
    return phi * phi * (3 - 2 * phi)  # smoothstep


def bump(phi: np.ndarray) -> np.ndarray:
    return np.sin(np.pi * phi) ** 2


def envelope(phi: np.ndarray) -> np.ndarray:
    """Up over the first 20% of the action, held, down over the last 20%."""
    return ramp(np.clip(phi / 0.2, 0, 1)) * ramp(np.clip((1 - phi) / 0.2, 0, 1))


def osc(tm: Timing) -> np.ndarray:
    return np.sin(2 * np.pi * tm.cycles_per_frame * tm.frames + tm.phase)


def _pose(tm: Timing, **kw) -> Pose:
    return Pose(tm.num_frames, **kw)


def _wave(side: str) -> Callable[[Timing], list[Pose]]:
    def wave(tm: Timing) -> list[Pose]:
        e = envelope(window(tm)) * tm.amplitude
        arm = {"elev": 2.4 * e, "azim": 1.0, "elbow": e * (0.8 + 0.5 * osc(tm))}
        return [_pose(tm, arm={side: arm})]

    return wave


def _kick(side: str) -> Callable[[Timing], list[Pose]]:
    def kick(tm: Timing) -> list[Pose]:
        phi = window(tm)
        leg = {"flex": 1.3 * tm.amplitude * bump(phi), "knee": 1.1 * bump(np.minimum(2 * phi, 1))}
        other = "right" if side == "left" else "left"
        return [_pose(tm, leg={side: leg}, arm={other: {"elev": 0.5 * bump(phi)}}, pitch=-0.1 * bump(phi))]

    return kick


def squat(tm: Timing) -> list[Pose]:
    b = bump(window(tm)) * tm.amplitude
    legs = {s: {"flex": 1.35 * b, "knee": 2.1 * b} for s in ("left", "right")}
    arms = {s: {"elev": 1.4 * b} for s in ("left", "right")}
    return [_pose(tm, leg=legs, arm=arms, pitch=0.45 * b)]


def jump(tm: Timing) -> list[Pose]:
    phi = window(tm)
    crouch = bump(np.clip(phi / 0.35, 0, 1)) + bump(np.clip((phi - 0.65) / 0.35, 0, 1))
    air = bump(np.clip((phi - 0.3) / 0.4, 0, 1))
    legs = {s: {"flex": 0.6 * crouch, "knee": 1.1 * crouch} for s in ("left", "right")}
    arms = {s: {"elev": 2.4 * air * tm.amplitude, "azim": 0.4} for s in ("left", "right")}
    return [_pose(tm, leg=legs, arm=arms, pitch=0.3 * crouch, lift=0.3 * tm.amplitude * air)]


def clap(tm: Timing) -> list[Pose]:
    e = envelope(window(tm))
    open_ = 0.5 + 0.5 * osc(tm)  # 0: palms together at the midline, 1: apart
    arms = {s: {"elev": 1.45 * e, "azim": e * (-0.33 + 0.8 * open_ * tm.amplitude), "elbow": 0.5 * e}
            for s in ("left", "right")}  # fmt: skip
    return [_pose(tm, arm=arms)]


def bow(tm: Timing) -> list[Pose]:
    return [_pose(tm, pitch=0.95 * tm.amplitude * bump(window(tm)))]


def raise_both_arms(tm: Timing) -> list[Pose]:
    b = bump(window(tm)) * tm.amplitude
    return [_pose(tm, arm={s: {"elev": 2.9 * b, "azim": 0.25, "elbow": 0.2 * b} for s in ("left", "right")})]


def punch(tm: Timing) -> list[Pose]:
    e = envelope(window(tm))
    arms = {}
    for side, shift in (("right", 0.0), ("left", np.pi)):
        strike = np.maximum(0.0, np.sin(2 * np.pi * tm.cycles_per_frame * tm.frames + tm.phase + shift)) ** 2
        arms[side] = {"elev": e * (1.0 + 0.5 * strike), "azim": -0.15 * e, "elbow": e * (2.1 - 2.0 * strike)}
    return [_pose(tm, arm=arms, pitch=0.1 * e)]


def turn_around(tm: Timing) -> list[Pose]:
    phi = window(tm)
    step = 0.35 * bump(phi) * np.abs(osc(tm))
    legs = {"left": {"flex": step, "knee": 1.2 * step}, "right": {"flex": step[::-1], "knee": 1.2 * step[::-1]}}
    return [_pose(tm, yaw=tm.direction * np.pi * tm.amplitude * ramp(phi), leg=legs)]


def _sitting(tm: Timing, amount: np.ndarray) -> Pose:
    """Seated by ``amount`` (0 standing, 1 on a chair), leaning forward while moving."""
    legs = {s: {"flex": 1.5 * amount, "knee": 1.55 * amount} for s in ("left", "right")}
    lean = 4 * amount * (1 - amount)  # 1 halfway down, 0 standing or seated
    arms = {s: {"elev": 0.4 * lean} for s in ("left", "right")}
    return _pose(tm, leg=legs, pitch=0.55 * lean + 0.1 * amount, arm=arms)


def sit_down(tm: Timing) -> list[Pose]:
    return [_sitting(tm, ramp(window(tm)))]


def stand_up(tm: Timing) -> list[Pose]:
    return [_sitting(tm, 1 - ramp(window(tm)))]


def shake_hands(tm: Timing) -> list[Pose]:
    e = envelope(window(tm))
    arm = {"elev": e * (1.05 + 0.12 * osc(tm)), "azim": -0.2 * e, "elbow": 0.5 * e}
    return [_pose(tm, arm={"right": arm}), _pose(tm, arm={"right": dict(arm)})]


def push(tm: Timing) -> list[Pose]:
    phi = window(tm)
    reach = envelope(phi)
    hit = ramp(np.clip((phi - 0.35) / 0.25, 0, 1)) * reach  # arms extend after the approach
    pusher = {s: {"elev": 1.45 * reach, "elbow": reach * (1.6 - 1.4 * hit)} for s in ("left", "right")}
    back = 0.35 * tm.amplitude * ramp(np.clip((phi - 0.45) / 0.3, 0, 1))
    pushed_arms = {s: {"elev": 0.7 * bump(np.clip((phi - 0.4) / 0.5, 0, 1))} for s in ("left", "right")}
    return [_pose(tm, arm=pusher, pitch=0.25 * hit), _pose(tm, shift=back, pitch=-0.15 * hit, arm=pushed_arms)]


ACTIONS: dict[str, Callable[[Timing], list[Pose]]] = {
    "wave left hand": _wave("left"),
    "wave right hand": _wave("right"),
    "kick with left leg": _kick("left"),
    "kick with right leg": _kick("right"),
    "squat": squat,
    "jump up": jump,
    "clap": clap,
    "bow": bow,
    "raise both arms": raise_both_arms,
    "punch": punch,
    "turn around": turn_around,
    "sit down": sit_down,
    "stand up": stand_up,
    "shake hands": shake_hands,
    "push other person": push,
}
TWO_PERSON = frozenset({"shake hands", "push other person"})

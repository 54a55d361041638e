"""Taxonomy of the synthetic dataset and the motion programs that pose a person's body.

A body is 18 joints in body coordinates, in units of the person's height: x to the person's left,
y up from the ground, z forward. A motion program turns a `Motion` (what one schedule segment asks
for) and the time since the segment started into a `BodyPose`. Some classes differ only in motion:
walk and run share one gait and differ in cadence; "wave" and "raise" (a raised hand held still),
"clap" and "fold" (hands held together) share their poses, the still ones drawn at a random fixed
phase of the moving one, so one frame cannot tell them apart; "fall down" and "get up" pass
through the same tilts in opposite directions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

PERSON_MOVEMENT = "PERSON_MOVEMENT"
OBJECT_MANIPULATION = "OBJECT_MANIPULATION"
PERSON_INTERACTION = "PERSON_INTERACTION"


@dataclass(frozen=True)
class Action:
    """One class of the taxonomy; ids and names are AVA v2.2's, so AVA models map onto it."""

    key: str
    label_id: int
    name: str
    label_type: str


ACTIONS: tuple[Action, ...] = (
    Action("bend", 1, "bend/bow (at the waist)", PERSON_MOVEMENT),
    Action("fall", 5, "fall down", PERSON_MOVEMENT),
    Action("getup", 6, "get up", PERSON_MOVEMENT),
    Action("jump", 7, "jump/leap", PERSON_MOVEMENT),
    Action("lie", 8, "lie/sleep", PERSON_MOVEMENT),
    Action("run", 10, "run/jog", PERSON_MOVEMENT),
    Action("sit", 11, "sit", PERSON_MOVEMENT),
    Action("stand", 12, "stand", PERSON_MOVEMENT),
    Action("walk", 14, "walk", PERSON_MOVEMENT),
    Action("carry", 17, "carry/hold (an object)", OBJECT_MANIPULATION),
    Action("clap", 67, "hand clap", PERSON_INTERACTION),
    Action("shake", 68, "hand shake", PERSON_INTERACTION),
    Action("wave", 69, "hand wave", PERSON_INTERACTION),
    Action("hug", 70, "hug (a person)", PERSON_INTERACTION),
)
ACTION_BY_KEY: dict[str, Action] = {action.key: action for action in ACTIONS}
# The classes that one frame cannot tell from another class (see the module docstring): where a
# Fast pathway should help most, as the SlowFast paper found on AVA.
MOTION_ONLY: tuple[str, ...] = ("walk", "run", "wave", "clap", "fall", "getup")

POSES = ("stand", "sit", "walk", "run", "jump", "bend", "fall", "lie", "getup")
# Arm programs laid over a pose, and the action each one shows; "raise" and "fold" are the still
# look-alikes of "wave" and "clap" and carry no label.
OVERLAY_ACTION: dict[str, str | None] = {
    "wave": "wave",
    "raise": None,
    "clap": "clap",
    "fold": None,
    "box": "carry",
    "bag": "carry",
    "shake": "shake",
    "hug": "hug",
}
PAIR_OVERLAYS = ("shake", "hug")

# Joint indices.
PELVIS, NECK, HEAD = 0, 1, 2
L_SHOULDER, L_ELBOW, L_HAND, R_SHOULDER, R_ELBOW, R_HAND = 3, 4, 5, 6, 7, 8
L_HIP, L_KNEE, L_FOOT, R_HIP, R_KNEE, R_FOOT, L_TOE, R_TOE = 9, 10, 11, 12, 13, 14, 15, 16
HAIR = 17  # centre of the hair disc, a little above and behind the head's
JOINTS = 18
LEFT_ARM = (L_SHOULDER, L_ELBOW, L_HAND)
RIGHT_ARM = (R_SHOULDER, R_ELBOW, R_HAND)

# Body proportions, in heights.
THIGH, SHIN = 0.245, 0.245
TORSO, NECK_TO_HEAD, HEAD_RADIUS = 0.30, 0.10, 0.062
SHOULDER_HALF, SHOULDER_DROP, HIP_HALF = 0.10, 0.025, 0.055
UPPER_ARM, FOREARM = 0.165, 0.15
SOLE = 0.02  # the foot's drawn radius, so a planted foot touches the ground line
# One gait cycle (two steps) covers about 4 * leg * sin(hip amplitude) of ground.
LEG = THIGH + SHIN


def gait_stride(amplitude: float) -> float:
    """Ground covered by one gait cycle, in heights, for a hip swing amplitude in radians."""
    return 4.0 * LEG * math.sin(amplitude)


@dataclass(frozen=True)
class Motion:
    """What one schedule segment asks a body to do; the numbers are drawn by the scheduler."""

    pose: str
    overlay: str | None = None
    cadence: float = 1.0  # gait, jump, wave or clap cycles per second
    phase: float = 0.0  # radians
    amplitude: float = 0.45  # hip swing (gait), trunk pitch (bend), hand spread (clap)
    still_phase: float = 0.0  # the fixed phase of "raise" and "fold"
    side: int = 1  # which way a fall tilts the body on screen
    gap: float = 0.45  # distance to the partner of a pair action, in heights


@dataclass(frozen=True)
class BodyPose:
    """Joint positions (JOINTS, 3) in heights, an on-screen tilt and a carried prop."""

    joints: np.ndarray = field(repr=False)
    tilt: float = 0.0  # radians, rotation in the image plane around the feet
    prop: str | None = None  # "box" or "bag"


@dataclass
class _Limbs:
    """Angles a pose program sets; forward kinematics turns them into joints."""

    trunk: float = 0.03  # forward pitch of the torso
    lift: float = 0.0  # height of the feet above the ground (jumps)
    hips: tuple[float, float] = (0.05, -0.05)  # thigh pitch forward, left and right
    knees: tuple[float, float] = (0.05, 0.05)  # knee flexion, left and right
    # (upper pitch, upper roll, forearm pitch, forearm roll), left and right; roll raises the
    # arm sideways (pi: straight up), pitch raises it forward; directions are absolute.
    arms: list[tuple[float, float, float, float]] = field(
        default_factory=lambda: [(0.05, 0.12, 0.2, 0.08), (0.05, 0.12, 0.2, 0.08)]
    )
    tilt: float = 0.0


def _bump(u: float, start: float, end: float) -> float:
    """A half sine that is 0 outside [start, end] and 1 in its middle."""
    if u <= start or u >= end:
        return 0.0
    return math.sin(math.pi * (u - start) / (end - start))


def _cycle(motion: Motion, t: float) -> float:
    return 2.0 * math.pi * motion.cadence * t + motion.phase


def _stand(motion: Motion, t: float) -> _Limbs:
    sway = 0.03 * math.sin(2.0 * math.pi * 0.25 * t + motion.phase)
    arm = (0.05 + sway, 0.12, 0.2 + sway, 0.08)
    return _Limbs(trunk=0.03 + sway, arms=[arm, arm])


def _gait(motion: Motion, t: float) -> _Limbs:
    # Walk and run share this program: only the cadence (and so the speed) differs.
    angle = _cycle(motion, t)
    swing = motion.amplitude * math.sin(angle)
    knee_left = 0.1 + 0.65 * max(0.0, math.cos(angle))
    knee_right = 0.1 + 0.65 * max(0.0, -math.cos(angle))
    left_arm = (-0.7 * swing, 0.08, -0.7 * swing + 0.35, 0.05)
    right_arm = (0.7 * swing, 0.08, 0.7 * swing + 0.35, 0.05)
    return _Limbs(
        trunk=0.08,
        hips=(swing, -swing),
        knees=(knee_left, knee_right),
        arms=[left_arm, right_arm],
    )


def _jump(motion: Motion, t: float) -> _Limbs:
    u = (motion.cadence * t + motion.phase / (2.0 * math.pi)) % 1.0
    crouch = 1.1 * _bump(u, 0.0, 0.3) + 0.7 * _bump(u, 0.8, 1.0)
    flight = _bump(u, 0.3, 0.8)
    arm = (2.4 * flight - 0.4 * _bump(u, 0.0, 0.3), 0.15, 2.5 * flight, 0.1)
    return _Limbs(
        trunk=0.1 + 0.4 * crouch,
        lift=motion.amplitude * 0.5 * flight,
        hips=(0.6 * crouch + 0.2 * flight, 0.6 * crouch + 0.1 * flight),
        knees=(crouch + 0.3 * flight, crouch + 0.3 * flight),
        arms=[arm, arm],
    )


def _bend(motion: Motion, t: float) -> _Limbs:
    bob = 0.06 * math.sin(2.0 * math.pi * 0.3 * t + motion.phase)
    arm = (0.05 * bob, 0.06, 0.1 * bob, 0.04)  # arms hang straight down from a bent trunk
    return _Limbs(
        trunk=motion.amplitude + bob, hips=(0.25, 0.25), knees=(0.1, 0.1), arms=[arm, arm]
    )


def _sit(motion: Motion, t: float) -> _Limbs:
    sway = 0.02 * math.sin(2.0 * math.pi * 0.2 * t + motion.phase)
    arm = (0.35, 0.1, 1.2 + sway, 0.05)  # forearms resting on the thighs
    return _Limbs(trunk=-0.05 + sway, hips=(1.5, 1.45), knees=(1.5, 1.45), arms=[arm, arm])


def _lie(motion: Motion, t: float) -> _Limbs:
    breath = 0.02 * math.sin(2.0 * math.pi * 0.3 * t + motion.phase)
    arm = (0.05 + breath, 0.15, 0.05, 0.1)
    return _Limbs(trunk=breath, hips=(0.02, -0.02), arms=[arm, arm], tilt=motion.side * math.pi / 2)


def _fall(motion: Motion, t: float) -> _Limbs:
    u = min(max((t - 0.1) / 0.75, 0.0), 1.0)
    flail = _bump(u, 0.0, 1.0)
    arm = (0.3 * flail, 0.2 + 1.3 * flail, 0.5 * flail, 0.2 + 1.5 * flail)
    return _Limbs(
        hips=(0.3 * flail, 0.1 * flail),
        knees=(0.4 * flail, 0.2 * flail),
        arms=[arm, arm],
        tilt=motion.side * math.pi / 2 * u * u,  # toppling speeds up
    )


def _getup(motion: Motion, t: float) -> _Limbs:
    u = min(max((t - 0.15) / 0.75, 0.0), 1.0)
    crouch = _bump(u, 0.0, 1.0)
    arm = (0.6 * crouch, 0.1, 0.3 * crouch, 0.05)  # pushing off the ground
    return _Limbs(
        trunk=0.5 * crouch,
        hips=(0.7 * crouch, 0.6 * crouch),
        knees=(1.0 * crouch, 0.9 * crouch),
        arms=[arm, arm],
        tilt=motion.side * math.pi / 2 * (1.0 - u) ** 2,  # slows down towards upright
    )


POSE_PROGRAMS: dict[str, Callable[[Motion, float], _Limbs]] = {
    "stand": _stand,
    "sit": _sit,
    "walk": _gait,
    "run": _gait,
    "jump": _jump,
    "bend": _bend,
    "fall": _fall,
    "lie": _lie,
    "getup": _getup,
}


# Forward kinematics runs on plain floats: a few hundred scalar operations per body are much
# cheaper than the same number of tiny numpy calls.
Vec = tuple[float, float, float]


def _along(origin: Vec, length: float, direction: Vec) -> Vec:
    return (
        origin[0] + length * direction[0],
        origin[1] + length * direction[1],
        origin[2] + length * direction[2],
    )


def _direction(pitch: float, roll: float, side: float) -> Vec:
    """Unit vector of a limb hanging down, raised sideways by roll and forwards by pitch."""
    return (
        side * math.sin(roll),
        -math.cos(roll) * math.cos(pitch),
        math.cos(roll) * math.sin(pitch),
    )


def _skeleton(limbs: _Limbs) -> list[Vec]:
    joints: list[Vec] = [(0.0, 0.0, 0.0)] * JOINTS
    pelvis = (0.0, LEG, 0.0)
    trunk = (0.0, math.cos(limbs.trunk), math.sin(limbs.trunk))
    neck = _along(pelvis, TORSO, trunk)
    head_pitch = 0.8 * limbs.trunk
    head_up = (0.0, math.cos(head_pitch), math.sin(head_pitch))
    head_back = (0.0, math.sin(head_pitch), -math.cos(head_pitch))
    joints[PELVIS], joints[NECK] = pelvis, neck
    joints[HEAD] = _along(neck, NECK_TO_HEAD, head_up)
    joints[HAIR] = _along(_along(joints[HEAD], 0.014, head_up), 0.016, head_back)
    legs = ((L_HIP, L_KNEE, L_FOOT, L_TOE), (R_HIP, R_KNEE, R_FOOT, R_TOE))
    for i, (side, (shoulder, elbow, hand), (hip, knee, foot, toe)) in enumerate(
        zip((1.0, -1.0), (LEFT_ARM, RIGHT_ARM), legs, strict=True)
    ):
        upper_pitch, upper_roll, fore_pitch, fore_roll = limbs.arms[i]
        joints[shoulder] = _along((neck[0] + side * SHOULDER_HALF, neck[1], neck[2]),
                                  -SHOULDER_DROP, trunk)  # fmt: skip
        joints[elbow] = _along(
            joints[shoulder], UPPER_ARM, _direction(upper_pitch, upper_roll, side)
        )
        joints[hand] = _along(joints[elbow], FOREARM, _direction(fore_pitch, fore_roll, side))
        joints[hip] = (side * HIP_HALF, LEG, 0.0)
        joints[knee] = _along(joints[hip], THIGH, _direction(limbs.hips[i], 0.0, side))
        shin = _direction(limbs.hips[i] - limbs.knees[i], 0.0, side)
        joints[foot] = _along(joints[knee], SHIN, shin)
        joints[toe] = (joints[foot][0], joints[foot][1] - 0.01, joints[foot][2] + 0.06)
    return joints


def _reach(joints: list[Vec], arm: tuple[int, int, int], target: Vec, side: float) -> None:
    """Place elbow and hand so the hand reaches `target` (two-link inverse kinematics)."""
    shoulder_index, elbow_index, hand_index = arm
    shoulder = joints[shoulder_index]
    offset = (target[0] - shoulder[0], target[1] - shoulder[1], target[2] - shoulder[2])
    norm = max(math.hypot(*offset), 1e-9)
    axis = (offset[0] / norm, offset[1] / norm, offset[2] / norm)
    distance = min(max(norm, abs(UPPER_ARM - FOREARM) + 1e-3), UPPER_ARM + FOREARM - 1e-3)
    along = (UPPER_ARM**2 - FOREARM**2 + distance**2) / (2.0 * distance)
    height = math.sqrt(max(UPPER_ARM**2 - along**2, 0.0))
    # Elbows point down, back and out, as people hold their arms.
    pole = (side * 0.35, -1.0, -0.35)
    dot = pole[0] * axis[0] + pole[1] * axis[1] + pole[2] * axis[2]
    pole = (pole[0] - dot * axis[0], pole[1] - dot * axis[1], pole[2] - dot * axis[2])
    pole_norm = max(math.hypot(*pole), 1e-9)
    pole = (pole[0] / pole_norm, pole[1] / pole_norm, pole[2] / pole_norm)
    joints[elbow_index] = _along(_along(shoulder, along, axis), height, pole)
    joints[hand_index] = _along(shoulder, distance, axis)


def _set_arm(joints: list[Vec], arm: tuple[int, int, int], angles: tuple, side: float) -> None:
    shoulder, elbow, hand = arm
    joints[elbow] = _along(joints[shoulder], UPPER_ARM, _direction(angles[0], angles[1], side))
    joints[hand] = _along(joints[elbow], FOREARM, _direction(angles[2], angles[3], side))


def _overlay(motion: Motion, t: float, joints: list[Vec]) -> str | None:
    """Pose the arms for the segment's overlay; return the prop it carries."""
    nx, ny, nz = joints[NECK]
    overlay = motion.overlay
    if overlay in ("wave", "raise"):
        angle = _cycle(motion, t) if overlay == "wave" else motion.still_phase
        # The upper arm points a little forward so the raised hand also shows from the side.
        _set_arm(joints, RIGHT_ARM, (0.4, 1.2, 0.25, math.pi - 0.3 + 0.5 * math.sin(angle)), -1.0)
    elif overlay in ("clap", "fold"):
        angle = _cycle(motion, t) if overlay == "clap" else motion.still_phase
        spread = motion.amplitude * (0.5 - 0.5 * math.cos(angle))
        for side, arm in ((1.0, LEFT_ARM), (-1.0, RIGHT_ARM)):
            _reach(joints, arm, (nx + side * (0.012 + spread / 2), ny - 0.15, nz + 0.2), side)
    elif overlay == "box":
        for side, arm in ((1.0, LEFT_ARM), (-1.0, RIGHT_ARM)):
            _reach(joints, arm, (nx + side * 0.085, ny - 0.2, nz + 0.17), side)
        return "box"
    elif overlay == "bag":
        _set_arm(joints, RIGHT_ARM, (0.04, 0.12, 0.04, 0.1), -1.0)
        return "bag"
    elif overlay == "shake":
        pump = 0.025 * math.sin(_cycle(motion, t))
        _reach(joints, RIGHT_ARM, (nx - 0.03, ny - 0.22 + pump, nz + motion.gap / 2), -1.0)
    elif overlay == "hug":
        for side, arm in ((1.0, LEFT_ARM), (-1.0, RIGHT_ARM)):
            _reach(joints, arm, (nx + side * 0.13, ny - 0.08, nz + motion.gap + 0.02), side)
    return None


def body_pose(motion: Motion, t: float) -> BodyPose:
    """The body of a person doing `motion`, `t` seconds after the segment started."""
    limbs = POSE_PROGRAMS[motion.pose](motion, t)
    if motion.overlay == "hug":
        limbs.trunk += 0.05 * math.sin(2.0 * math.pi * 0.4 * t + motion.phase)
    joints = _skeleton(limbs)
    prop = _overlay(motion, t, joints) if motion.overlay else None
    body = np.array(joints)  # (JOINTS, 3)
    lowest = min(joints[L_FOOT][1], joints[R_FOOT][1], joints[L_TOE][1], joints[R_TOE][1])
    body[:, 1] += SOLE + limbs.lift - lowest
    return BodyPose(joints=body, tilt=limbs.tilt, prop=prop)


def segment_labels(motion: Motion) -> tuple[str, ...]:
    """Action keys a segment shows: its pose, then what its overlay adds."""
    extra = OVERLAY_ACTION.get(motion.overlay) if motion.overlay else None
    return (motion.pose,) if extra is None else (motion.pose, extra)

"""Scenes: who is in a synthetic video, what each person does when and where, and how each
person projects into a frame.

A scene is fully decided (by `inference.synth.schedule.make_scene`) before anything is drawn, so
ground truth comes from geometry without rendering. Bodies blend over `BLEND` seconds around
each change of schedule segment.
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from inference.synth import actions as act
from inference.synth.actions import Motion

BLEND = 0.4  # seconds over which one segment's body blends into the next's
TURN_SECONDS = 0.25  # a walker turning at the edge of the stage faces the camera this long
DEPTH_RANGE = (0.05, 0.95)
OCCLUDER_PARALLAX = 1.35  # foreground objects slide faster than the ground under a pan
FAR_PARALLAX = 0.5  # the far layer (sky, walls) slides slower


@dataclass(frozen=True)
class Appearance:
    """Colours (RGB in [0, 1]) and clothing of one person; textures are drawn from `seed`."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    shirt: tuple[tuple[float, float, float], tuple[float, float, float]]
    shirt_pattern: str
    pants: tuple[tuple[float, float, float], tuple[float, float, float]]
    pants_pattern: str
    shoes: tuple[float, float, float]
    long_sleeves: bool
    shorts: bool
    prop: tuple[float, float, float]
    seed: int


@dataclass(frozen=True)
class Segment:
    """A stretch of a person's schedule: a motion, a start state and a constant velocity."""

    start: float
    end: float
    motion: Motion
    x: float  # world x of the feet at `start`, in pixels
    depth: float  # 0 far .. 1 near, at `start`
    vx: float = 0.0  # pixels per second; walkers turn back at the edges of the stage
    vdepth: float = 0.0  # depth units per second
    yaw: float = 0.0  # radians, 0 faces the camera, +pi/2 faces right
    faces_path: bool = False  # the yaw's sign follows the walking direction


@dataclass(frozen=True)
class Person:
    """One person of a scene: id (stable over the video), size, looks and schedule."""

    person_id: int
    size: float  # height relative to an average adult at the same depth
    appearance: Appearance
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Background:
    """Which textures the background layers get; drawn by the renderer from `seed`."""

    far: str  # "sky", "wall", "city" or "plain"
    ground: str  # "grass", "tiles", "asphalt" or "plain"
    far_colour: tuple[float, float, float]
    ground_colour: tuple[float, float, float]
    drift: float  # pixels per second the far layer moves by itself (clouds)
    seed: int


@dataclass(frozen=True)
class Occluder:
    """A foreground object between the camera and the people."""

    kind: str  # "pole" (full height) or "bush" (on the ground)
    x: float  # world x of its left edge, in pixels
    width: float
    height: float  # pixels up from the bottom of the frame
    colour: tuple[float, float, float]


# Materials a part is drawn in; a part's code is 2 * index, plus 1 on the far side of the body
# (drawn darker).
MATERIALS = ("shirt", "pants", "skin", "hair", "shoes", "prop")


@dataclass(frozen=True)
class PersonView:
    """A person as seen in one frame: body parts, drawing order, box, seat, labels."""

    person_id: int
    depth: float
    origin: tuple[float, float]  # screen position of the feet, for texture placement
    scale: float  # height in pixels
    # (PARTS, 5) float32 pixels, the same part in the same row in every frame: x1, y1, x2, y2,
    # radius of a capsule from (x1, y1) to (x2, y2); the last row is the carried prop, a
    # rectangle (radius 0), meaningful only when `order` lists it.
    parts: np.ndarray = field(repr=False)
    materials: np.ndarray = field(repr=False)  # (PARTS,) material codes, see MATERIALS
    order: np.ndarray = field(repr=False)  # rows of `parts` to draw, far to near
    seat: tuple[float, float, float, float] | None
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels, clipped to the frame
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Scene:
    """Everything about one synthetic video except its pixels."""

    video_id: str
    seed: int
    width: int
    height: int
    fps: Fraction
    frames: int
    horizon: int  # first row of the ground layer, even
    pan_amplitude: float  # pixels
    pan_period: float  # seconds
    pan_phase: float
    background: Background
    occluder: Occluder | None
    noise: float  # luma noise standard deviation
    people: tuple[Person, ...] = field(repr=False)

    @property
    def duration(self) -> float:
        """Seconds from the first frame's start to the last frame's end."""
        return float(self.frames / self.fps)

    def frame_time(self, index: int) -> float:
        """Presentation time of frame `index`, in seconds."""
        return float(index / self.fps)

    def frame_at(self, seconds: int) -> int:
        """Index of the frame shown at second `seconds`: the last one starting at or before."""
        return min(int(seconds * self.fps), self.frames - 1)

    def keyframes(self) -> list[int]:
        """Whole seconds at least one second from either end of the video."""
        return list(range(1, math.floor(self.duration - 1.0) + 1))

    def pan(self, t: float) -> float:
        """Camera offset in pixels at time t (positive: the view moved right)."""
        return self.pan_amplitude * math.sin(2.0 * math.pi * t / self.pan_period + self.pan_phase)

    def person_height(self, size: float, depth: float) -> float:
        """Height in pixels of a person of relative `size` standing at `depth`."""
        return size * self.height * (0.3 + 0.32 * depth)

    def foot_y(self, depth: float) -> float:
        """Image row of the feet of someone standing at `depth`."""
        return self.horizon + (0.97 * self.height - self.horizon) * (0.12 + 0.88 * depth)

    def occluder_rect(self, t: float) -> tuple[float, float, float, float] | None:
        """Screen rectangle (x1, y1, x2, y2) of the occluder at time t."""
        if self.occluder is None:
            return None
        x = self.occluder.x - OCCLUDER_PARALLAX * self.pan(t)
        top = self.height - self.occluder.height
        return (x, top, x + self.occluder.width, float(self.height))

    def stage(self) -> tuple[float, float]:
        """World x range where people's feet stay, so the panning camera keeps them in view."""
        margin = 0.1 * self.width + self.pan_amplitude
        return margin, self.width - margin

    def people_at(self, t: float) -> list[PersonView]:
        """Every person at time t, far to near (the order to draw them in)."""
        views = [_view(self, person, t) for person in self.people]
        return sorted(views, key=lambda view: (view.depth, view.person_id))


# Parts: (material, joint a, joint b, radius in heights); the order breaks depth ties. Sleeves
# and shins are shirt and pants, or skin. The neck needs no part: torso and head cover it.
_PARTS = (
    ("shirt", act.PELVIS, act.NECK, 0.072),
    ("pants", act.L_HIP, act.R_HIP, 0.062),
    ("shirt", act.L_SHOULDER, act.R_SHOULDER, 0.05),
    ("hair", act.HAIR, act.HAIR, 0.066),
    ("skin", act.HEAD, act.HEAD, act.HEAD_RADIUS),
    ("shirt", act.L_SHOULDER, act.L_ELBOW, 0.032),
    ("shirt", act.R_SHOULDER, act.R_ELBOW, 0.032),
    ("sleeve", act.L_ELBOW, act.L_HAND, 0.026),
    ("sleeve", act.R_ELBOW, act.R_HAND, 0.026),
    ("skin", act.L_HAND, act.L_HAND, 0.03),
    ("skin", act.R_HAND, act.R_HAND, 0.03),
    ("pants", act.L_HIP, act.L_KNEE, 0.046),
    ("pants", act.R_HIP, act.R_KNEE, 0.046),
    ("shin", act.L_KNEE, act.L_FOOT, 0.036),
    ("shin", act.R_KNEE, act.R_FOOT, 0.036),
    ("shoes", act.L_FOOT, act.L_TOE, act.SOLE),
    ("shoes", act.R_FOOT, act.R_TOE, act.SOLE),
)
_PART_A = np.array([part[1] for part in _PARTS])
_PART_B = np.array([part[2] for part in _PARTS])
_PART_RADIUS = np.array([part[3] for part in _PARTS])
_PART_ORDER = np.arange(len(_PARTS))
_LIMB_JOINTS = [act.L_ELBOW, act.R_ELBOW, act.L_HAND, act.R_HAND, act.L_KNEE, act.R_KNEE,
                act.L_FOOT, act.R_FOOT]  # fmt: skip
_PART_LIMB = np.isin(_PART_A, _LIMB_JOINTS) | np.isin(_PART_B, _LIMB_JOINTS)
# The hair disc sits just behind the face whatever the yaw.
_PART_DEPTH_BIAS = np.array([0.01 if part[0] == "hair" else 0.0 for part in _PARTS])


@functools.lru_cache(maxsize=256)
def _part_codes(looks: Appearance) -> np.ndarray:
    """Material code (near side) of every part of `_PARTS` for a person's clothing."""
    sleeve = "shirt" if looks.long_sleeves else "skin"
    shin = "skin" if looks.shorts else "pants"
    names = [{"sleeve": sleeve, "shin": shin}.get(part[0], part[0]) for part in _PARTS]
    codes = np.array([2 * MATERIALS.index(name) for name in names])
    codes.flags.writeable = False  # shared between calls
    return codes


def _reflect(u: float, low: float, high: float) -> tuple[float, float, float]:
    """Fold an unbounded coordinate into [low, high]: (position, direction, distance to a turn)."""
    span = high - low
    if span <= 0:
        return low, 1.0, 0.0
    w = (u - low) % (2.0 * span)
    if w < span:
        return low + w, 1.0, min(w, span - w)
    return low + 2.0 * span - w, -1.0, min(w - span, 2.0 * span - w)


def _smoothstep(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * (3.0 - 2.0 * u)


def position(scene: Scene, segment: Segment, t: float) -> tuple[float, float, float]:
    """World x, depth and yaw of a person at time t inside `segment`."""
    low, high = scene.stage()
    dt = t - segment.start
    x, direction, to_turn = _reflect(segment.x + segment.vx * dt, low, high)
    depth = _reflect(segment.depth + segment.vdepth * dt, *DEPTH_RANGE)[0]
    yaw = segment.yaw
    if segment.faces_path:
        turning = abs(segment.vx) * TURN_SECONDS
        yaw = math.copysign(segment.yaw, segment.vx * direction)
        if turning > 0:
            yaw *= min(1.0, to_turn / turning)
    return x, depth, yaw


def _body(
    scene: Scene, person: Person, t: float
) -> tuple[np.ndarray, float, float, str | None, bool, tuple[str, ...], Segment]:
    """Blended joints, yaw, tilt, prop, seat flag and labels of a person at time t."""
    segments = person.segments
    index = max(bisect.bisect_right(segments, t, key=lambda s: s.start) - 1, 0)
    segment = segments[index]
    weights: list[tuple[int, float]] = [(index, 1.0)]
    if index > 0 and t < segment.start + BLEND / 2:
        w = _smoothstep((t - segment.start + BLEND / 2) / BLEND)
        weights = [(index - 1, 1.0 - w), (index, w)]
    elif index + 1 < len(segments) and t > segment.end - BLEND / 2:
        w = _smoothstep((t - segment.end + BLEND / 2) / BLEND)
        weights = [(index, 1.0 - w), (index + 1, w)]
    joints = np.zeros((act.JOINTS, 3))
    tilt, sin_yaw, cos_yaw = 0.0, 0.0, 0.0
    prop, seated, heaviest = None, False, 0.0
    for k, w in weights:
        other = segments[k]
        pose = act.body_pose(other.motion, t - other.start)
        yaw = position(scene, segment, t)[2] if k == index else _edge_yaw(scene, other, t)
        joints += w * pose.joints
        tilt += w * pose.tilt
        sin_yaw += w * math.sin(yaw)
        cos_yaw += w * math.cos(yaw)
        if w > heaviest:
            heaviest, prop, seated = w, pose.prop, other.motion.pose == "sit"
    yaw = math.atan2(sin_yaw, cos_yaw)
    return joints, yaw, tilt, prop, seated, act.segment_labels(segment.motion), segment


def _edge_yaw(scene: Scene, segment: Segment, t: float) -> float:
    """Yaw of a neighbouring segment, held at its own end points while blending."""
    return position(scene, segment, min(max(t, segment.start), segment.end))[2]


def _view(scene: Scene, person: Person, t: float) -> PersonView:
    joints, yaw, tilt, prop, seated, labels, segment = _body(scene, person, t)
    x, depth, _ = position(scene, segment, t)
    scale = scene.person_height(person.size, depth)
    foot_x, foot_y = x - scene.pan(t), scene.foot_y(depth)
    # One linear map takes body coordinates to (screen x, screen y, depth toward the camera):
    # turn by the yaw, scale to pixels (y down), then tilt in the image plane around a point
    # just above the feet (falls).
    cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
    cos_tilt, sin_tilt = math.cos(tilt), math.sin(tilt)
    pivot = 0.07 * scale
    transform = np.array(
        [
            [scale * cos_yaw * cos_tilt, scale * cos_yaw * sin_tilt, -sin_yaw],
            [scale * sin_tilt, -scale * cos_tilt, 0.0],
            [scale * sin_yaw * cos_tilt, scale * sin_yaw * sin_tilt, cos_yaw],
        ]
    )
    offset = np.array([foot_x - pivot * sin_tilt, foot_y - pivot + pivot * cos_tilt, 0.0])
    screen = joints @ transform + offset  # (J, 3): x, y in pixels, depth in heights
    ends = np.concatenate([screen[_PART_A], screen[_PART_B]], axis=1)  # (K, 6)
    depth_of_part = 0.5 * (ends[:, 2] + ends[:, 5]) - _PART_DEPTH_BIAS  # (K,)
    codes = _part_codes(person.appearance) + (_PART_LIMB & (depth_of_part < -0.03))
    order = np.lexsort((_PART_ORDER, depth_of_part))
    sx, sy = screen[:, 0], screen[:, 1]
    # Props are held in front of the body: drawn last.
    prop_rect = _prop(prop, sx, sy, scale) if prop is not None else np.zeros(5)
    parts = np.empty((len(_PARTS) + 1, 5), dtype=np.float32)
    parts[:-1, :4] = ends[:, [0, 1, 3, 4]]
    parts[:-1, 4] = scale * _PART_RADIUS
    parts[-1] = prop_rect
    codes = np.append(codes, 2 * MATERIALS.index("prop"))
    if prop is not None:
        order = np.append(order, len(_PARTS))

    seat = None
    if seated:
        px, py = sx[act.PELVIS], sy[act.PELVIS]
        seat = (px - 0.12 * scale, py + 0.03 * scale, px + 0.12 * scale, foot_y)
    return PersonView(
        person_id=person.person_id,
        depth=depth,
        origin=(foot_x, foot_y),
        scale=scale,
        parts=parts,
        materials=codes,
        order=order,
        seat=seat,
        box=_box(parts[order], scene.width, scene.height),
        labels=labels,
    )


def _prop(prop: str, sx: np.ndarray, sy: np.ndarray, scale: float) -> np.ndarray:
    """Rectangle of a carried box (between the hands) or bag (below the right hand)."""
    if prop == "box":
        cx = 0.5 * (sx[act.L_HAND] + sx[act.R_HAND])
        # Held from the sides and below: the box sits a little above the hands.
        cy = 0.5 * (sy[act.L_HAND] + sy[act.R_HAND]) - 0.04 * scale
        half_w, half_h = 0.08 * scale, 0.07 * scale
        return np.array([cx - half_w, cy - half_h, cx + half_w, cy + half_h, 0.0])
    hx, hy = sx[act.R_HAND], sy[act.R_HAND]
    return np.array([hx - 0.05 * scale, hy, hx + 0.05 * scale, hy + 0.14 * scale, 0.0])


def _box(parts: np.ndarray, width: int, height: int) -> tuple[float, float, float, float]:
    """Tight box around the parts (rows x1, y1, x2, y2, radius), clipped to the frame."""
    radius = parts[:, 4:5]
    x1, y1 = (np.minimum(parts[:, 0:2], parts[:, 2:4]) - radius).min(axis=0).tolist()
    x2, y2 = (np.maximum(parts[:, 0:2], parts[:, 2:4]) + radius).max(axis=0).tolist()
    return (
        min(max(x1, 0.0), width),
        min(max(y1, 0.0), height),
        min(max(x2, 0.0), width),
        min(max(y2, 0.0), height),
    )

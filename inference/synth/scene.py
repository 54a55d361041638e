"""Scenes: who is in a synthetic video, what each person does when, where, and how it projects.

A scene is fully decided by its seed before anything is drawn, so ground truth can be computed
without rendering. Schedule segments change at half seconds, so every keyframe (a whole second)
sits half a second inside one segment and its labels are unambiguous; bodies blend over
`BLEND` seconds around each change.
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from inference.synth import actions as act
from inference.synth.actions import Motion

BLEND = 0.4  # seconds over which one segment's body blends into the next's
TURN_SECONDS = 0.25  # a walker turning at the edge of the stage faces the camera this long
DEPTH_RANGE = (0.05, 0.95)
OCCLUDER_PARALLAX = 1.35  # foreground objects slide faster than the ground under a pan
FAR_PARALLAX = 0.5

# (pose, weight, shortest, longest seconds) of a free segment; fall, lie and get up come as a
# chain that starts only from the fall.
FREE_POSES = (
    ("stand", 3.0, 2, 5),
    ("walk", 3.0, 2, 5),
    ("run", 1.5, 2, 4),
    ("sit", 1.2, 3, 6),
    ("bend", 1.0, 2, 4),
    ("jump", 1.0, 2, 4),
    ("fall", 0.7, 1, 1),
)
# overlay -> weight, per pose; None: arms follow the pose.
OVERLAYS_BY_POSE: dict[str, tuple[tuple[str | None, float], ...]] = {
    "stand": (
        (None, 0.25),
        ("wave", 0.15),
        ("raise", 0.15),
        ("clap", 0.15),
        ("fold", 0.15),
        ("box", 0.08),
        ("bag", 0.07),
    ),
    "sit": (
        (None, 0.3),
        ("wave", 0.15),
        ("raise", 0.15),
        ("clap", 0.15),
        ("fold", 0.15),
        ("box", 0.1),
    ),
    "walk": ((None, 0.6), ("box", 0.15), ("bag", 0.15), ("wave", 0.1)),
    "run": ((None, 0.8), ("bag", 0.2)),
}
PAIR_GAP = {"shake": 0.42, "hug": 0.2}  # distance between partners, in heights

# (name, RGB 0..1) palettes.
SKIN_TONES = (
    (0.98, 0.84, 0.72),
    (0.92, 0.72, 0.56),
    (0.78, 0.57, 0.42),
    (0.55, 0.38, 0.26),
    (0.36, 0.24, 0.16),
)
HAIR_COLOURS = (
    (0.08, 0.06, 0.05),
    (0.3, 0.18, 0.1),
    (0.55, 0.4, 0.2),
    (0.85, 0.75, 0.5),
    (0.6, 0.6, 0.6),
)
PATTERNS = ("plain", "hstripes", "vstripes", "checks", "dots")


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
    """A person as seen in one frame: parts in drawing order, box, seat, labels."""

    person_id: int
    depth: float
    origin: tuple[float, float]  # screen position of the feet, for texture placement
    scale: float  # height in pixels
    # (K, 5) pixels: x1, y1, x2, y2, radius of a capsule from (x1, y1) to (x2, y2), or of a
    # rectangle when the radius is 0; in drawing order.
    parts: np.ndarray = field(repr=False)
    materials: np.ndarray = field(repr=False)  # (K,) material codes, see MATERIALS
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


def _stage(scene: Scene) -> tuple[float, float]:
    """World x range where people's feet stay, so the panning camera keeps them in view."""
    margin = 0.1 * scene.width + scene.pan_amplitude
    return margin, scene.width - margin


def _position(scene: Scene, segment: Segment, t: float) -> tuple[float, float, float]:
    """World x, depth and yaw of a person at time t inside `segment`."""
    low, high = _stage(scene)
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
        yaw = _position(scene, segment, t)[2] if k == index else _edge_yaw(scene, other, t)
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
    return _position(scene, segment, min(max(t, segment.start), segment.end))[2]


def _view(scene: Scene, person: Person, t: float) -> PersonView:
    joints, yaw, tilt, prop, seated, labels, segment = _body(scene, person, t)
    x, depth, _ = _position(scene, segment, t)
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
    parts = np.concatenate([ends[:, [0, 1, 3, 4]], scale * _PART_RADIUS[:, None]], axis=1)
    order = np.lexsort((_PART_ORDER, depth_of_part))
    parts, codes = parts[order], codes[order]
    sx, sy = screen[:, 0], screen[:, 1]
    if prop is not None:
        # Props are held in front of the body: drawn last.
        parts = np.concatenate([parts, _prop(prop, sx, sy, scale)[None, :]])
        codes = np.append(codes, 2 * MATERIALS.index("prop"))

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
        seat=seat,
        box=_box(parts, scene.width, scene.height),
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
    """Tight box around every drawn part, clipped to the frame."""
    radius = parts[:, 4:5]
    x1, y1 = (np.minimum(parts[:, 0:2], parts[:, 2:4]) - radius).min(axis=0).tolist()
    x2, y2 = (np.maximum(parts[:, 0:2], parts[:, 2:4]) + radius).max(axis=0).tolist()
    return (
        min(max(x1, 0.0), width),
        min(max(y1, 0.0), height),
        min(max(x2, 0.0), width),
        min(max(y2, 0.0), height),
    )


# --- scheduling ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """A segment before positions are known."""

    start: float
    end: float
    motion: Motion
    partner: int | None = None  # pair episodes: the other person
    approach: bool = False  # walks to the meeting point of a pair episode


@dataclass(frozen=True)
class _Episode:
    """Two people walk to each other, then shake hands or hug."""

    first: int
    second: int
    kind: str
    start: float
    approach: float
    hold: float


def _pick(rng: np.random.Generator, weights: list[float]) -> int:
    p = np.asarray(weights, dtype=float)
    return int(rng.choice(len(p), p=p / p.sum()))


def _free_motion(rng: np.random.Generator, pose: str) -> Motion:
    overlay = None
    if pose in OVERLAYS_BY_POSE:
        options = OVERLAYS_BY_POSE[pose]
        overlay = options[_pick(rng, [weight for _, weight in options])][0]
    cadence, amplitude = 1.0, 0.45
    if pose in ("walk", "run"):
        amplitude = float(rng.uniform(0.38, 0.5))
    elif pose == "jump":
        cadence, amplitude = float(rng.uniform(0.9, 1.2)), float(rng.uniform(0.3, 0.5))
    elif pose == "bend":
        amplitude = float(rng.uniform(1.1, 1.45))
    if overlay == "wave":
        cadence = float(rng.uniform(1.6, 2.4))
    elif overlay in ("clap", "fold"):
        cadence, amplitude = float(rng.uniform(2.2, 3.2)), float(rng.uniform(0.1, 0.16))
    return Motion(
        pose=pose,
        overlay=overlay,
        cadence=cadence,
        phase=float(rng.uniform(0.0, 2.0 * math.pi)),
        amplitude=amplitude,
        still_phase=float(rng.uniform(0.0, 2.0 * math.pi)),
    )


def _plan_free(rng: np.random.Generator, start: float, end: float, video_end: bool) -> list[_Plan]:
    """Segments filling [start, end); boundaries fall on half seconds.

    Before a pair episode (`video_end` false) a fall must leave room to lie and get up.
    """
    plans: list[_Plan] = []
    t = start
    while t < end:
        pose, _, shortest, longest = FREE_POSES[_pick(rng, [p[1] for p in FREE_POSES])]
        if pose == "fall" and (t == 0.0 or (not video_end and end - t < 4.0)):
            continue  # a fall fills exactly the second around one keyframe, then lie, get up
        if pose == "fall":
            lie = float(rng.integers(2, 5))
            if not video_end:
                lie = min(lie, end - t - 2.0)
            for chain_pose, seconds in (("fall", 1.0), ("lie", lie), ("getup", 1.0)):
                if t < end:
                    plans.append(_Plan(t, min(t + seconds, end), _free_motion(rng, chain_pose)))
                t += seconds
            continue
        seconds = float(rng.integers(shortest, longest + 1))
        if t == 0.0:
            seconds -= 0.5  # so that every boundary is a half second
        plans.append(_Plan(t, min(t + seconds, end), _free_motion(rng, pose)))
        t += seconds
    return plans


def _plan_episodes(rng: np.random.Generator, count: int, duration: float) -> list[_Episode]:
    episodes: list[_Episode] = []
    if count < 2:
        return episodes
    for _ in range(int(duration // 12) + 1):
        first, second = (int(i) for i in rng.choice(count, size=2, replace=False))
        kind = act.PAIR_OVERLAYS[int(rng.integers(len(act.PAIR_OVERLAYS)))]
        approach, hold = float(rng.integers(2, 4)), float(rng.integers(2, 5))
        latest = duration - 0.5 - approach - hold
        if rng.random() > 0.7 or latest < 1.5:
            continue
        start = float(rng.integers(1, int(latest - 0.5) + 1)) + 0.5
        end = start + approach + hold
        if any(
            {first, second} & {e.first, e.second}
            and e.start < end
            and start < e.start + e.approach + e.hold
            for e in episodes
        ):
            continue
        episodes.append(_Episode(first, second, kind, start, approach, hold))
    return episodes


def _plan_people(rng: np.random.Generator, count: int, duration: float) -> list[list[_Plan]]:
    """Schedules of every person, with pair episodes (walk to a partner, shake hands or hug)."""
    episodes = _plan_episodes(rng, count, duration)
    schedules: list[list[_Plan]] = []
    for person in range(count):
        plans: list[_Plan] = []
        t = 0.0
        for episode in sorted(episodes, key=lambda e: e.start):
            if person not in (episode.first, episode.second):
                continue
            partner = episode.second if person == episode.first else episode.first
            plans += _plan_free(rng, t, episode.start, video_end=False)
            gap = PAIR_GAP[episode.kind]
            walk = Motion(pose="walk", amplitude=float(rng.uniform(0.38, 0.5)), gap=gap)
            hold_start = episode.start + episode.approach
            plans.append(_Plan(episode.start, hold_start, walk, partner, approach=True))
            pair = Motion(
                pose="stand",
                overlay=episode.kind,
                cadence=float(rng.uniform(2.0, 2.8)),
                phase=float(rng.uniform(0.0, 2.0 * math.pi)),
                gap=gap,
            )
            t = hold_start + episode.hold
            plans.append(_Plan(hold_start, t, pair, partner))
        plans += _plan_free(rng, t, duration, video_end=True)
        schedules.append(plans)
    return schedules


def _place(
    scene: Scene, schedules: list[list[_Plan]], sizes: list[float], rng: np.random.Generator
) -> list[tuple[Segment, ...]]:
    """Turn plans into segments with start positions, velocities and yaws, in time order."""
    low, high = _stage(scene)
    # x, depth of each person at the start of their next segment
    states = [(float(rng.uniform(low, high)), float(rng.uniform(*DEPTH_RANGE))) for _ in sizes]
    placed: list[list[Segment]] = [[] for _ in sizes]
    meetings: dict[tuple[int, float], tuple[float, float, float, float]] = {}
    order = sorted(
        (plan.start, person, k)
        for person, plans in enumerate(schedules)
        for k, plan in enumerate(plans)
    )
    for _, person, k in order:
        plan = schedules[person][k]
        x, depth = states[person]
        height = scene.person_height(sizes[person], depth)
        seconds = plan.end - plan.start
        motion, vx, vdepth, yaw, faces_path = plan.motion, 0.0, 0.0, 0.0, False
        if plan.approach:
            if (person, plan.start) not in meetings:
                meetings.update(_meet(scene, states, sizes, person, plan))
            target_x, target_depth, target_yaw, _ = meetings[(person, plan.start)]
            distance = math.hypot((target_x - x) / height, target_depth - depth)  # heights
            # Walk there at a walker's pace in whole seconds, then wait; a partner already
            # close shuffles over without a gait (a few pixels).
            steps = min(max(round(distance / 0.75), 1), int(seconds)) if distance > 0.15 else 0
            if steps:  # seconds of walking
                speed = distance / steps
                pose = "run" if speed > 1.3 else "walk"
                cadence = speed / act.gait_stride(motion.amplitude)
                walk = replace(motion, pose=pose, cadence=cadence)
                vx, vdepth = (target_x - x) / steps, (target_depth - depth) / steps
                arrival = plan.start + steps
                placed[person].append(
                    Segment(plan.start, arrival, walk, x, depth, vx, vdepth, 1.4, True)
                )
                plan = replace(plan, start=arrival)
                x, depth, seconds = target_x, target_depth, plan.end - arrival
            motion, yaw = replace(motion, pose="stand"), target_yaw
            if seconds > 0:
                vx, vdepth = (target_x - x) / seconds, (target_depth - depth) / seconds
            else:
                states[person] = (x, depth)
                continue
        elif plan.partner is not None:
            _, _, yaw, gap_pixels = meetings[(person, plan.start)]
            motion = replace(motion, gap=gap_pixels / height)
        elif motion.pose in ("walk", "run"):
            walking = motion.pose == "walk"
            speed = float(rng.uniform(0.6, 0.9) if walking else rng.uniform(1.5, 2.1))
            vx = float(rng.choice((-1.0, 1.0))) * speed * height
            vdepth = float(rng.uniform(-0.06, 0.06))
            yaw, faces_path = float(rng.uniform(1.15, 1.57)), True
            motion = replace(motion, cadence=speed / act.gait_stride(motion.amplitude))
        elif motion.pose == "fall":
            # Fall towards the middle of the stage, so the lying body stays in view.
            motion = replace(motion, side=1 if x < 0.5 * (low + high) else -1)
            yaw = float(rng.uniform(-1.5, 1.5))
        elif motion.pose in ("lie", "getup"):
            previous = placed[person][-1]
            motion, yaw = replace(motion, side=previous.motion.side), previous.yaw
        elif motion.overlay in ("wave", "raise", "clap", "fold"):
            yaw = float(rng.uniform(-0.6, 0.6))  # gestures face the camera enough to be seen
        elif motion.pose == "bend":
            yaw = float(rng.choice((-1.0, 1.0)) * rng.uniform(0.7, 1.5))
        else:
            yaw = float(rng.uniform(-1.5, 1.5))
        segment = Segment(plan.start, plan.end, motion, x, depth, vx, vdepth, yaw, faces_path)
        placed[person].append(segment)
        states[person] = _position(scene, segment, plan.end)[:2]
    return [tuple(segments) for segments in placed]


def _meet(
    scene: Scene,
    states: list[tuple[float, float]],
    sizes: list[float],
    person: int,
    plan: _Plan,
) -> dict[tuple[int, float], tuple[float, float, float, float]]:
    """Where a pair meets: halfway, side by side, facing each other (x, depth, yaw, gap)."""
    assert plan.partner is not None
    low, high = _stage(scene)
    a, b = person, plan.partner
    depth = 0.5 * (states[a][1] + states[b][1])
    gap = plan.motion.gap * scene.person_height(0.5 * (sizes[a] + sizes[b]), depth)
    centre = min(max(0.5 * (states[a][0] + states[b][0]), low + gap / 2), high - gap / 2)
    left, right = (a, b) if states[a][0] <= states[b][0] else (b, a)
    meetings = {}
    for start in (plan.start, plan.end):  # the walk there and the pair action
        meetings[(left, start)] = (centre - gap / 2, depth, math.pi / 2, gap)
        meetings[(right, start)] = (centre + gap / 2, depth, -math.pi / 2, gap)
    return meetings


# --- appearance and the whole scene -------------------------------------------------------------


def _colour(rng: np.random.Generator, saturation: float = 0.6) -> tuple[float, float, float]:
    """A random clothing colour: a hue at a random brightness, sometimes grey."""
    hue = rng.uniform(0.0, 1.0)
    value = float(rng.uniform(0.2, 0.95))
    sat = float(rng.uniform(0.0, saturation)) if rng.random() < 0.8 else 0.0
    channels = [
        value * (1.0 - sat * max(0.0, min(1.0, abs((hue * 6 + k) % 6 - 3) - 1))) for k in (0, 4, 2)
    ]
    return (channels[0], channels[1], channels[2])


def _appearance(rng: np.random.Generator) -> Appearance:
    shirt_pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
    pants_pattern = "plain" if rng.random() < 0.7 else PATTERNS[int(rng.integers(len(PATTERNS)))]
    return Appearance(
        skin=SKIN_TONES[int(rng.integers(len(SKIN_TONES)))],
        hair=HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))],
        shirt=(_colour(rng, 0.9), _colour(rng, 0.9)),
        shirt_pattern=shirt_pattern,
        pants=(_colour(rng, 0.5), _colour(rng, 0.5)),
        pants_pattern=pants_pattern,
        shoes=_colour(rng, 0.3),
        long_sleeves=bool(rng.random() < 0.5),
        shorts=bool(rng.random() < 0.25),
        prop=_colour(rng, 0.8),
        seed=int(rng.integers(2**31)),
    )


def make_scene(
    video_id: str,
    seed: int,
    index: int,
    *,
    width: int = 640,
    height: int = 360,
    fps: Fraction = Fraction(30),
    seconds: float = 10.0,
    people: tuple[int, int] = (1, 4),
    plain: bool = False,
    noise: float = 2.0,
    occluders: bool = True,
) -> Scene:
    """Decide everything about video `index` of dataset `seed` (same arguments, same scene).

    `plain` gives a flat background and a still camera, with neither noise nor occluder: for
    checking boxes against pixels.
    """
    rng = np.random.default_rng([seed, index])
    frames = max(round(seconds * fps), 1)
    count = int(rng.integers(people[0], people[1] + 1))
    horizon = 2 * int(rng.uniform(0.3, 0.45) * height / 2)
    amplitude = 0.0 if plain or rng.random() < 0.3 else float(rng.uniform(0.02, 0.07) * width)
    far = "plain" if plain else ("sky", "wall", "city")[int(rng.integers(3))]
    ground = "plain" if plain else ("grass", "tiles", "asphalt")[int(rng.integers(3))]
    background = Background(
        far=far,
        ground=ground,
        far_colour=_colour(rng, 0.5),
        ground_colour=_colour(rng, 0.5),
        drift=float(rng.uniform(4.0, 15.0)) if far == "sky" else 0.0,
        seed=int(rng.integers(2**31)),
    )
    occluder = None
    if occluders and not plain and rng.random() < 0.5:
        pole = rng.random() < 0.5
        occluder = Occluder(
            kind="pole" if pole else "bush",
            x=float(rng.uniform(0.05, 0.9) * width),
            width=float((rng.uniform(0.025, 0.06) if pole else rng.uniform(0.12, 0.3)) * width),
            height=float(height if pole else rng.uniform(0.12, 0.28) * height),
            colour=_colour(rng, 0.6),
        )
    scene = Scene(
        video_id=video_id,
        seed=int(rng.integers(2**31)),
        width=width,
        height=height,
        fps=fps,
        frames=frames,
        horizon=horizon,
        pan_amplitude=amplitude,
        pan_period=float(rng.uniform(8.0, 20.0)),
        pan_phase=float(rng.uniform(0.0, 2.0 * math.pi)),
        background=background,
        occluder=occluder,
        noise=0.0 if plain else noise,
        people=(),
    )
    sizes = [
        float(rng.uniform(0.6, 0.75) if rng.random() < 0.1 else rng.uniform(0.85, 1.1))
        for _ in range(count)
    ]  # some children
    looks = [_appearance(rng) for _ in range(count)]
    schedules = _plan_people(rng, count, scene.duration)
    segments = _place(scene, schedules, sizes, rng)
    persons = tuple(
        Person(person_id=i, size=sizes[i], appearance=looks[i], segments=segments[i])
        for i in range(count)
    )
    return replace(scene, people=persons)

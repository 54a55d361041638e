"""Scheduling scenes: people, their looks, what each does when, and where they walk.

Schedule segments change at half seconds, so every keyframe (a whole second) sits half a second
inside one segment and its labels are unambiguous. Pair actions (hand shake, hug) are planned
first: both people walk to a meeting point, then act together; everything else is drawn from
the pose and overlay tables below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from inference.synth import actions as act
from inference.synth.actions import Motion
from inference.synth.scene import (
    DEPTH_RANGE,
    Appearance,
    Background,
    Occluder,
    Person,
    Scene,
    Segment,
    position,
)

# (pose, weight, shortest, longest seconds) of a free segment; fall, lie and get up come as a
# chain that starts only from the fall.
FREE_POSES = (
    ("stand", 3.0, 2, 5),
    ("walk", 3.0, 2, 5),
    ("run", 1.5, 2, 4),
    ("sit", 1.2, 3, 6),
    ("bend", 1.0, 2, 4),
    ("jump", 1.0, 2, 4),
    ("fall", 1.4, 1, 1),
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

# RGB (0..1) palettes.
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
    low, high = scene.stage()
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
        states[person] = position(scene, segment, plan.end)[:2]
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
    low, high = scene.stage()
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

"""Benchmark: `python -m inference evaluate` on an AVA-validation-sized case.

Generates a seeded case (60 videos x 900 keyframes, about 324,000 ground-truth rows and 9.72 million
detection rows, about 500 MB of CSV) under var/bench/, times the command as a subprocess (wall
clock and peak RSS of the child), and checks its numbers against the plain reference
implementation of the same rules (tests/inference/ava_eval_reference.py), run once.

    .venv/bin/python bench/eval.py [--seed 0] [--repeat 3] [--skip-reference]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "inference")]

from inference.ava import read_excluded, read_labelmap  # noqa: E402
from tests.inference.ava_eval_reference import reference_frame_ap  # noqa: E402

LABELMAP = ROOT / "inference" / "data" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
VIDEOS = 60
KEYFRAMES = 900  # timestamps 902 .. 1801
BOXES_PER_KEYFRAME = 3  # detected person boxes, each scored for every class of the label map
ID_CHARS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))


def _coordinate_strings() -> np.ndarray:
    return np.array([f"{i / 1000:.3f}" for i in range(1001)], dtype=object)


def _write(path: Path, columns: dict[str, pa.Array]) -> None:
    table = pa.table(columns)
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    pa_csv.write_csv(table, path, write_options=options)


def _boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 4) int thousandths x1 y1 x2 y2 with x1 < x2, y1 < y2."""
    x1 = rng.integers(0, 800, n)
    y1 = rng.integers(0, 600, n)
    width = rng.integers(60, 1001 - x1)
    height = rng.integers(150, 1001 - y1)
    return np.stack([x1, y1, np.minimum(x1 + width, 1000), np.minimum(y1 + height, 1000)], 1)


def generate(directory: Path, seed: int) -> tuple[Path, Path, Path]:
    """Write gt.csv, det.csv and excluded.csv for the seeded case; reuse them if present."""
    directory.mkdir(parents=True, exist_ok=True)
    gt_path, det_path, excluded_path = (directory / n for n in ("gt.csv", "det.csv", "excl.csv"))
    if gt_path.exists() and det_path.exists() and excluded_path.exists():
        return gt_path, det_path, excluded_path
    rng = np.random.default_rng(seed)
    video_ids = np.array(["".join(rng.choice(ID_CHARS, 11)) for _ in range(VIDEOS)], dtype=object)
    coords = _coordinate_strings()
    all_actions = np.arange(1, 81)
    classes = np.array(read_labelmap(LABELMAP).ids)

    keys = VIDEOS * KEYFRAMES
    key_video = np.repeat(np.arange(VIDEOS), KEYFRAMES)
    key_time = np.tile(np.arange(902, 902 + KEYFRAMES), VIDEOS)

    # Ground truth: persons per keyframe, 1 to 4 actions per person (ids 1..80, so some fall
    # outside the 60-class label map, as in AVA's files).
    persons = rng.choice([0, 1, 2, 3, 4, 5], size=keys, p=[0.04, 0.2, 0.3, 0.24, 0.14, 0.08])
    person_key = np.repeat(np.arange(keys), persons)
    person_box = _boxes(rng, len(person_key))
    labels = rng.choice([1, 2, 3, 4], size=len(person_key), p=[0.2, 0.35, 0.3, 0.15])
    # distinct actions per person: the first few of a random permutation of the 80
    actions = np.argsort(rng.random((len(person_key), len(all_actions))), axis=1)[:, :4] + 1
    row_person = np.repeat(np.arange(len(person_key)), labels)
    row_action = actions[
        row_person, np.arange(len(row_person)) - np.repeat(np.cumsum(labels) - labels, labels)
    ]
    lines = []
    person = 0
    row = 0
    for key in range(keys):
        prefix = f"{video_ids[key_video[key]]},{key_time[key]:04d}"
        if persons[key] == 0:
            lines.append(prefix + "\n")  # a keyframe with no box: a 2-column row
        for _ in range(persons[key]):
            box = ",".join(coords[person_box[person]])
            for _ in range(labels[person]):
                lines.append(f"{prefix},{box},{row_action[row]},{person % 7}\n")
                row += 1
            person += 1
    gt_path.write_text("".join(lines))

    # Excluded keyframes: 1 in 100.
    excluded = rng.choice(keys, size=keys // 100, replace=False)
    excluded.sort()
    excluded_path.write_text(
        "".join(f"{video_ids[key_video[k]]},{key_time[k]:04d}\n" for k in excluded)
    )

    # Detections: per keyframe 3 boxes (jittered ground-truth persons where there are some),
    # each scored for every label-map class; scores are distinct (no ties), higher for the
    # person's true actions.
    det_key = np.repeat(np.arange(keys), BOXES_PER_KEYFRAME)
    first_person = np.concatenate([[0], np.cumsum(persons)[:-1]])
    slot = np.tile(np.arange(BOXES_PER_KEYFRAME), keys)
    has_person = slot < persons[det_key]
    source = np.where(has_person, first_person[det_key] + slot, 0)
    det_box = np.where(has_person[:, None], person_box[source], _boxes(rng, len(det_key)))
    det_box = np.clip(det_box + rng.integers(-40, 41, det_box.shape), 0, 1000)
    det_box[rng.random(len(det_box)) < 0.002, 2] = 0  # a few invalid boxes (x2 <= x1)
    true_action = np.zeros((len(person_key), 81), bool)
    true_action[row_person, row_action] = True
    n_classes = len(classes)
    row_box = np.repeat(np.arange(len(det_key)), n_classes)
    row_class = np.tile(classes, len(det_key))
    hit = has_person[row_box] & true_action[source[row_box], row_class]
    desired = rng.random(len(row_box)) + 0.6 * hit
    rank = np.empty(len(desired), np.int64)
    rank[np.argsort(desired)] = np.arange(len(desired))
    score_int = rank * 10 + rng.integers(0, 10, len(rank))  # distinct, below 1e8
    del desired, rank
    columns = {
        "video": pa.array(video_ids[key_video[det_key[row_box]]].tolist()).dictionary_encode(),
        "time": pa.array(key_time[det_key[row_box]]),
    }
    time_text = pc.utf8_lpad(pc.cast(columns["time"], pa.string()), 4, "0")
    box_text = [pa.array(coords[det_box[row_box, i]].tolist()) for i in range(4)]
    score_text = pc.binary_join_element_wise(
        "0", pc.utf8_lpad(pc.cast(pa.array(score_int), pa.string()), 8, "0"), "."
    )
    _write(
        det_path,
        {
            "video": columns["video"],
            "time": time_text,
            "x1": box_text[0],
            "y1": box_text[1],
            "x2": box_text[2],
            "y2": box_text[3],
            "action": pa.array(row_class),
            "score": score_text,
        },
    )
    return gt_path, det_path, excluded_path


def time_command(command: list[str]) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds (user + sys), peak RSS in MB, stdout) of one child run."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak RSS
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode:
            raise SystemExit(f"command failed ({process.returncode}):\n{err.read().decode()}")
        cpu = usage.ru_utime + usage.ru_stime
        return wall, cpu, usage.ru_maxrss / 1024, out.read().decode()


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def record(section: str) -> None:
    """Replace this benchmark's section of bench/README.md (other sections stay as they are)."""
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    title = "## Evaluation: `python -m inference evaluate` (bench/eval.py)"
    start = text.find(title)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(title))
        text = text[:start] + section + ("" if end < 0 else "\n" + text[end + 1 :])
    readme.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--record", action="store_true", help="write the numbers to README.md")
    parser.add_argument("--note", default="", help="a remark for the record (e.g. machine load)")
    args = parser.parse_args()

    directory = ROOT / "var" / "bench" / f"eval-seed{args.seed}"
    started = time.perf_counter()
    gt, det, excluded = generate(directory, args.seed)
    print(f"case in {directory} ({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    rows = {p.name: count_lines(p) for p in (gt, det)}
    size_mb = det.stat().st_size / 1e6
    print(f"gt rows {rows['gt.csv']:,}, detection rows {rows['det.csv']:,}, {size_mb:.0f} MB")

    command = [sys.executable, "-m", "inference", "evaluate", "-g", str(gt), "-d", str(det)]
    command += ["-e", str(excluded), "--json"]
    walls, cpus, peaks = [], [], []
    for _ in range(args.repeat):
        wall, cpu, peak_mb, stdout = time_command(command)
        walls.append(wall)
        cpus.append(cpu)
        peaks.append(peak_mb)
        print(f"evaluate: {wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {peak_mb:.0f} MB")
    peak_mb = max(peaks)
    result = json.loads(stdout.strip().splitlines()[-1])
    load = os.getloadavg()[0]

    check = "not run (--skip-reference)"
    if not args.skip_reference:
        started = time.perf_counter()
        class_ids = read_labelmap(LABELMAP).ids
        mean_ap, ap, _ = reference_frame_ap(gt, det, class_ids, read_excluded(excluded))
        reference_s = time.perf_counter() - started
        worst = max(
            abs(result["per_class"][str(c)] - ap[c]) for c in class_ids if ap[c] is not None
        )
        worst = max(worst, abs(result["mAP"] - mean_ap))
        check = (
            f"plain reference (tests/inference/ava_eval_reference.py, pure Python) mAP "
            f"{mean_ap:.9f} in {reference_s:.0f} s; largest |difference| over mAP and per-class "
            f"AP: {worst:.1e}"
        )
        print(check)
        if not worst <= 1e-6 or math.isnan(worst):
            raise SystemExit("disagreement with the plain implementation")

    best, median = min(walls), sorted(walls)[len(walls) // 2]
    cpu = sorted(cpus)[len(cpus) // 2]
    summary = (
        f"evaluate: best {best:.2f} s, median {median:.2f} s wall over {len(walls)} runs; "
        f"median CPU {cpu:.2f} s; peak RSS {peak_mb:.0f} MB; mAP {result['mAP']:.9f}; "
        f"load average {load:.1f}"
    )
    print(summary)
    if args.record:
        today = datetime.date.today().isoformat()
        header = [
            f"{today}, 2-core CPU, 24 GB, no GPU. Command: `.venv/bin/python bench/eval.py "
            f"--seed {args.seed} --repeat {args.repeat} --record`.",
            f"Case (seed {args.seed}): {VIDEOS} videos x {KEYFRAMES} keyframes, "
            f"{rows['gt.csv']:,} ground-truth rows (2-column rows included), "
            f"{rows['det.csv']:,} detection rows ({size_mb:.0f} MB), "
            f"{count_lines(excluded)} excluded keyframes, 60-class label map.",
        ]
        bullets = [
            "Whole command as a subprocess (interpreter start, CSV parsing included): "
            f"best {best:.2f} s, median {median:.2f} s wall over {len(walls)} runs "
            f"(floor: 7 s); CPU time (user + sys, both cores) median {cpu:.2f} s; peak RSS "
            f"{peak_mb:.0f} MB (floor: 1 GB). Load average at the end: {load:.1f}.",
            f"Agreement: {check}.",
            "The official ActivityNet evaluator: about 147 s and 4.2 GB on this machine "
            "according to the evaluation issue; not measured by us.",
        ]
        blocks = [textwrap.fill(p, 100) for p in header]
        blocks.append(
            "\n".join(
                textwrap.fill(b, 100, initial_indent="- ", subsequent_indent="  ") for b in bullets
            )
        )
        if args.note:
            blocks.append(textwrap.fill(args.note, 100))
        text = "\n\n".join(blocks)
        record(f"## Evaluation: `python -m inference evaluate` (bench/eval.py)\n\n{text}\n")


if __name__ == "__main__":
    main()

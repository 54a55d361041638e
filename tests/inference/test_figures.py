"""The Figure-3 chart without Django: the ranking and marks of `compare_classes`, and the
`python -m inference figure` command drawing `evaluate --json` results."""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from PIL import Image, ImageFont

from inference.figures import (
    MARKED,
    Comparison,
    ReportSummary,
    compare_classes,
    figure_svg,
)
from tests.conftest import ROOT

SVG = "{http://www.w3.org/2000/svg}"


def test_classes_come_most_ground_truth_first_with_the_largest_gains_marked():
    # eight classes: gt counts decide the order; the baseline of class 8 is under the 1 % floor
    per_class = {i: {"ap": 0.1 * i, "gt_count": 100 - i} for i in range(1, 9)}
    baseline = {i: {"ap": 0.1 * i - 0.01 * i, "gt_count": 100 - i} for i in range(1, 8)}
    baseline[8] = {"ap": 0.005, "gt_count": 92}
    rows = compare_classes(per_class, baseline, {1: ("walk", "PERSON_MOVEMENT")})
    assert [row.action_id for row in rows] == list(range(1, 9))
    assert (rows[0].name, rows[0].action_type) == ("walk", "PERSON_MOVEMENT")
    assert (rows[1].name, rows[1].action_type) == ("2", "")  # not in the label map
    gains = {row.action_id: row.gain for row in rows}
    assert gains[8] == pytest.approx(0.8 - 0.005)
    absolute = [row.action_id for row in rows if row.absolute_mark]
    assert sorted(absolute) == [4, 5, 6, 7, 8]  # the MARKED largest gains
    assert len(absolute) == MARKED
    relative = {row.action_id: row.relative_gain for row in rows}
    assert relative[8] is None  # baseline AP under the floor: no relative gain
    assert relative[3] == pytest.approx(0.01 * 3 / (0.3 - 0.03))


def test_a_class_without_ap_is_left_out_and_no_baseline_means_no_marks():
    per_class = {1: {"ap": None, "gt_count": 0}, 2: {"ap": 0.5, "gt_count": 3}}
    rows = compare_classes(per_class, None, {})
    assert [(row.action_id, row.baseline_ap, row.absolute_mark) for row in rows] == [
        (2, None, False)
    ]


def test_the_command_draws_evaluate_json_results_as_svg_and_png(tmp_path):
    def result(aps: dict[int, float]) -> str:
        return json.dumps(
            {
                "mAP": sum(aps.values()) / len(aps),
                "per_class": {str(k): v for k, v in aps.items()},
                "gt_count": {"1": 30, "12": 20, "80": 10},
                "per_type": {},
            }
        )

    model, baseline = tmp_path / "b.txt", tmp_path / "a.json"
    # the whole stdout of `evaluate --json` may be saved: the JSON object is its last line
    model.write_text("id AP GT name\n...\n" + result({1: 0.6, 12: 0.3, 80: 0.2}) + "\n")
    baseline.write_text(result({1: 0.5, 12: 0.4, 80: 0.1}))
    svg, png = tmp_path / "figure.svg", tmp_path / "figure.png"
    command = [sys.executable, "-m", "inference", "figure", str(model), "--baseline"]
    command += [str(baseline), "--name", "slowfast", "--svg", str(svg), "--png", str(png)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    tree = ET.fromstring(svg.read_text())
    pairs = tree.findall(f".//{SVG}g[@class='pair']")
    assert [int(g.get("data-action-id")) for g in pairs] == [1, 12, 80]
    names = [t.text for t in tree.iter(f"{SVG}text") if t.get("class") == "class-name"]
    assert names[0] == "bend/bow (at the waist)"  # AVA v2.2's action 1, from the label map
    legend = [t.text for t in tree.iter(f"{SVG}text") if t.get("class") == "legend-map"]
    assert legend[1] == "B: slowfast, mAP 36.7"
    with Image.open(io.BytesIO(png.read_bytes())) as image:
        assert image.width > 0 and image.height > 0


def test_the_command_names_a_file_that_is_not_a_result(tmp_path):
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2]")
    command = [sys.executable, "-m", "inference", "figure", str(junk), "--svg", "x.svg"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"{junk}: not the JSON of" in done.stderr


def _summary(report_id: int, name: str) -> ReportSummary:
    return ReportSummary(
        id=report_id,
        model_version=report_id,
        model_name=name,
        mean_ap=0.25,
        per_type={},
        box_source="detections",
        snapshot_hash="same",
        keyframes=40,
        created_at="2026-12-02",
    )


def _text_corners(element: ET.Element) -> list[tuple[float, float]]:
    """The corners of a drawn SVG text's box, measured with a real font (Pillow's default
    FreeType font), after its rotation."""
    size = float(element.get("font-size", "11"))
    font = ImageFont.load_default(size)
    width = font.getlength(element.text or "") * (1.1 if element.get("font-weight") else 1.0)
    x, y = float(element.get("x", "0")), float(element.get("y", "0"))
    start = {"start": x, "middle": x - width / 2, "end": x - width}[
        element.get("text-anchor", "start")
    ]
    corners = [(start, y + 0.25 * size), (start + width, y + 0.25 * size)]
    corners += [(start, y - size), (start + width, y - size)]
    match = re.search(r"rotate\(([-\d.]+) ([-\d.]+) ([-\d.]+)\)", element.get("transform", ""))
    if match is None:
        return corners
    angle, cx, cy = (float(value) for value in match.groups())
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return [
        (cx + (px - cx) * cos - (py - cy) * sin, cy + (px - cx) * sin + (py - cy) * cos)
        for px, py in corners
    ]


@pytest.mark.parametrize("baseline", [True, False])
def test_long_model_and_class_names_stay_inside_the_figure(baseline):
    # What users name things: a long version name, long class names leftmost (most ground truth).
    names = {
        1: ("carry/hold (an object) while talking to a person", "OBJECT_MANIPULATION"),
        2: ("listen to (a person) and watch (a person)", "PERSON_INTERACTION"),
        3: ("sit", "PERSON_MOVEMENT"),
    }
    per_class = {i: {"ap": 0.2 * i, "gt_count": 10 - i} for i in names}
    base = {i: {"ap": 0.1 * i, "gt_count": 10 - i} for i in names} if baseline else None
    comparison = Comparison(
        report=_summary(2, "slowfast-small-retrained-on-reviewed-keyframes-2026-12-02-run-7"),
        baseline=_summary(1, "slow-only-small-baseline-from-the-synthetic-demo")
        if baseline
        else None,
        classes=tuple(compare_classes(per_class, base, names)),
    )
    root = ET.fromstring(figure_svg(comparison))
    _, _, view_width, view_height = (float(v) for v in root.get("viewBox", "").split())
    texts = list(root.iter(f"{SVG}text"))
    assert any("run-7" in (text.text or "") or "..." in (text.text or "") for text in texts)
    for text in texts:
        for px, py in _text_corners(text):
            assert 0 <= px <= view_width, (text.text, px, view_width)
            assert 0 <= py <= view_height, (text.text, py, view_height)

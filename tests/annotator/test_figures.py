"""The per-class AP figure: SVG structure (pairs in order, marks, hover titles) and the PNG drawn
from the same layout."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from annotator.reports import report_comparison
from inference.figures import (
    BASELINE_FILL,
    MODEL_FILL,
    PNG_SCALE,
    figure_layout,
    figure_png,
    figure_svg,
)
from tests.annotator.report_pairs import ABSOLUTE, CLASSES, ORDER, RELATIVE, report_pair

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def comparison():  # type: ignore[no-untyped-def]
    baseline, report = report_pair()
    return report_comparison(report_id=report.pk, baseline_id=baseline.pk)


def test_the_svg_has_one_pair_per_class_in_order_with_marks_and_titles(comparison) -> None:  # type: ignore[no-untyped-def]
    tree = ET.fromstring(figure_svg(comparison))
    pairs = tree.findall(f".//{SVG}g[@class='pair']")
    assert [int(g.get("data-action-id")) for g in pairs] == ORDER
    for group in pairs:
        action_id = int(group.get("data-action-id"))
        _, gt_count, ap_a, ap_b = CLASSES[action_id]
        bars = group.findall(f"{SVG}rect")
        assert [bar.get("class") for bar in bars] == ["bar baseline", "bar model"]
        assert [float(bar.get("data-ap")) for bar in bars] == pytest.approx([ap_a, ap_b])
        # the taller bar is the higher AP (SVG y grows downwards)
        heights = [float(bar.get("height")) for bar in bars]
        assert (heights[0] < heights[1]) == (ap_a < ap_b)
        has = {p.get("class") for p in group.findall(f"{SVG}polygon")}
        assert ("mark-absolute" in has) == (action_id in ABSOLUTE)
        assert ("mark-relative" in has) == (action_id in RELATIVE)
        title = group.find(f"{SVG}title").text
        assert f"{gt_count} GT" in title and f"AP {100 * ap_b:.1f}" in title
    legend = [t.text for t in tree.iter(f"{SVG}text") if t.get("class") == "legend-map"]
    mean_a = sum(row[2] for row in CLASSES.values() if row[2] is not None) / 8
    assert legend[0] == f"A: slow-only, mAP {100 * mean_a:.1f}"
    assert legend[1].startswith("B: slowfast, mAP ")


def test_a_single_report_draws_single_bars() -> None:
    _, report = report_pair()
    tree = ET.fromstring(figure_svg(report_comparison(report_id=report.pk)))
    assert not tree.findall(f".//{SVG}g[@class='pair']")
    singles = tree.findall(f".//{SVG}g[@class='single']")
    assert [int(g.get("data-action-id")) for g in singles] == ORDER
    assert all(len(g.findall(f"{SVG}rect")) == 1 for g in singles)
    assert not tree.findall(f".//{SVG}polygon")


def test_names_are_escaped(comparison) -> None:  # type: ignore[no-untyped-def]
    from annotator.models import Action

    Action.objects.filter(action_id=1).update(name='<script>"x"&')
    baseline, report = comparison.baseline.id, comparison.report.id
    text = figure_svg(report_comparison(report_id=report, baseline_id=baseline))
    assert "<script>" not in text
    names = [
        t.text for t in ET.fromstring(text).iter(f"{SVG}text") if t.get("class") == "class-name"
    ]
    assert names[0] == '<script>"x"&'


def test_the_png_draws_the_same_layout(comparison) -> None:  # type: ignore[no-untyped-def]
    layout = figure_layout(comparison)
    image = Image.open(io.BytesIO(figure_png(comparison))).convert("RGB")
    assert image.size == (round(layout.width * PNG_SCALE), round(layout.height * PNG_SCALE))
    pairs = [item for item in layout.items if getattr(item, "css", "") == "pair"]
    colours = {BASELINE_FILL: "baseline", MODEL_FILL: "model"}
    for group in pairs:
        for bar in group.shapes[:2]:
            centre = ((bar.x + bar.width / 2) * PNG_SCALE, (bar.y + bar.height - 1) * PNG_SCALE)
            pixel = "#{:02x}{:02x}{:02x}".format(*image.getpixel(centre))
            assert colours.get(pixel) == bar.css.split()[1]

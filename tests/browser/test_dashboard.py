"""The per-class AP dashboard in Chromium: one bar pair per class in GT-count order with the right
marks, hover values, the sortable table, downloads, and a single report's bars alone."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.annotator.report_pairs import ABSOLUTE, CLASSES, ORDER, RELATIVE, report_pair

pytestmark = pytest.mark.browser

PAIRS = "#figure svg g.pair"


def marked(page, kind: str) -> set[int]:  # type: ignore[no-untyped-def]
    """Classes whose bar pair carries a drawn mark of this kind."""
    groups = page.locator(f"{PAIRS}:has(polygon.mark-{kind})")
    return {int(g.get_attribute("data-action-id")) for g in groups.all()}


def table_names(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator("#classes tbody td[data-key='name']").all_inner_texts()


def test_the_chart_shows_one_pair_per_class_in_gt_order_with_the_right_marks(reviewer_page) -> None:  # type: ignore[no-untyped-def]
    baseline, report = report_pair()
    page = reviewer_page
    # A report of a two-version job opens against its own baseline.
    page.goto(f"/evaluation/?report={report.pk}")
    page.wait_for_selector(PAIRS)

    pairs = page.locator(PAIRS)
    assert [int(g.get_attribute("data-action-id")) for g in pairs.all()] == ORDER
    gt_counts = [int(g.get_attribute("data-gt-count")) for g in pairs.all()]
    assert gt_counts == sorted(gt_counts, reverse=True)
    for group in pairs.all():
        assert group.locator("rect.bar.baseline").count() == 1
        assert group.locator("rect.bar.model").count() == 1
    assert marked(page, "absolute") == ABSOLUTE
    assert marked(page, "relative") == RELATIVE

    legend = page.locator("#figure text.legend-map").all_text_contents()
    assert legend[0].startswith("A: slow-only, mAP ") and legend[1].startswith("B: slowfast, mAP ")
    assert f"{100 * baseline.mean_ap:.1f}" in legend[0]
    assert f"{100 * report.mean_ap:.1f}" in legend[1]

    # Values on hover: the pair's title is the browser's tooltip.
    sit = page.locator(f"{PAIRS}[data-action-id='2'] > title").text_content()
    assert "sit (id 2, 40 GT)" in sit and "AP 30.0" in sit and "AP 45.0" in sit
    assert "gain +15.0 (+50 %)" in sit

    # The table beside it: figure order first, then sorted by a click on a header.
    assert table_names(page) == [CLASSES[i][0] for i in ORDER]
    page.click("#classes th[data-key='ap']")  # numbers sort largest first
    assert page.get_attribute("#classes th[data-key='ap']", "aria-sort") == "descending"
    by_ap = sorted(ORDER, key=lambda i: -CLASSES[i][3])
    assert table_names(page) == [CLASSES[i][0] for i in by_ap]
    page.click("#classes th[data-key='ap']")
    assert table_names(page) == [CLASSES[i][0] for i in reversed(by_ap)]
    page.click("#classes th[data-key='name']")
    assert table_names(page) == sorted(CLASSES[i][0] for i in ORDER)
    marks = page.locator("#classes tbody tr").filter(has=page.locator(".mark-relative")).count()
    assert marks == len(RELATIVE)


def test_downloads_carry_the_figure_and_the_table(reviewer_page) -> None:  # type: ignore[no-untyped-def]
    baseline, report = report_pair()
    page = reviewer_page
    page.goto(f"/evaluation/?report={report.pk}&baseline={baseline.pk}")
    page.wait_for_selector(PAIRS)
    name = f"report-{report.pk}-vs-{baseline.pk}"
    contents = {}
    for kind in ("csv", "json", "svg", "png"):
        with page.expect_download() as download:
            page.click(f"#download-{kind}")
        assert download.value.suggested_filename == f"{name}.{kind}"
        with open(download.value.path(), "rb") as handle:
            contents[kind] = handle.read()
    rows = list(csv.DictReader(io.StringIO(contents["csv"].decode())))
    assert [int(row["action_id"]) for row in rows] == ORDER
    assert {int(row["action_id"]) for row in rows if row["absolute_mark"] == "1"} == ABSOLUTE
    assert contents["svg"].count(b'class="pair"') == len(ORDER)
    assert contents["png"].startswith(b"\x89PNG")
    document = json.loads(contents["json"])
    assert document["same_snapshot"] is True
    assert [row["action_id"] for row in document["classes"]] == ORDER


def test_a_single_report_shows_its_bars_alone(reviewer_page) -> None:  # type: ignore[no-untyped-def]
    _, report = report_pair()
    page = reviewer_page
    page.goto(f"/evaluation/?report={report.pk}")
    page.wait_for_selector(PAIRS)
    page.select_option("#baseline", "")
    page.wait_for_selector("#figure svg g.single")
    singles = page.locator("#figure svg g.single")
    assert [int(g.get_attribute("data-action-id")) for g in singles.all()] == ORDER
    assert page.locator("#figure svg rect.bar.baseline").count() == 0
    assert page.locator("#figure svg polygon").count() == 0
    headers = page.locator("#classes th").all_inner_texts()
    assert "AP A" not in headers and "Gain" not in headers and "AP" in headers
    query = parse_qs(urlsplit(page.url).query, keep_blank_values=True)
    assert query == {"report": [str(report.pk)], "baseline": [""]}  # the address keeps the choice

"""Gold keyframes in Chromium: two reviewers answer one blind on the review page, neither seeing
the suggestion nor the other's answer; a manager approves a reviewer's answer on /gold/ with
the keyboard, then sees the other reviewer's agreement with it on /reviewers/ and opens the
keyframes behind it; no page breaks the Content-Security-Policy (screenshots for the README under
var/screenshots/gold.png and reviewers.png)."""

from __future__ import annotations

import pytest

from annotator.models import GoldAnswer, Keyframe
from annotator.services.annotations import BoxInput, LabelInput, keyframe_annotations_save
from tests.browser.test_csp import visit, watched
from tests.browser.test_review import (  # noqa: F401
    SCREENSHOTS,
    STAGE,
    drag,
    keyframe,
    open_review,
    suggest,
    video,
    wait_saved,
)
from tests.conftest import wait_for
from tests.factories import KeyframeFactory, VideoFactory

pytestmark = pytest.mark.browser

STAND, SIT, TALK = 12, 11, 79


def answer(keyframe: Keyframe, user, *boxes: tuple[tuple[float, ...], tuple[int, ...]]) -> None:  # type: ignore[no-untyped-def]
    """Submit `user`'s blind answer on a gold keyframe, as the review page's save does."""
    keyframe_annotations_save(
        keyframe_id=keyframe.pk,
        version=keyframe.version,
        boxes=[
            BoxInput(*coords, person_id=index + 1, labels=tuple(LabelInput(a) for a in labels))
            for index, (coords, labels) in enumerate(boxes)
        ],
        user=user,
        status="reviewed",
    )


def tab_to(page, selector: str, limit: int = 80) -> None:  # type: ignore[no-untyped-def]
    """Press Tab until the element `selector` has the focus (fails after `limit` presses)."""
    target = page.locator(selector)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    pytest.fail(f"{selector} never took the focus")


def test_a_manager_approves_a_gold_answer_and_reads_the_figures(  # type: ignore[no-untyped-def]
    manager_page, reviewer, other_reviewer, ava_dataset
) -> None:
    keyframe = KeyframeFactory(video=VideoFactory(dataset=ava_dataset, video_id="lobby"), gold=True)
    answer(
        keyframe, reviewer, ((0.1, 0.1, 0.4, 0.9), (STAND, TALK)), ((0.5, 0.1, 0.9, 0.9), (SIT,))
    )
    answer(keyframe, other_reviewer, ((0.1, 0.1, 0.4, 0.8), (STAND,)))
    robs = GoldAnswer.objects.get(reviewer=reviewer)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = manager_page
    errors = watched(page)
    assert visit(page, "/gold/", f"#keyframe-{keyframe.pk}") == []
    assert page.locator("nav a", has_text="Gold").count() == 1
    row = page.locator(f"tr[data-answer='{robs.pk}']")
    assert "talk to" in row.inner_text() and "sit" in row.inner_text()
    assert page.locator(f"#keyframe-{keyframe.pk} tr.gold-answer").count() == 2
    page.screenshot(path=str(SCREENSHOTS / "gold.png"), full_page=True)

    tab_to(page, f"tr[data-answer='{robs.pk}'] button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("#messages")
    assert "is the gold answer of keyframe" in page.locator("#messages").inner_text()
    assert "gold answer" in page.locator(f"tr[data-answer='{robs.pk}'] .state").inner_text()
    assert page.locator(f"#keyframe-{keyframe.pk} form.approve").count() == 0
    # Rita's submitted answer may take its place (replace), Rob's approved one offers nothing.
    assert page.locator(f"#keyframe-{keyframe.pk} form.replace button").count() == 1
    assert page.locator(f"tr[data-answer='{robs.pk}'] button").count() == 0
    assert Keyframe.objects.get(pk=keyframe.pk).status == "reviewed"

    # Rita's one box matches Rob's first (IoU 0.875): recall 1/2, precision 1/1, the pose agrees
    # and she gave no interaction label where Rob gave one.
    assert visit(page, "/reviewers/", "#reviewer-figures") == []
    rita = page.locator(f"tr[data-reviewer='{other_reviewer.username}']")
    assert rita.locator(".recall").inner_text().startswith("0.50")
    assert rita.locator(".precision").inner_text().startswith("1.00")
    assert "PERSON_MOVEMENT 1.00" in rita.locator(".label-f1").inner_text()
    assert "PERSON_INTERACTION 0.00" in rita.locator(".label-f1").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "reviewers.png"), full_page=True)

    tab_to(page, f"tr[data-reviewer='{other_reviewer.username}'] .gold a")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("#figure-keyframes")
    assert page.evaluate("window.__violations") == []
    listed = page.locator("#figure-keyframes tbody tr")
    assert listed.count() == 1 and listed.get_attribute("data-keyframe") == str(keyframe.pk)
    assert "1 / 2 / 1" in listed.inner_text()
    assert [error for error in errors if "Content Security Policy" in error] == []


def test_two_reviewers_answer_a_gold_keyframe_blind_on_the_review_page(  # type: ignore[no-untyped-def]
    login_page,
    reviewer,
    other_reviewer,
    video,  # noqa: F811
) -> None:
    target = keyframe(video, 903)
    target.gold = True
    target.save()
    suggest(target, {"stand": 0.9})  # pre-annotated before it was made gold
    rob = open_review(login_page(reviewer), f"/review/{target.pk}/")
    assert rob.locator("g.box").count() == 0
    rob.locator(STAGE).focus()
    rob.keyboard.press("d")
    drag(rob, (0.2, 0.2), (0.6, 0.9))
    rob.keyboard.press("/")
    rob.keyboard.type("sit")
    rob.keyboard.press("Enter")
    rob.locator(STAGE).focus()
    assert "your answer: none" in rob.locator("#keyframe-status").inner_text()
    rob.keyboard.press("Control+s")
    wait_saved(rob)
    assert "your answer: draft" in rob.locator("#keyframe-status").inner_text()
    answer = GoldAnswer.objects.get(keyframe=target, reviewer=reviewer)
    assert [box["labels"] for box in answer.boxes] == [[SIT]] and answer.submitted_at is None
    # A second edit keeps the same answer box (its id), and marking reviewed submits it.
    rob.keyboard.press("/")
    rob.keyboard.type("talk to")
    rob.keyboard.press("Enter")
    rob.locator(STAGE).focus()
    rob.keyboard.press("Control+Enter")
    wait_for(lambda: GoldAnswer.objects.get(pk=answer.pk).submitted_at is not None, timeout=10)
    answer.refresh_from_db()
    assert [(box["id"], box["labels"]) for box in answer.boxes] == [(1, [SIT, TALK])]

    rita = open_review(login_page(other_reviewer), f"/review/{target.pk}/")
    assert rita.locator("g.box").count() == 0  # neither Rob's answer nor the suggestion
    assert rita.locator("#suggestions").is_hidden()
    target.refresh_from_db()
    assert target.status == "unreviewed" and target.boxes.get().source == "detector"

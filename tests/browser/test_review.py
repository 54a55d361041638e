"""The review page in Chromium, on a generated video ingested by the real ingest service: take the
queue, draw and label with the keyboard, suggestions above a threshold, undo and redo, save and
reload, carry forward, the rule message, read-only keyframes, gold, the 409 merge, model frames,
and an expired session that loses nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.files import File
from PIL import Image

from annotator.models import Action, BoxLabel, Keyframe, PersonBox, Source, State, Video
from annotator.services.ingest import keyframe_media, video_ingest
from tests.conftest import wait_for
from tests.generated import read_index, write_index_video

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
STAGE = "#stage"


def screenshot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture
def video(ava_dataset, media_root, tmp_path):  # type: ignore[no-untyped-def]
    """An AVA cut file (source time 900-905 s) whose frames show their index: keyframes 902-904."""
    path = write_index_video(tmp_path / "index.mp4", 30, 150, size=(320, 240))
    video = Video(dataset=ava_dataset, video_id="index", time_offset=900)
    with path.open("rb") as handle:
        video.file.save(path.name, File(handle), save=True)
    video_ingest(video_id=video.pk)
    return video


def keyframe(video, timestamp: int) -> Keyframe:  # type: ignore[no-untyped-def]
    return Keyframe.objects.get(video=video, timestamp=timestamp)


def action(name: str) -> Action:
    return Action.objects.get(dataset__name="AVA v2.2", name=name)


def suggest(keyframe: Keyframe, scores: dict[str, float], coords=(0.1, 0.1, 0.5, 0.9)) -> PersonBox:  # type: ignore[no-untyped-def]
    """A detector box with model label suggestions, as a pre-annotation run leaves them."""
    box = PersonBox.objects.create(
        keyframe=keyframe,
        x1=coords[0],
        y1=coords[1],
        x2=coords[2],
        y2=coords[3],
        source=Source.DETECTOR,
        state=State.SUGGESTED,
        detector_score=0.9,
    )
    for name, score in scores.items():
        BoxLabel.objects.create(
            box=box, action=action(name), source=Source.MODEL, state=State.SUGGESTED, score=score
        )
    return box


def open_review(page, path: str):  # type: ignore[no-untyped-def]
    page.goto(path)
    page.wait_for_selector("#review[data-ready='true']")
    return page


def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:  # type: ignore[no-untyped-def]
    """Drag on the stage between two points given as fractions of the image."""
    box = page.locator(f"{STAGE} image").bounding_box()
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"], steps=5)
    page.mouse.up()


def wait_saved(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_selector("#save-status[data-state='saved']")


def labels_of(box: PersonBox, states=(State.ACCEPTED, State.EDITED)) -> set[str]:  # type: ignore[no-untyped-def]
    return {
        label.action.name
        for label in box.labels.select_related("action")
        if label.state in states or (label.source == Source.HUMAN and label.state != "rejected")
    }


def test_it_takes_the_queue_draws_labels_with_keys_undoes_saves_and_reloads(
    reviewer_page, reviewer, video
):  # type: ignore[no-untyped-def]
    page = reviewer_page
    page.goto("/")
    assert page.locator("#queue-count").inner_text() == "3"
    screenshot(page, "home")
    page.click("#start-reviewing")
    first = keyframe(video, 902)
    page.wait_for_url(f"**/review/{first.pk}/")
    assert page.url.endswith(f"/review/{first.pk}/")
    page.wait_for_selector("#review[data-ready='true']")
    first.refresh_from_db()
    assert first.lease_holder == reviewer

    page.locator(STAGE).focus()
    page.keyboard.press("d")
    drag(page, (0.2, 0.2), (0.6, 0.9))
    assert page.locator("g.box").count() == 1
    page.keyboard.press("/")
    page.keyboard.type("stand")
    page.keyboard.press("Enter")  # the filter keeps the focus for the next action
    page.keyboard.type("watch (a person)")
    page.keyboard.press("Enter")
    page.locator(STAGE).focus()
    chosen = page.locator(".label-row.chosen .label-name")
    assert sorted(chosen.all_inner_texts()) == ["stand", "watch (a person)"]

    page.keyboard.press("Control+z")
    assert chosen.all_inner_texts() == ["stand"]
    page.keyboard.press("Control+Shift+Z")
    assert sorted(chosen.all_inner_texts()) == ["stand", "watch (a person)"]
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")  # the box itself
    assert page.locator("g.box").count() == 0
    page.keyboard.press("Control+Shift+Z")
    page.keyboard.press("Control+Shift+Z")
    assert page.locator("g.box").count() == 1
    assert chosen.all_inner_texts() == ["stand"]
    page.keyboard.press("Control+s")
    wait_saved(page)
    screenshot(page, "review")
    page.keyboard.press("?")
    sheet = page.locator("#help")
    sheet.wait_for()
    assert "Ctrl+Enter" in sheet.inner_text()
    screenshot(page, "keys")
    page.keyboard.press("Escape")
    sheet.wait_for(state="hidden")

    box = PersonBox.objects.get(keyframe=first)
    assert box.source == Source.HUMAN
    assert labels_of(box) == {"stand"}
    assert (round(box.x1, 1), round(box.y1, 1), round(box.x2, 1), round(box.y2, 1)) == (
        0.2,
        0.2,
        0.6,
        0.9,
    )

    open_review(page, f"/review/{first.pk}/")
    assert page.locator("g.box").count() == 1
    page.keyboard.press("Tab")
    assert page.locator(".label-row.chosen .label-name").all_inner_texts() == ["stand"]
    # Keys do nothing while a text field has focus: `d` typed in the filter draws nothing.
    page.keyboard.press("/")
    page.keyboard.type("d")
    assert page.locator("#stage.mode-draw").count() == 0
    assert page.locator("#label-filter").input_value() == "d"


def test_suggestions_above_the_threshold_are_accepted_top_only_for_a_single_choice_type(
    reviewer_page, video
):  # type: ignore[no-untyped-def]
    target = keyframe(video, 903)
    box = suggest(
        target,
        {
            "stand": 0.8,
            "walk": 0.7,
            "talk to (e.g., self, a person, a group)": 0.65,
            "carry/hold (an object)": 0.55,
            "watch (a person)": 0.3,
        },
    )
    page = open_review(reviewer_page, f"/review/{target.pk}/")
    assert page.locator("g.box-suggested").count() == 1
    page.fill("#threshold", "0.6")  # a range input takes fill() as its value
    page.dispatch_event("#threshold", "input")
    assert page.locator("#threshold-value").inner_text() == "0.60"
    page.locator(STAGE).focus()
    page.keyboard.press("Tab")
    assert page.locator(".label-row.above").count() == 3  # stand, walk, talk >= 0.6 and pending
    page.keyboard.press("Shift+A")
    chosen = sorted(page.locator(".label-row.chosen .label-name").all_inner_texts())
    assert chosen == ["stand", "talk to (e.g., self, a person, a group)"]
    assert page.locator("g.box-accepted").count() == 1
    page.keyboard.press("r")  # the rest of the box's suggestions are rejected
    page.keyboard.press("Control+s")
    wait_saved(page)

    box.refresh_from_db()
    assert box.state == State.ACCEPTED
    states = {label.action.name: label.state for label in box.labels.select_related("action")}
    assert states == {
        "stand": "accepted",
        "walk": "rejected",
        "talk to (e.g., self, a person, a group)": "accepted",
        "carry/hold (an object)": "rejected",
        "watch (a person)": "rejected",
    }


def test_carry_forward_copies_the_previous_keyframes_boxes_person_ids_and_labels(
    reviewer_page, video
):  # type: ignore[no-untyped-def]
    previous = keyframe(video, 902)
    source = PersonBox.objects.create(
        keyframe=previous,
        person_id=7,
        x1=0.1,
        y1=0.2,
        x2=0.4,
        y2=0.9,
        source="human",
        state="accepted",
    )
    for name in ("sit", "talk to (e.g., self, a person, a group)"):
        BoxLabel.objects.create(box=source, action=action(name), source="human", state="accepted")
    target = keyframe(video, 903)
    page = open_review(reviewer_page, f"/review/{target.pk}/")
    page.locator(STAGE).focus()
    page.keyboard.press("c")
    assert page.locator("g.box[data-person-id='7']").count() == 1
    # A box drawn over the previous keyframe's person 7 is offered that id (IoU >= 0.3).
    page.keyboard.press("d")
    drag(page, (0.12, 0.22), (0.42, 0.85))
    assert page.locator("#person-id").input_value() == "7"
    page.keyboard.press("Delete")
    page.keyboard.press("Control+s")
    wait_saved(page)
    carried = PersonBox.objects.get(keyframe=target)
    assert carried.person_id == 7
    assert labels_of(carried) == {"sit", "talk to (e.g., self, a person, a group)"}


def test_mark_reviewed_is_refused_naming_the_rule_and_the_box(reviewer_page, video):  # type: ignore[no-untyped-def]
    target = keyframe(video, 902)
    box = PersonBox.objects.create(
        keyframe=target,
        person_id=3,
        x1=0.1,
        y1=0.2,
        x2=0.4,
        y2=0.9,
        source="human",
        state="accepted",
    )
    BoxLabel.objects.create(
        box=box, action=action("watch (a person)"), source="human", state="accepted"
    )
    page = open_review(reviewer_page, f"/review/{target.pk}/")
    assert page.locator("g.box.broken").count() == 1
    assert "PERSON_MOVEMENT" in page.locator("g.box.broken text.rule").text_content()
    page.locator(STAGE).focus()
    page.keyboard.press("Control+Enter")
    message = page.locator("#message")
    message.wait_for()
    assert (
        "box P3" in message.inner_text()
        and "0 PERSON_MOVEMENT (needs exactly 1)" in message.inner_text()
    )
    screenshot(page, "rule")
    target.refresh_from_db()
    assert target.status == Keyframe.Status.UNREVIEWED

    # Fixing it: a pose, then Ctrl+Enter saves, marks reviewed and opens the next keyframe.
    page.keyboard.press("Tab")
    page.keyboard.press("/")
    page.keyboard.type("sit")
    page.keyboard.press("Enter")
    page.locator(STAGE).focus()
    following = keyframe(video, 903)
    page.wait_for_selector(f"#review[data-prefetched='{following.pk}']", state="attached")
    page.evaluate("window.__samePage = true")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"**/review/{following.pk}/")
    page.wait_for_selector(f"#review[data-keyframe='{following.pk}'][data-ready='true']")
    # The prefetched keyframe was drawn in place, without loading a page.
    assert page.evaluate("window.__samePage") is True
    assert page.locator("#review-title").inner_text() == "index @ 903 s"
    wait_for(lambda: Keyframe.objects.get(pk=following.pk).lease_holder_id is not None, timeout=10)
    target.refresh_from_db()
    assert target.status == Keyframe.Status.REVIEWED and target.reviewed_by is not None


def test_a_keyframe_assigned_to_someone_else_opens_read_only(reviewer_page, other_reviewer, video):  # type: ignore[no-untyped-def]
    target = keyframe(video, 902)
    target.assignee = other_reviewer
    target.save()
    page = open_review(reviewer_page, f"/review/{target.pk}/")
    banner = page.locator("#read-only")
    assert banner.is_visible()
    assert other_reviewer.username in banner.inner_text()
    page.locator(STAGE).focus()
    page.keyboard.press("d")
    drag(page, (0.2, 0.2), (0.6, 0.9))
    assert page.locator("g.box").count() == 0
    assert page.locator("#save").is_disabled()


def test_a_gold_keyframe_shows_no_suggestions_and_no_scores(reviewer_page, video):  # type: ignore[no-untyped-def]
    target = keyframe(video, 904)
    target.gold = True
    target.save()
    suggest(target, {"stand": 0.9, "walk": 0.6})
    page = open_review(reviewer_page, f"/review/{target.pk}/")
    assert page.locator("g.box").count() == 0
    assert page.locator("#suggestions").is_hidden()
    assert [text for text in page.locator(".label-row .score").all_inner_texts() if text] == []
    other = keyframe(video, 903)
    suggest(other, {"stand": 0.9})
    page = open_review(page, f"/review/{other.pk}/")
    assert page.locator("g.box-suggested").count() == 1


def test_two_contexts_editing_one_keyframe_merge_after_the_409(
    login_page, reviewer, manager, video
):  # type: ignore[no-untyped-def]
    target = keyframe(video, 902)
    mine = open_review(login_page(reviewer), f"/review/{target.pk}/")
    theirs = open_review(login_page(manager), f"/review/{target.pk}/")

    theirs.locator(STAGE).focus()
    theirs.keyboard.press("d")
    drag(theirs, (0.05, 0.1), (0.3, 0.9))
    theirs.keyboard.press("Control+s")
    wait_saved(theirs)

    mine.locator(STAGE).focus()
    mine.keyboard.press("d")
    drag(mine, (0.6, 0.1), (0.9, 0.9))
    mine.keyboard.press("Control+s")
    dialog = mine.locator("#conflict")
    dialog.wait_for()
    assert mine.locator("#conflict-theirs li").count() == 1
    assert mine.locator("#conflict-mine li").count() == 1
    screenshot(mine, "conflict")
    mine.click("#conflict-merge")
    wait_saved(mine)
    assert mine.locator("g.box").count() == 2
    xs = sorted(round(box.x1, 2) for box in PersonBox.objects.filter(keyframe=target))
    assert xs == [0.05, 0.6]


def test_each_model_frame_shown_is_the_frame_the_ingest_names(reviewer_page, video):  # type: ignore[no-untyped-def]
    target = keyframe(video, 903)
    media = keyframe_media(keyframe=target)
    frames = media["model_frames"]
    page = open_review(reviewer_page, f"/review/{target.pk}/")
    page.wait_for_selector("#model-frame[data-position]")  # drawn once the sprite has loaded
    canvas = page.locator("#model-frame")
    assert int(canvas.get_attribute("data-position")) == frames["keyframe_position"]
    assert "keyframe" in page.locator("#model-frame-label").inner_text()
    page.locator(STAGE).focus()
    for _ in range(frames["keyframe_position"]):
        page.keyboard.press(",")
    seen = []
    for position in range(len(frames["frame_indices"])):
        assert int(canvas.get_attribute("data-position")) == position
        image = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB"))
        seen.append(read_index(image))
        page.keyboard.press(".")
    assert seen == frames["frame_indices"]
    # 903 s is file time 3 s: the keyframe is source frame 90 of the 30 fps file.
    assert frames["frame_indices"][frames["keyframe_position"]] == 90


def test_an_expired_session_during_autosave_loses_nothing(reviewer_page, reviewer, video):  # type: ignore[no-untyped-def]
    target = keyframe(video, 902)
    page = open_review(reviewer_page, f"/review/{target.pk}/")
    page.context.clear_cookies()
    page.locator(STAGE).focus()
    page.keyboard.press("d")
    drag(page, (0.2, 0.2), (0.6, 0.9))
    page.wait_for_selector("#login-dialog[open]")
    assert page.locator("#save-status").get_attribute("data-state") == "auth"
    kept = json.loads(page.evaluate(f"localStorage.getItem('review:unsaved:{target.pk}')"))
    assert len(kept["boxes"]) == 1
    assert not PersonBox.objects.filter(keyframe=target).exists()

    # The reviewer logs in again through /login/ in another tab (the dialog links there).
    login = page.context.new_page()
    login.goto(page.locator("#login-link").get_attribute("href"))
    login.fill("#id_username", reviewer.username)
    login.fill("#id_password", "reviewer-pass-123")
    login.click("button[type='submit']")
    login.wait_for_url("**/")
    login.close()
    page.click("#login-retry")
    wait_saved(page)
    assert PersonBox.objects.filter(keyframe=target).count() == 1
    assert page.evaluate(f"localStorage.getItem('review:unsaved:{target.pk}')") is None


def test_a_network_failure_keeps_the_edits_and_the_retry_saves_them(reviewer_page, video):  # type: ignore[no-untyped-def]
    target = keyframe(video, 902)
    page = open_review(reviewer_page, f"/review/{target.pk}/")
    page.route("**/annotations/", lambda route: route.abort("internetdisconnected"))
    page.locator(STAGE).focus()
    page.keyboard.press("d")
    drag(page, (0.2, 0.2), (0.6, 0.9))
    page.wait_for_selector("#save-status[data-state='offline']")
    assert "Retrying" in page.locator("#save-status").inner_text()
    assert not PersonBox.objects.filter(keyframe=target).exists()
    page.unroute("**/annotations/")
    page.wait_for_selector("#save-status[data-state='saved']", timeout=20_000)
    assert PersonBox.objects.filter(keyframe=target).count() == 1


def test_flag_next_previous_and_the_lease_given_back_on_leaving(reviewer_page, reviewer, video):  # type: ignore[no-untyped-def]
    first, second = keyframe(video, 902), keyframe(video, 903)
    page = open_review(reviewer_page, f"/review/{first.pk}/")
    # Opened directly (not through /review/), the page leases the keyframe at once.
    wait_for(lambda: Keyframe.objects.get(pk=first.pk).lease_holder == reviewer, timeout=10)

    page.locator(STAGE).focus()
    page.keyboard.press("f")
    page.fill("#flag-comment", "the person is cut off")
    page.click("#flag-form button[value='flag']")
    page.wait_for_selector("#keyframe-status:has-text('flagged')")
    first.refresh_from_db()
    assert (first.status, first.flag_comment) == ("flagged", "the person is cut off")

    page.locator(STAGE).focus()
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/{second.pk}/")
    page.wait_for_selector("#review[data-ready='true']")
    first.refresh_from_db()
    assert first.lease_holder is None  # given back when the page was left
    page.keyboard.press("p")
    page.wait_for_url(f"**/review/{first.pk}/")


def test_an_unsaved_page_warns_before_it_is_left(reviewer_page, video):  # type: ignore[no-untyped-def]
    target = keyframe(video, 902)
    page = open_review(reviewer_page, f"/review/{target.pk}/")
    page.route("**/annotations/", lambda route: route.abort("internetdisconnected"))
    page.locator(STAGE).focus()
    page.keyboard.press("d")
    drag(page, (0.2, 0.2), (0.6, 0.9))
    page.wait_for_selector("#save-status[data-state='offline']")
    dialogs = []

    def dismiss(dialog) -> None:  # type: ignore[no-untyped-def]
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)  # the beforeunload dialog is handled asynchronously
    assert dialogs == ["beforeunload"]


def until_true(page, expression: str, timeout_ms: int = 10_000) -> None:  # type: ignore[no-untyped-def]
    """Poll `expression` with `page.evaluate`: Playwright's wait_for_function builds its predicate
    with `new Function`, which the page's Content-Security-Policy (no 'unsafe-eval') refuses."""
    for _ in range(timeout_ms // 50):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"{expression} still false after {timeout_ms} ms")


def test_space_plays_the_context_clip_at_the_chosen_speed(reviewer_page, video):  # type: ignore[no-untyped-def]
    target = keyframe(video, 903)
    page = open_review(reviewer_page, f"/review/{target.pk}/")
    until_true(page, "document.getElementById('clip').readyState >= 1")
    page.select_option("#speed", "0.25")
    page.locator(STAGE).focus()
    page.keyboard.press(" ")
    until_true(page, "!document.getElementById('clip').paused")
    assert page.evaluate("document.getElementById('clip').playbackRate") == 0.25
    assert page.evaluate("document.getElementById('clip').loop") is True
    page.keyboard.press(" ")
    until_true(page, "document.getElementById('clip').paused")


def test_an_empty_queue_says_so(reviewer_page, video):  # type: ignore[no-untyped-def]
    Keyframe.objects.filter(video=video).update(status=Keyframe.Status.REVIEWED)
    page = reviewer_page
    page.goto("/review/")
    assert page.url.endswith("/review/")
    assert "Your queue is empty" in page.locator("h1").inner_text()
    screenshot(page, "queue-empty")

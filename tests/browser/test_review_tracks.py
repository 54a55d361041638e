"""The review page shows the selected person's track: faint outlines of their boxes on the
previous and next keyframes (Chromium, a generated video ingested by the real service)."""

from __future__ import annotations

import pytest

from annotator.models import PersonBox, Source, State
from tests.browser.test_review import STAGE, keyframe, open_review, suggest, video  # noqa: F401

pytestmark = pytest.mark.browser


def test_selecting_a_box_outlines_its_person_on_the_neighbouring_keyframes(reviewer_page, video):  # type: ignore[no-untyped-def]  # noqa: F811
    before, target, after = (keyframe(video, t) for t in (902, 903, 904))
    for frame, x in ((before, 0.05), (after, 0.35)):
        PersonBox.objects.create(
            keyframe=frame, person_id=3, x1=x, y1=0.1, x2=x + 0.4, y2=0.9,
            source=Source.HUMAN, state=State.ACCEPTED,
        )  # fmt: skip
    PersonBox.objects.create(  # someone else: not part of the selected person's track
        keyframe=after, person_id=8, x1=0.7, y1=0.1, x2=0.95, y2=0.5,
        source=Source.HUMAN, state=State.ACCEPTED,
    )  # fmt: skip
    box = suggest(target, {"stand": 0.9}, coords=(0.2, 0.1, 0.6, 0.9))
    PersonBox.objects.filter(pk=box.pk).update(person_id=3)

    page = open_review(reviewer_page, f"/review/{target.pk}/")
    assert page.locator("rect.track").count() == 0  # nothing selected yet
    page.locator(f"{STAGE} g.box[data-person-id='3'] rect.outline").click()
    previous = page.locator("rect.track.track-previous")
    following = page.locator("rect.track.track-next")
    assert previous.count() == 1 and following.count() == 1
    assert page.locator("rect.track[data-person-id='8']").count() == 0
    image = page.locator(f"{STAGE} image").bounding_box()
    left = previous.bounding_box()["x"] - image["x"]
    assert left == pytest.approx(0.05 * image["width"], abs=3)
    left = following.bounding_box()["x"] - image["x"]
    assert left == pytest.approx(0.35 * image["width"], abs=3)

"""Remapped keys in Chromium: set on the settings page, used by the review page; a conflict is
refused with a message; reset returns the defaults."""

from __future__ import annotations

import pytest

from annotator.models import ReviewerSettings
from tests.browser.test_review import STAGE, drag, keyframe, open_review, video  # noqa: F401

pytestmark = pytest.mark.browser


def test_a_remapped_key_draws_and_a_conflicting_one_is_refused(reviewer_page, reviewer, video):  # type: ignore[no-untyped-def]  # noqa: F811
    page = reviewer_page
    page.goto("/settings/keys/")
    page.wait_for_selector("#key-settings[data-ready='true']")
    assert page.locator("#key-draw").input_value() == "d"
    page.locator("#key-draw").press("b")
    assert page.locator("#key-draw").input_value() == "b"
    page.click("#keys-save")
    page.wait_for_selector("#keys-message:has-text('saved')")
    assert ReviewerSettings.objects.get(user=reviewer).key_bindings == {"draw": "b"}

    target = keyframe(video, 902)
    page = open_review(page, f"/review/{target.pk}/")
    page.locator(STAGE).focus()
    page.keyboard.press("d")  # the old key does nothing now
    drag(page, (0.2, 0.2), (0.6, 0.9))
    assert page.locator("g.box").count() == 0
    page.locator(STAGE).focus()
    page.keyboard.press("b")
    drag(page, (0.2, 0.2), (0.6, 0.9))
    assert page.locator("g.box").count() == 1
    page.keyboard.press("?")
    assert page.locator("#help-keys kbd", has_text="b").count() >= 1

    page.goto("/settings/keys/")
    page.wait_for_selector("#key-settings[data-ready='true']")
    page.locator("#key-draw").press("a")  # accepting suggestions has that key
    page.click("#keys-save")
    error = page.locator("#keys-error")
    error.wait_for(state="visible")
    assert "a is bound to both acceptBox and draw" in error.inner_text()
    assert ReviewerSettings.objects.get(user=reviewer).key_bindings == {"draw": "b"}

    page.click("#keys-reset")
    page.wait_for_selector("#keys-message:has-text('defaults')")
    assert page.locator("#key-draw").input_value() == "d"
    assert ReviewerSettings.objects.get(user=reviewer).key_bindings == {}

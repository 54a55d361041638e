"""Review UI speed in Chromium against gunicorn (issue 11), with the Performance API.

1. Next keyframe drawn after Ctrl+Enter: the time from the successful save's response to the next
   keyframe's page drawn (its review state rendered, its image decoded, a frame painted), with
   the page's prefetching; the reference in the same run is the same flow with the prefetched
   copy thrown away (the next page reads its keyframe from the API itself). Target: p95 <= 100 ms.
2. Label toggle repaint with 30 boxes and 80 actions: from the checkbox click to the frame after
   the state change was drawn; the reference is the same measurement with no click (the frame
   floor of the browser). Target: p95 <= 50 ms.

Usage: .venv/bin/python bench/review_ui.py [--keyframes 20] [--toggles 100]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gunicorn_server import gunicorn_server  # noqa: E402

WORK = ROOT / "var" / "bench" / "review_ui"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "bench-reviewer-pw"

# Runs before the page's own scripts: the time a save's response arrived (kept across the
# navigation in sessionStorage) and, on the next page, the time its keyframe was drawn.
TIMING_SCRIPT = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const fetch0 = window.fetch;
  window.fetch = async (...args) => {
    const response = await fetch0(...args);
    if (String(args[0]).includes('/annotations/') && response.ok) {
      window.__saved = now();
      sessionStorage.setItem('bench:saved', String(window.__saved));
    }
    return response;
  };
  // A full page load (no prefetched copy) finds the save's time in sessionStorage.
  window.__saved = Number(sessionStorage.getItem('bench:saved') || 0) || null;
  sessionStorage.removeItem('bench:saved');
  let drawn = null;
  const watch = () => {
    const root = document.getElementById('review');
    const image = document.querySelector('#stage image');
    if (root && root !== drawn && root.dataset.ready === 'true' && image) {
      drawn = root;
      const probe = new Image();
      probe.src = image.getAttribute('href');
      probe.decode().catch(() => {}).then(() => requestAnimationFrame(() => {
        const saved = window.__saved;
        window.__saved = null;
        window.__drawn = { keyframe: root.dataset.keyframe, ms: saved ? now() - saved : null };
      }));
    }
    requestAnimationFrame(watch);
  };
  requestAnimationFrame(watch);
})();
"""

TOGGLE_SCRIPT = """
async ([count, click]) => {
  const frame = () => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
  const inputs = [...document.querySelectorAll('#labels .label-row input[type=checkbox]')];
  const times = [];
  for (let i = 0; i < count; i += 1) {
    await frame();
    const start = performance.now();
    if (click) inputs[i % inputs.length].click();
    await frame();
    times.push(performance.now() - start);
  }
  return times;
}
"""


def setup(keyframes: int) -> dict:
    """A fresh database and media: a generated video ingested by the real ingest, a reviewer, and
    one keyframe with 30 suggested boxes."""
    os.environ["DATABASE_URL"] = f"sqlite:///{WORK / 'bench.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(WORK / "media")
    os.environ["STATIC_ROOT"] = str(WORK / "static")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.core.files import File
    from django.core.management import call_command

    from annotator.models import Action, BoxLabel, Keyframe, PersonBox, Video
    from annotator.services.datasets import dataset_create_default
    from annotator.services.ingest import video_ingest
    from annotator.services.users import user_create
    from tests.generated import write_index_video

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    dataset = dataset_create_default()
    user_create(username="bench-reviewer", role="reviewer", password=PASSWORD)
    path = write_index_video(WORK / "index.mp4", 30, 30 * (keyframes + 4), size=(640, 360))
    video = Video(dataset=dataset, video_id="bench", time_offset=900)
    with path.open("rb") as handle:
        video.file.save(path.name, File(handle), save=True)
    video_ingest(video_id=video.pk)
    crowded = Keyframe.objects.filter(video=video).order_by("-timestamp").first()
    Keyframe.objects.filter(pk=crowded.pk).update(excluded=True)  # not in the queue
    actions = list(Action.objects.filter(dataset=dataset).order_by("action_id"))
    for index in range(30):
        x, y = (index % 6) / 6, (index // 6) / 5
        box = PersonBox.objects.create(
            keyframe=crowded,
            x1=x,
            y1=y,
            x2=x + 0.15,
            y2=y + 0.18,
            source="detector",
            state="suggested",
            person_id=index,
        )
        BoxLabel.objects.bulk_create(
            BoxLabel(box=box, action=action, source="model", state="suggested", score=0.3)
            for action in actions[index % 5 :: 5]
        )
    return {"crowded": crowded.pk, "actions": len(actions)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def stats(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values), 1),
        "p95_ms": round(percentile(values, 0.95), 1),
        "max_ms": round(max(values), 1),
    }


def login(browser, base: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=base, viewport={"width": 1600, "height": 1000})
    context.add_init_script(TIMING_SCRIPT)
    page = context.new_page()
    page.goto("/login/")
    page.fill("#id_username", "bench-reviewer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type='submit']")
    page.wait_for_url(f"{base}/")
    return context, page


def until_true(page, expression: str, timeout_ms: int = 10_000) -> None:  # type: ignore[no-untyped-def]
    """Poll `expression` with `page.evaluate` (Playwright's wait_for_function builds its predicate
    with `new Function`, which the page's Content-Security-Policy refuses). The times measured are
    the page's own, so the polling interval does not enter them."""
    for _ in range(timeout_ms // 20):
        try:
            if page.evaluate(expression):
                return
        except PlaywrightError as error:  # the next keyframe's page load replaced the context
            if "context was destroyed" not in str(error):
                raise
        page.wait_for_timeout(20)
    raise AssertionError(f"{expression} still false after {timeout_ms} ms")


def next_keyframe_times(browser, base: str, count: int, drop_prefetch: bool) -> list[float]:  # type: ignore[no-untyped-def]
    """Ctrl+Enter `count` times; with `drop_prefetch` the next keyframe is opened as a new page
    (the reference: what the page did before it switched keyframes in place)."""
    context, page = login(browser, base)
    if drop_prefetch:  # the peek fails, nothing is prefetched: the next keyframe is a page load
        context.route(lambda url: "/review/queue/?" in url, lambda route: route.abort())
    times: list[float] = []
    page.goto("/review/")
    for _ in range(count):
        until_true(page, "window.__drawn !== undefined")
        current = page.evaluate("window.__drawn.keyframe")
        if not drop_prefetch:
            page.wait_for_selector("#review[data-prefetched]", state="attached")
        page.locator("#stage").focus()
        page.keyboard.press("Control+Enter")
        until_true(
            page, f"window.__drawn !== undefined && window.__drawn.keyframe !== '{current}'", 15_000
        )
        value = page.evaluate("window.__drawn.ms")
        if value is not None:
            times.append(value)
    context.close()
    return times


def toggle_times(browser, base: str, keyframe: int, count: int, click: bool) -> list[float]:  # type: ignore[no-untyped-def]
    context, page = login(browser, base)
    page.goto(f"/review/{keyframe}/")
    page.wait_for_selector("#review[data-ready='true']")
    page.locator("#stage").focus()
    page.keyboard.press("Tab")
    times = page.evaluate(TOGGLE_SCRIPT, [count, click])
    context.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keyframes", type=int, default=20)
    parser.add_argument("--toggles", type=int, default=100)
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    state = setup(2 * args.keyframes + 2)
    from playwright.sync_api import sync_playwright

    with gunicorn_server(WORK) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        prefetched = next_keyframe_times(browser, base, args.keyframes, False)
        cold = next_keyframe_times(browser, base, args.keyframes, True)
        toggles = toggle_times(browser, base, state["crowded"], args.toggles, click=True)
        floor = toggle_times(browser, base, state["crowded"], args.toggles, click=False)
        browser.close()
    result = {
        "next_keyframe_drawn_after_save": stats(prefetched),
        "reference_without_prefetch": stats(cold),
        "label_toggle_repaint_30_boxes_80_actions": {"actions": state["actions"], **stats(toggles)},
        "reference_frame_floor": stats(floor),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Review load: concurrent reviewers saving boxes and labels against gunicorn, as in production.

20 clients for 60 s, each saving its own keyframes and, now and then, keyframes shared with all the
others, and now and then deliberately re-sending a stale version. Floors (issue 2): no 5xx
("database is locked" would be one), every write that got a 2xx is in the database afterwards,
stale writes get 409. Records p50/p95 latency and throughput. Reference in the same run: the
same requests from one client alone (the latency floor of the stack without contention).
Usage: .venv/bin/python bench/review_load.py [--clients 20] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gunicorn_server import gunicorn_server  # noqa: E402

WORK = ROOT / "var" / "bench" / "review_load"
OWN_PER_CLIENT = 5
SHARED = 5


def setup(clients: int) -> dict:
    """A fresh database with reviewers, their tokens, and the keyframes they work on."""
    os.environ["DATABASE_URL"] = f"sqlite:///{WORK / 'bench.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from annotator.models import Keyframe, Video
    from annotator.services.datasets import dataset_create_default
    from annotator.services.users import user_create

    call_command("migrate", verbosity=0)
    dataset = dataset_create_default()
    video = Video.objects.create(dataset=dataset, video_id="load", status="ready")
    keyframes = [
        Keyframe.objects.create(video=video, timestamp=t).pk
        for t in range(clients * OWN_PER_CLIENT + SHARED)
    ]
    tokens = [
        Token.objects.create(
            user=user_create(username=f"reviewer{i}", role="reviewer", password="load-test-pw")
        ).key
        for i in range(clients)
    ]
    return {"keyframes": keyframes, "tokens": tokens}


def payload(rng: random.Random) -> dict:
    boxes = []
    for _ in range(rng.randint(1, 3)):
        x1, y1 = rng.uniform(0, 0.5), rng.uniform(0, 0.5)
        actions = [rng.randint(1, 14), *rng.sample(range(15, 81), rng.randint(0, 2))]
        boxes.append(
            {
                "x1": round(x1, 3),
                "y1": round(y1, 3),
                "x2": round(x1 + 0.3, 3),
                "y2": round(y1 + 0.4, 3),
                "person_id": rng.randint(0, 9),
                "labels": [{"action_id": a} for a in actions],
            }
        )
    return {"boxes": boxes}


def signature(boxes: list[dict]) -> list:
    """What a saved state looks like, independent of ids: boxes with their label ids, sorted."""
    return sorted(
        (
            round(b["x1"], 3),
            round(b["y1"], 3),
            round(b["x2"], 3),
            round(b["y2"], 3),
            b["person_id"],
            tuple(sorted(label["action_id"] for label in b["labels"])),
        )
        for b in boxes
    )


class Client(threading.Thread):
    def __init__(
        self, base: str, token: str, own: list[int], shared: list[int], seconds: float, seed: int
    ) -> None:
        super().__init__(daemon=True)
        self.base, self.own, self.shared, self.seconds = base, own, shared, seconds
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.rng = random.Random(seed)
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.acknowledged: list[tuple[int, int, list]] = []  # (keyframe, version after, signature)
        self.stale_sent = 0
        self.stale_refused = 0

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        start = time.perf_counter()
        response = self.session.request(method, self.base + path, timeout=60, **kwargs)
        self.latencies.append(time.perf_counter() - start)
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        return response

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            keyframe = self.rng.choice(self.shared if self.rng.random() < 0.15 else self.own)
            current = self.request("GET", f"/api/v1/keyframes/{keyframe}/")
            if current.status_code != 200:
                continue
            version = current.json()["version"]
            stale = version > 1 and self.rng.random() < 0.05
            body = {"version": version - 1 if stale else version, **payload(self.rng)}
            response = self.request("PUT", f"/api/v1/keyframes/{keyframe}/annotations/", json=body)
            if stale:
                self.stale_sent += 1
                self.stale_refused += response.status_code == 409
            if 200 <= response.status_code < 300:
                saved = response.json()
                self.acknowledged.append((keyframe, saved["version"], signature(saved["boxes"])))


def load(base: str, state: dict, clients: int, seconds: float) -> tuple[list[Client], float]:
    keyframes = state["keyframes"]
    shared = keyframes[clients * OWN_PER_CLIENT :]
    threads = [
        Client(
            base,
            state["tokens"][i],
            keyframes[i * OWN_PER_CLIENT : (i + 1) * OWN_PER_CLIENT],
            shared,
            seconds,
            seed=i,
        )
        for i in range(clients)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return threads, time.perf_counter() - start


def summary(threads: list[Client], elapsed: float) -> dict:
    latencies = sorted(latency for thread in threads for latency in thread.latencies)
    statuses: dict[int, int] = {}
    for thread in threads:
        for code, count in thread.statuses.items():
            statuses[code] = statuses.get(code, 0) + count
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "writes_acknowledged": sum(len(thread.acknowledged) for thread in threads),
        "stale_sent": sum(thread.stale_sent for thread in threads),
        "stale_refused_409": sum(thread.stale_refused for thread in threads),
    }


def verify(threads: list[Client]) -> dict:
    """Every acknowledged write: its version is unique per keyframe and the newest is in the DB."""
    from annotator.api.serializers import KeyframeDetailOutput
    from annotator.models import Keyframe
    from annotator.selectors import keyframe_get

    newest: dict[int, tuple[int, list]] = {}
    seen: set[tuple[int, int]] = set()
    duplicates = 0
    for thread in threads:
        for keyframe, version, saved in thread.acknowledged:
            duplicates += (keyframe, version) in seen
            seen.add((keyframe, version))
            if keyframe not in newest or version > newest[keyframe][0]:
                newest[keyframe] = (version, saved)
    missing = 0
    for keyframe, (version, saved) in newest.items():
        state = KeyframeDetailOutput(keyframe_get(keyframe_id=keyframe)).data
        missing += state["version"] != version or signature(state["boxes"]) != saved
    return {
        "keyframes_checked": len(newest),
        "lost_or_wrong": missing,
        "two_writes_same_version": duplicates,
        "keyframes": Keyframe.objects.count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    state = setup(args.clients)
    with gunicorn_server(WORK) as base:
        alone, alone_elapsed = load(base, state, 1, min(10.0, args.seconds))
        reference = summary(alone, alone_elapsed)
        threads, elapsed = load(base, state, args.clients, args.seconds)
        result = {
            "clients": args.clients,
            "seconds": args.seconds,
            **summary(threads, elapsed),
            **verify(threads),
            "reference_one_client": reference,
        }
    print(json.dumps(result))
    failures = []
    if any(code.startswith("5") for code in result["statuses"]):
        failures.append("5xx responses")
    if result["lost_or_wrong"] or result["two_writes_same_version"]:
        failures.append("acknowledged writes missing from the database")
    if result["stale_refused_409"] != result["stale_sent"]:
        failures.append("stale writes not refused with 409")
    if failures:
        sys.exit("FLOOR NOT MET: " + "; ".join(failures))


if __name__ == "__main__":
    main()

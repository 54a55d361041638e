"""Pre-annotation jobs end to end on a generated 15-minute 640x360 30 fps video, on this machine.

Measures, in one run (a fresh SQLite database, the job run in-process through the real task):
- SlowFast R50 (`slowfast_r50_8x8_ava`, random weights) over 60 keyframes (1-60 s, 3 boxes each):
  the job end to end (model load, planning, one decode, scoring, writes) against the model alone
  on a sample of those clips decoded beforehand (floor: end to end >= 0.8x the model alone);
- the `small` preset over every keyframe (1-899 s): keyframes/s, and frames decoded per frame of
  the video (floor: <= 1.05);
- ingest of a 60 s video made the same way: seconds per second of video, derived MB per hour.

Usage: .venv/bin/python bench/preannotate.py [--workdir /tmp/bench_preannotate]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

WIDTH, HEIGHT, FPS = 640, 360, 30
BOXES = np.array([[0.1, 0.2, 0.3, 0.9], [0.4, 0.1, 0.6, 0.8], [0.7, 0.3, 0.95, 0.95]], np.float32)


def write_video(path: Path, seconds: int) -> None:
    """Four walking blocks over a gradient with mild noise: cheap to make, real work to decode."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    background = np.stack(
        [x * 255 // WIDTH, y * 255 // HEIGHT, (x + y) * 255 // (WIDTH + HEIGHT)], -1
    ).astype(np.int16)
    noise = rng.integers(0, 24, size=(8, HEIGHT, WIDTH, 3), dtype=np.int16)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for k in range(seconds * FPS):
            image = (background + noise[k % 8]).astype(np.uint8)
            for j in range(4):
                cx = int((WIDTH - 80) * (0.5 + 0.5 * np.sin(k / 40 + j * 1.7)))
                cy = int((HEIGHT - 160) * (0.5 + 0.5 * np.cos(k / 55 + j)))
                image[cy : cy + 160, cx : cx + 80] = (60 * j, 255 - 50 * j, 128)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def setup_django(workdir: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"  # a job's task runs here, on commit
    os.environ["DJANGO_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def add_video(dataset, path: Path, video_id: str):  # type: ignore[no-untyped-def]
    from django.core.files import File

    from annotator.models import Video

    video = Video(dataset=dataset, video_id=video_id)
    with path.open("rb") as handle:
        video.file.save(path.name, File(handle), save=True)
    return video


def prepare_keyframes(video) -> None:  # type: ignore[no-untyped-def]
    """What ingest records (probe, keyframes), and 3 imported person boxes per keyframe."""
    from annotator.models import Keyframe, PersonBox, Source, State, Video
    from inference.video import default_keyframes, probe

    info = probe(video.file.path)
    Video.objects.filter(pk=video.pk).update(
        fps=float(info.fps),
        frame_count=info.frame_count,
        duration=info.duration,
        width=info.width,
        height=info.height,
        codec=info.codec,
        status=Video.Status.READY,
    )
    keyframes = Keyframe.objects.bulk_create(
        [Keyframe(video=video, timestamp=ts) for ts in default_keyframes(info.duration)]
    )
    PersonBox.objects.bulk_create(
        [
            PersonBox(
                keyframe=keyframe,
                x1=x1,
                y1=y1,
                x2=x2,
                y2=y2,
                source=Source.DETECTOR,
                state=State.SUGGESTED,
                detector_score=0.9,
            )
            for keyframe in keyframes
            for x1, y1, x2, y2 in BOXES.tolist()
        ]
    )
    video.refresh_from_db()


def run_job(video) -> tuple[float, dict]:  # type: ignore[no-untyped-def]
    from annotator.services.preannotate import preannotate_start

    started = time.perf_counter()
    job = preannotate_start(video=video, person_boxes="imported")  # eager: runs on commit
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    if job.status != "succeeded":
        raise SystemExit(f"job {job.pk} {job.status}: {job.message}")
    return seconds, job.result


def timed(run):  # type: ignore[no-untyped-def]
    """(wall seconds, CPU seconds of this process, load average before) of `run()`."""
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    value = run()
    return time.perf_counter() - wall, time.process_time() - cpu, load, value


def model_alone(checkpoint: Path, path: Path, timestamps: list[int], batch_size: int):  # type: ignore[no-untyped-def]
    """(wall, CPU) seconds of the model on pre-decoded clips of `timestamps`, batched as the job
    batches them."""
    import torch

    from inference import video
    from inference.checkpoints import load_model
    from inference.predict import Preprocess, clip_spec, model_inputs

    model = load_model(checkpoint)
    spec = clip_spec(model)
    preprocess = Preprocess.from_dict(model.preprocess)  # type: ignore[arg-type]
    info = video.probe(path)
    size = video.resized_size(info.width, info.height, preprocess.short_side)
    requests = {ts: spec.fast_times(Fraction(ts)) for ts in timestamps}
    clips = dict(
        video.gather_frames(video.iter_frames(path), requests, lambda f: video.to_rgb(f, size))
    )
    batches = [
        np.stack([np.stack(clips[ts]) for ts in timestamps[i : i + batch_size]])
        for i in range(0, len(timestamps), batch_size)
    ]
    pixels = torch.from_numpy(video.boxes_to_pixels(BOXES, size))

    def run() -> None:
        with torch.inference_mode():
            for batch in batches:
                rois = torch.cat(
                    [
                        torch.cat([torch.full((len(BOXES), 1), float(b)), pixels], 1)
                        for b in range(len(batch))
                    ]
                )  # (B * boxes, 5)
                inputs = model_inputs(
                    torch.from_numpy(batch), spec, model.config.pathways, preprocess
                )
                model(inputs, rois).float().numpy()

    wall, cpu, _, _ = timed(run)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/bench_preannotate")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--r50-keyframes", type=int, default=60)
    parser.add_argument("--r50-sample", type=int, default=16, help="clips for the model alone")
    parser.add_argument("--r50-batch-size", type=int, default=4)
    args = parser.parse_args()

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    seconds = int(args.minutes * 60)
    long_video = workdir / f"bench_{seconds}s_{WIDTH}x{HEIGHT}_{FPS}fps.mp4"
    short_video = workdir / f"bench_60s_{WIDTH}x{HEIGHT}_{FPS}fps.mp4"
    for path, length in ((long_video, seconds), (short_video, 60)):
        if not path.exists():
            started = time.perf_counter()
            write_video(path, length)
            print(f"wrote {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    for stale in (workdir / "bench.sqlite3", workdir / "media"):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    setup_django(workdir)

    import torch
    from django.conf import settings

    from annotator.models import Keyframe
    from annotator.services.datasets import dataset_create_default
    from annotator.services.ingest import video_ingest
    from annotator.services.model_versions import model_version_register
    from inference.checkpoints import save_checkpoint
    from inference.models import build_model, preset

    dataset = dataset_create_default()
    results: dict[str, object] = {
        "video": f"{seconds} s, {WIDTH}x{HEIGHT}, {FPS} fps",
        "boxes_per_keyframe": len(BOXES),
        "torch_threads": torch.get_num_threads(),
    }

    # Ingest of a one-minute video (what every upload goes through).
    short = add_video(dataset, short_video, "short")
    started = time.perf_counter()
    ingest = video_ingest(video_id=short.pk)
    elapsed = time.perf_counter() - started
    results["ingest_60s_seconds"] = round(elapsed, 1)
    results["ingest_seconds_per_video_second"] = round(elapsed / ingest["duration"], 3)
    results["ingest_derived_mb_per_hour"] = ingest["derived_mb_per_hour"]
    results["ingest_frames_decoded_per_video_frame"] = round(
        ingest["frames_decoded"] / ingest["frame_count"], 4
    )

    long = add_video(dataset, long_video, "long")
    prepare_keyframes(long)
    keyframes = Keyframe.objects.filter(video=long)

    # SlowFast R50 over the first keyframes, end to end and the model alone.
    torch.manual_seed(0)
    r50 = workdir / "slowfast_r50_8x8_ava.pt"
    save_checkpoint(r50, build_model(preset("slowfast_r50_8x8_ava")))
    model_version_register(dataset=dataset, path=r50, activate=True)
    long.refresh_from_db()
    keyframes.filter(timestamp__gt=args.r50_keyframes).update(gold=True)  # gold: skipped
    settings.PREANNOTATE_BATCH_SIZE = args.r50_batch_size
    sample = list(range(1, args.r50_keyframes + 1))[-args.r50_sample :]
    # Other processes share the CPU: the model alone runs before and after the job (the mean is
    # the reference), and CPU seconds of this process are reported beside wall-clock seconds.
    before = model_alone(r50, long_video, sample, args.r50_batch_size)
    job_wall, job_cpu, load, (_, result) = timed(lambda: run_job(long))
    after = model_alone(r50, long_video, sample, args.r50_batch_size)
    assert result["keyframes_written"] == args.r50_keyframes, result
    alone_wall = len(sample) / ((before[0] + after[0]) / 2)
    alone_cpu = len(sample) / ((before[1] + after[1]) / 2)
    end_to_end = args.r50_keyframes / job_wall
    ratio = end_to_end / alone_wall
    results["r50_keyframes"] = args.r50_keyframes
    results["r50_batch_size"] = args.r50_batch_size
    results["r50_load_average_at_job_start"] = round(load, 2)
    results["r50_end_to_end_keyframes_per_s"] = round(end_to_end, 3)
    results["r50_model_alone_keyframes_per_s"] = round(alone_wall, 3)
    results["r50_model_alone_before_after_s"] = [round(before[0], 1), round(after[0], 1)]
    results["r50_end_to_end_vs_model_alone"] = round(ratio, 3)
    results["r50_end_to_end_vs_model_alone_cpu_time"] = round(
        (args.r50_keyframes / job_cpu) / alone_cpu, 3
    )

    # The small preset over every keyframe of the video.
    torch.manual_seed(0)
    small = workdir / "small.pt"
    save_checkpoint(small, build_model(preset("small")))
    model_version_register(dataset=dataset, path=small, activate=True)
    long.refresh_from_db()
    keyframes.update(gold=False)
    settings.PREANNOTATE_BATCH_SIZE = 8
    job_seconds, result = run_job(long)
    decoded = result["frames_decoded"] / result["frame_count"]
    results["small_keyframes"] = result["keyframes_written"]
    results["small_job_seconds"] = round(job_seconds, 1)
    results["small_keyframes_per_s"] = round(result["keyframes_written"] / job_seconds, 2)
    results["small_labels_written"] = result["labels"]
    results["small_frames_decoded_per_video_frame"] = round(decoded, 4)
    floors = {
        "r50_end_to_end_vs_model_alone_ge_0.8": ratio >= 0.8,
        "frames_decoded_per_video_frame_le_1.05": decoded <= 1.05,
    }
    results["floors_met"] = floors
    print(json.dumps(results))
    return 0 if all(floors.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

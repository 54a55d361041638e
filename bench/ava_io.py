"""AVA ground-truth import and export at scale: a generated 1,000,000-row CSV through the commands.

Floors (issue 2): import in 60 s or less; export at 200,000 rows/s or more with peak memory under
300 MB. The reference in the same run is Python's csv module writing the same rows from a list.
Usage: .venv/bin/python bench/ava_io.py [--rows 1000000] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench" / "ava_io"


def generate(path: Path, rows: int, seed: int = 0) -> int:
    """AVA-like ground truth: 900 keyframes per video, 1-3 people, 1 pose + 0-3 other actions."""
    rng = random.Random(seed)
    written = 0
    with path.open("w") as handle:
        video = 0
        while written < rows:
            video_id = f"video{video:05d}"
            for timestamp in range(902, 1799):
                if written >= rows:
                    break
                for person in range(rng.randint(1, 3)):
                    x1, y1 = rng.uniform(0, 0.6), rng.uniform(0, 0.5)
                    x2, y2 = x1 + rng.uniform(0.1, 0.4), y1 + rng.uniform(0.2, 0.5)
                    box = f"{x1:.3f},{y1:.3f},{x2:.3f},{y2:.3f}"
                    actions = [rng.randint(1, 14), *rng.sample(range(15, 81), rng.randint(0, 3))]
                    for action in sorted(actions):
                        handle.write(f"{video_id},{timestamp:04d},{box},{action},{person}\n")
                        written += 1
            video += 1
    return written


def run(command: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Run a child; return wall seconds, its CPU seconds (user + system), its peak RSS in MB and
    what it wrote to stderr.

    CPU seconds are what to compare when other work shares the machine: wall time then grows
    with the load, CPU time much less."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    output = process.stderr.read() if process.stderr else ""
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{command} failed ({status}): {output}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database and files")
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{WORK / 'bench.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
    }
    python = sys.executable
    csv_path = WORK / "gt.csv"
    rows = generate(csv_path, args.rows)
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [python, "manage.py", "setup_instance"],
        cwd=ROOT,
        env={**env, "ADMIN_PASSWORD": "bench"},
        check=True,
        stdout=subprocess.DEVNULL,
    )

    import_seconds, import_cpu, import_rss, _ = run(
        [
            python,
            "manage.py",
            "import_ava",
            str(csv_path),
            "--dataset",
            "AVA v2.2",
            "--kind",
            "gt",
            "--create-videos",
            "--time-offset",
            "900",
        ],
        env,
    )
    out_path = WORK / "export.csv"
    export_seconds, export_cpu, export_rss, export_log = run(
        [python, "manage.py", "export_ava", str(out_path), "--dataset", "AVA v2.2"], env
    )
    # The command's own measure of the export (database to file), without interpreter start-up.
    exported = re.search(r"exported (\d+) rows in ([0-9.]+) s", export_log)
    assert exported, export_log
    same = sorted(csv_path.read_text().splitlines()) == sorted(out_path.read_text().splitlines())

    # Reference: the csv module writing the same rows from memory (no database at all).
    records = list(csv.reader(csv_path.open()))
    start = time.perf_counter()
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(records)
    reference_seconds = time.perf_counter() - start

    result = {
        "rows": rows,
        "import_s": round(import_seconds, 1),
        "import_cpu_s": round(import_cpu, 1),
        "import_peak_mb": round(import_rss),
        "export_s": round(export_seconds, 2),
        "export_rows_per_s": round(rows / export_seconds),
        "export_rows_per_s_in_process": round(int(exported.group(1)) / float(exported.group(2))),
        "export_cpu_s": round(export_cpu, 2),
        "export_rows_per_cpu_s": round(rows / export_cpu),
        "export_peak_mb": round(export_rss),
        "round_trip_identical": same,
        "reference_csv_writer_rows_per_s": round(rows / reference_seconds),
    }
    print(json.dumps(result))
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The one read-ahead helper: a producer thread a bounded number of items ahead of its consumer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_PUT_WAIT = 0.05  # seconds between the producer's looks at the stop flag while the queue is full


@contextmanager
def read_ahead(items: Iterator[T], depth: int, name: str = "read-ahead") -> Iterator[Iterator[T]]:
    """`items` produced by a thread started now, at most `depth` ahead of their consumer.

    Decoding and CSV parsing release the GIL, so the producer runs beside the consumer on another
    core. The producer's errors are raised to the consumer, in their place; leaving the block
    stops the producer and closes `items` (in the producer's thread, where a generator runs).
    """
    if depth < 1:
        raise ValueError(f"read-ahead depth must be positive, got {depth}")
    ready: queue.Queue[tuple[str, Any]] = queue.Queue(depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put((kind, value), timeout=_PUT_WAIT)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put("item", item):
                    return
            put("end", None)
        except BaseException as error:  # handed to the consumer, raised there
            put("error", error)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def consume() -> Iterator[T]:
        while True:
            kind, value = ready.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()

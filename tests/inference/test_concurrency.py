"""The one read-ahead helper: order, errors in place, bounded depth, and the producer closed."""

from __future__ import annotations

import threading

import pytest

from inference.concurrency import read_ahead


def test_it_closes_the_producers_generator_when_the_consumer_stops_early():
    closed = threading.Event()
    produced = []

    def endless():
        try:
            n = 0
            while True:
                produced.append(n)
                yield n
                n += 1
        finally:
            closed.set()

    with read_ahead(endless(), 2) as ahead:
        assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    assert closed.is_set()  # leaving the block joined the producer, which closed its items
    assert len(produced) <= 3 + 2 + 1  # never more than `depth` (and the one in hand) ahead


def test_it_refuses_a_depth_below_one():
    with pytest.raises(ValueError, match="depth"), read_ahead(iter([1]), 0):
        pass

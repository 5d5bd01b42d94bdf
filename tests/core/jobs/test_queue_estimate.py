"""When a queued run starts: case tables of the runs running and queued ahead of it, and the slots per device."""
from __future__ import annotations

import pytest

from core.jobs.queue_estimate import device_group, expected_duration, seconds_until_start

TEST_CASES_START = [
    # running runs' time left, durations of queued runs ahead, slots -> seconds until start
    ([], [], 1, 0.0),                          # nothing ahead: starts at once
    ([120.0], [], 1, 120.0),                   # one slot, busy for 2 min
    ([120.0], [], 2, 0.0),                     # a second slot is free
    ([120.0], [300.0], 1, 420.0),              # the run ahead starts after the running one, then this one
    ([120.0, 60.0], [300.0], 2, 120.0),        # two slots: the one ahead takes the 60 s slot, this the 120 s one
    ([120.0, 60.0], [300.0, 30.0], 2, 150.0),  # 300 s takes the slot free at 60, 30 s the one at 120: free at 150
    ([None], [], 1, None),                     # a running run still preparing: not known
    ([120.0], [None], 1, None),                # a run ahead never run before: not known
    ([-5.0], [], 1, 0.0),                      # past its estimate: starts any moment
]


@pytest.mark.parametrize("running,ahead,slots,expected", TEST_CASES_START)
def test_start_after_the_runs_ahead(running, ahead, slots, expected):
    assert seconds_until_start(running, ahead, slots) == expected


def test_expected_duration_is_the_median_time_per_epoch_of_finished_runs():
    assert expected_duration(10, [(100.0, 5), (300.0, 5), (20.0, 1)]) == pytest.approx(200.0)
    assert expected_duration(10, []) is None
    assert expected_duration(10, [(0.0, 0)]) is None


@pytest.mark.parametrize("device,gpus,group", [("cpu", 1, "cpu"), ("auto", 0, "cpu"), ("auto", 2, "gpu"),
                                               ("cuda:1", 2, "gpu"), ("cuda:0", 0, "gpu")])
def test_device_groups(device, gpus, group):
    assert device_group(device, gpus) == group

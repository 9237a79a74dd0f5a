"""Snapshot tests (pytest-textual-snapshot) of the queue, cluster and account screens at 100x30 and
80x24, on the frozen results of `tests.tui.support` so the pictures move only when the console does.
Update after a deliberate change with `pytest tests/tui/test_tui_snapshots.py --snapshot-update`."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.tui.support import FARM_CID, POOL_CID, make_fake_results, make_world

from tui.app import FarmhuntApp
from tui.data import CaseData
from tui.decisions import DecisionStore

SIZES = [(100, 30), (80, 24)]


@pytest.fixture(scope="module")
def snap_data(tmp_path_factory: pytest.TempPathFactory) -> CaseData:
    base = tmp_path_factory.mktemp("snap")
    world = make_world(base / "world")
    return CaseData(make_fake_results(world, base / "results"))


def _app(data: CaseData, tmp_path: Path) -> FarmhuntApp:
    return FarmhuntApp(data, DecisionStore(tmp_path / "d.sqlite", who="tester"))


async def _settle(pilot) -> None:
    """Until no worker has run for two rounds: a loaded table may start the next load (slow machines)."""
    quiet = 0
    for _ in range(50):
        busy = any(not w.is_finished for w in pilot.app.workers)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        quiet = 0 if busy else quiet + 1
        if quiet >= 2:
            return


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_queue_screen(snap_compare, snap_data: CaseData, tmp_path: Path, size) -> None:
    assert snap_compare(_app(snap_data, tmp_path), terminal_size=size, run_before=_settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_cluster_screen(snap_compare, snap_data: CaseData, tmp_path: Path, size) -> None:
    async def go(pilot) -> None:
        pilot.app.open_cluster(FARM_CID)
        await _settle(pilot)

    assert snap_compare(_app(snap_data, tmp_path), terminal_size=size, run_before=go)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_account_screen(snap_compare, snap_data: CaseData, tmp_path: Path, size) -> None:
    async def go(pilot) -> None:
        pilot.app.open_account(snap_data.member_ids(POOL_CID)[0])
        await _settle(pilot)
        await pilot.press("2")  # payments, with the dispute highlighted
        await _settle(pilot)

    assert snap_compare(_app(snap_data, tmp_path), terminal_size=size, run_before=go)


def test_cluster_activity_tab(snap_compare, snap_data: CaseData, tmp_path: Path) -> None:
    async def go(pilot) -> None:
        pilot.app.open_cluster(FARM_CID)
        await _settle(pilot)
        await pilot.press("4")
        await _settle(pilot)

    assert snap_compare(_app(snap_data, tmp_path), terminal_size=(100, 30), run_before=go)

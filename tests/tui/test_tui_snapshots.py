"""Snapshot tests (pytest-textual-snapshot) of the queue, a case, an account and a pivot at 80x24 and 120x40,
on the frozen results of `tests.tui.support` so the pictures move only when the console does.
Update after a deliberate change with `pytest tests/tui/test_tui_snapshots.py --snapshot-update`.

Deterministic under CPU load: every picture is taken after all workers have finished for several rounds
in a row (a finished load may start the next one) and the screen has refreshed; nothing on screen depends
on the clock (no notifications, no clock in the header, the cursor blink off)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.support import FARM_CID, POOL_CID, make_fake_results, make_world
from tui.app import FarmhuntApp
from tui.data import CaseData
from tui.decisions import DecisionStore

SIZES = [(80, 24), (120, 40)]


@pytest.fixture(scope="module")
def snap_data(tmp_path_factory: pytest.TempPathFactory) -> CaseData:
    base = tmp_path_factory.mktemp("snap")
    world = make_world(base / "world")
    data = CaseData(make_fake_results(world, base / "results"))
    data.population_hours()  # computed once, before any picture
    data.warm()  # the background load done too: a picture must not depend on when its timer fires
    return data


def _app(data: CaseData, tmp_path: Path) -> FarmhuntApp:
    app = FarmhuntApp(data, DecisionStore(tmp_path / "d.sqlite", who="tester"))
    app.notify = lambda *a, **k: None  # type: ignore[method-assign]  # toasts time out: not in pictures
    return app


async def _settle(pilot) -> None:
    """Until no worker has run for three rounds, then one more refresh."""
    quiet = 0
    for _ in range(100):
        busy = any(not w.is_finished for w in pilot.app.workers)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        quiet = 0 if busy else quiet + 1
        if quiet >= 3:
            break
    await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _case_of(data: CaseData, cid: int) -> str:
    return str(data.clusters.filter(data.clusters["cluster_id"] == cid)["case_id"][0])


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_queue_screen(snap_compare, snap_data: CaseData, tmp_path: Path, size) -> None:
    assert snap_compare(_app(snap_data, tmp_path), terminal_size=size, run_before=_settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_case_screen(snap_compare, snap_data: CaseData, tmp_path: Path, size) -> None:
    async def go(pilot) -> None:
        await _settle(pilot)
        pilot.app.open_case(_case_of(snap_data, FARM_CID))
        await _settle(pilot)

    assert snap_compare(_app(snap_data, tmp_path), terminal_size=size, run_before=go)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_account_screen(snap_compare, snap_data: CaseData, tmp_path: Path, size) -> None:
    async def go(pilot) -> None:
        await _settle(pilot)
        pilot.app.open_account(snap_data.member_ids(POOL_CID)[0])
        await _settle(pilot)
        await pilot.press("3")  # payments, with the dispute highlighted
        await _settle(pilot)

    assert snap_compare(_app(snap_data, tmp_path), terminal_size=size, run_before=go)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_pivot_screen(snap_compare, snap_data: CaseData, tmp_path: Path, size) -> None:
    async def go(pilot) -> None:
        await _settle(pilot)
        pilot.app.open_pivot("ip", "185.220.101.3")
        await _settle(pilot)

    assert snap_compare(_app(snap_data, tmp_path), terminal_size=size, run_before=go)


def test_case_activity_tab(snap_compare, snap_data: CaseData, tmp_path: Path) -> None:
    async def go(pilot) -> None:
        await _settle(pilot)
        pilot.app.open_case(_case_of(snap_data, FARM_CID))
        await _settle(pilot)
        await pilot.press("5")
        await _settle(pilot)

    assert snap_compare(_app(snap_data, tmp_path), terminal_size=(120, 40), run_before=go)

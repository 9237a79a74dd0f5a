"""The investigator console: Pilot tests of the whole workflow, decisions, evidence packs and errors.

The workflow runs on real detection results of the committed `fixtures/tiny` world (or of the small
test world of `tests.tui.support` while the fixture is absent); the exact assertions run on the frozen,
hand-made results of `tests.tui.support`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from farmhunt.cli import main
from farmhunt.core.errors import InputError
from tests.tui.support import FARM_CID, POOL_CID, TEAM_CID, make_fake_results, make_world
from tui.app import FarmhuntApp
from tui.data import CaseData
from tui.decisions import DecisionStore, DecisionStoreError, export_labels, labels_frame
from tui.evidence_pack import PACK_FILES, export_pack

from tests.paths import TINY as FIXTURE


@pytest.fixture(scope="session")
def tui_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_world(tmp_path_factory.mktemp("tui") / "world")


@pytest.fixture(scope="session")
def fake_results(tui_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fake_results(tui_world, tmp_path_factory.mktemp("tui") / "results")


@pytest.fixture(scope="session")
def real_results(tui_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from farmhunt.engine.pipeline import detect_path

    world = FIXTURE if (FIXTURE / "accounts.parquet").exists() else tui_world
    out = tmp_path_factory.mktemp("tui") / "results"
    detect_path(world, out)
    return out


@pytest.fixture(scope="session")
def fake_data(fake_results: Path) -> CaseData:
    return CaseData(fake_results)



def sync(fn):
    """Run an async Pilot test in its own event loop (no asyncio plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


def make_app(results: Path | CaseData, db: Path, **kw) -> FarmhuntApp:
    data = results if isinstance(results, CaseData) else CaseData(results)
    return FarmhuntApp(data, DecisionStore(db, who="tester", timeout=0.2), **kw)


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def screen_name(app: FarmhuntApp) -> str:
    return type(app.screen).__name__


def table(app: FarmhuntApp, wid: str):
    return app.screen.query_one(f"#{wid}")


# ---------------------------------------------------------------------------------------------- queue
@sync
async def test_queue_lists_clusters_by_risk_and_filters(fake_data: CaseData, tmp_path: Path) -> None:
    app = make_app(fake_data, tmp_path / "d.sqlite")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert screen_name(app) == "QueueScreen"
        q = table(app, "queue")
        assert q.row_count == 4
        assert [q.get_row_at(i)[0].plain for i in range(4)][:2] == [str(FARM_CID), str(POOL_CID)]
        totals = str(app.screen.query_one("#totals").render())
        assert "4 clusters" in totals and "3 flagged" in totals and "0 decided" in totals
        # minimum risk
        await pilot.press("m", *"0.8", "enter")
        await settle(pilot)
        assert q.row_count == 2
        # kind filter through the Select
        app.screen.query_one("#min-risk").value = ""
        app.screen.query_one("#kind").value = "benign_org"
        await settle(pilot)
        assert q.row_count == 1 and q.get_row_at(0)[0].plain == str(TEAM_CID)
        # status filter: nothing decided yet
        app.screen.query_one("#kind").clear()
        app.screen.query_one("#status").value = "confirmed_fraud"
        await settle(pilot)
        assert q.row_count == 0
        await pilot.press("escape", "c")
        await settle(pilot)
        assert q.row_count == 4
        # sort by size (o cycles columns; O reverses)
        app.screen.sort_col, app.screen.sort_desc = "size", True
        app.screen.refresh_queue()
        assert q.get_row_at(0)[0].plain == str(FARM_CID) and q.get_row_at(1)[0].plain == str(TEAM_CID)
        await pilot.press("O")
        assert q.get_row_at(0)[0].plain == str(POOL_CID)


@sync
async def test_search_jumps_to_account_and_lists_several_hits(fake_data: CaseData, tmp_path: Path) -> None:
    aid = fake_data.member_ids(POOL_CID)[0]
    app = make_app(fake_data, tmp_path / "d.sqlite")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *aid, "enter")
        await settle(pilot)
        assert screen_name(app) == "AccountScreen" and app.screen.account_id == aid
        assert f"cluster {POOL_CID}" in str(app.screen.query_one("#summary").render())
        await pilot.press("escape")
        # a card shared by the whole team: several hits, pick one
        await pilot.press("slash", *"fp_acme_corp", "enter")
        await settle(pilot)
        hits = app.screen.query_one("#hits")
        assert hits.option_count == 12
        await pilot.press("enter")
        await settle(pilot)
        assert screen_name(app) == "AccountScreen"
        assert app.screen.account_id in fake_data.member_ids(TEAM_CID)
        await pilot.press("escape")
        # a cluster id
        await pilot.press("slash", *str(FARM_CID), "enter")
        await settle(pilot)
        assert screen_name(app) == "ClusterScreen" and app.screen.cluster_id == FARM_CID
        await pilot.press("escape")
        # no match: a message, the dialog stays
        await pilot.press("slash", *"nobody@nowhere", "enter")
        await settle(pilot)
        assert "no match" in str(app.screen.query_one("#search-status").render())
        await pilot.press("escape")
        assert screen_name(app) == "QueueScreen"


def test_search_finds_every_kind_of_value(fake_data: CaseData) -> None:
    d = fake_data
    farm = d.members(FARM_CID).row(0, named=True)
    for q, what in ((farm["email"].upper(), "email"), (farm["device_id"], "device"), (farm["phone"], "phone"),
                    (farm["signup_ip"], "signup IP"), ("fp_farm_0", "card"), (str(POOL_CID), "cluster"),
                    ("45.9.20.8", "request IP")):
        hits = d.search(q)
        assert hits, q
        assert hits[0].what == what, (q, hits[0])


# ------------------------------------------------------------------------------------ drill down
@sync
async def test_drill_cluster_account_requests_and_back(real_results: Path, tmp_path: Path) -> None:
    app = make_app(real_results, tmp_path / "d.sqlite")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        top = app.data.clusters.row(0, named=True)
        await pilot.press("enter")
        await settle(pilot)
        assert screen_name(app) == "ClusterScreen" and app.screen.cluster_id == top["cluster_id"]
        members = table(app, "members-table")
        assert members.row_count == top["size"]
        assert table(app, "evidence-table").row_count == app.data.evidence(top["cluster_id"]).height
        for key in ("3", "4", "5", "1"):  # every tab renders
            await pilot.press(key)
            await settle(pilot)
        assert "density" in str(app.screen.query_one("#graph-text").render())
        aid = members.coordinate_to_cell_key(members.cursor_coordinate).row_key.value
        await pilot.press("enter")
        await settle(pilot)
        assert screen_name(app) == "AccountScreen" and app.screen.account_id == aid
        await pilot.press("4")
        await settle(pilot)
        n = app.data.world["requests"].filter(pl.col("account_id") == aid).select(pl.len()).collect().item()
        assert table(app, "requests-table").row_count == min(n, 100)
        if n > 100:
            await pilot.press("n")
            await settle(pilot)
            assert table(app, "requests-table").row_count == min(n - 100, 100)
            assert "page 2" in str(app.screen.query_one("#requests-info").render())
        for key in ("2", "3", "5", "6"):
            await pilot.press(key)
            await settle(pilot)
        await pilot.press("escape")
        assert screen_name(app) == "ClusterScreen"
        await pilot.press("escape")
        assert screen_name(app) == "QueueScreen"
        await pilot.press("escape")  # nothing further back
        assert screen_name(app) == "QueueScreen"


@sync
async def test_account_view_highlights_payments_and_links(fake_data: CaseData, tmp_path: Path) -> None:
    aid = fake_data.member_ids(POOL_CID)[0]
    app = make_app(fake_data, tmp_path / "d.sqlite")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.open_account(aid)
        await settle(pilot)
        pay = table(app, "payments-table")
        statuses = [pay.get_row_at(i)[2] for i in range(pay.row_count)]
        disputed = [s for s in statuses if s.plain == "disputed"]
        assert disputed and "magenta" in str(disputed[0].style)
        keys = table(app, "keys-table")
        assert keys.row_count == 3  # rotation
        assert table(app, "prompts-table").row_count > 0
        await pilot.press("c")
        await settle(pilot)
        assert screen_name(app) == "ClusterScreen" and app.screen.cluster_id == POOL_CID


@sync
async def test_command_palette_offers_screen_actions(fake_data: CaseData, tmp_path: Path) -> None:
    app = make_app(fake_data, tmp_path / "d.sqlite")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.open_cluster(FARM_CID)
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for t in ("Decide", "Export pack", "Back", "Search", "Help", "Export decisions (CSV + Parquet)"):
            assert t in titles


# ---------------------------------------------------------------------------------------- decisions
@sync
async def test_decision_survives_restart_with_audit_row(fake_results: Path, tmp_path: Path) -> None:
    db = tmp_path / "decisions.sqlite"
    app = make_app(fake_results, db)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # the riskiest cluster
        await settle(pilot)
        await pilot.press("d")
        await pilot.press("down", "enter")  # Benign, then the note gets focus
        await pilot.press(*"vendor test", "enter")
        await settle(pilot)
        assert "status Benign" in str(app.screen.query_one("#summary").render())
    app.store.close()
    # the database alone, as another tool would read it
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = con.execute("SELECT status, note, who FROM decisions WHERE target_type='cluster' AND target_id=?",
                          (str(FARM_CID),)).fetchone()
        assert row == ("benign", "vendor test", "tester")
        audit = con.execute("SELECT who, target_id, previous, status, note FROM audit").fetchall()
        assert audit == [("tester", str(FARM_CID), "new", "benign", "vendor test")]
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("UPDATE audit SET note='x'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("DELETE FROM audit")
    # restart: the queue shows the decision and it can be changed again
    app = make_app(fake_results, db)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        q = table(app, "queue")
        assert q.get_row_at(0)[4].plain == "Benign"
        assert "1 decided" in str(app.screen.query_one("#totals").render())
        app.screen.query_one("#status").value = "benign"
        await settle(pilot)
        assert q.row_count == 1
        await pilot.press("escape", "enter", "d", "up", "enter", *"ring confirmed", "enter")
        await settle(pilot)
    audit = app.store.audit("cluster", FARM_CID)
    assert audit["previous"].to_list() == ["new", "benign"]
    assert audit["status"].to_list() == ["benign", "confirmed_fraud"]
    app.store.close()


def test_labels_export_account_decision_wins(fake_results: Path, tmp_path: Path) -> None:
    store = DecisionStore(tmp_path / "d.sqlite", who="tester")
    data = CaseData(fake_results)
    members = data.member_ids(FARM_CID)
    store.decide("cluster", FARM_CID, "confirmed_fraud", "farm")
    store.decide("account", members[0], "benign", "victim")
    store.decide("cluster", POOL_CID, "needs_review")
    labels = labels_frame(store, data.results.accounts)
    assert labels.height == len(members) + len(data.member_ids(POOL_CID))
    first = labels.filter(pl.col("account_id") == members[0]).row(0, named=True)
    assert first["label"] == 0 and first["source"] == "account"
    by_cluster = labels.join(data.results.accounts.select("account_id", "cluster_id"), on="account_id")
    assert by_cluster.filter(pl.col("cluster_id") == FARM_CID)["label"].sum() == len(members) - 1
    assert by_cluster.filter(pl.col("cluster_id") == POOL_CID)["label"].null_count() == len(data.member_ids(POOL_CID))
    for suffix in (".csv", ".parquet"):
        out = export_labels(store, data.results.accounts, tmp_path / f"labels{suffix}")
        back = pl.read_parquet(out) if suffix == ".parquet" else pl.read_csv(out)
        assert back.height == labels.height
    with pytest.raises(InputError):
        export_labels(store, data.results.accounts, tmp_path / "labels.txt")
    rc = main(["tui", str(fake_results), "--db", str(tmp_path / "d.sqlite"), "--export-decisions",
               str(tmp_path / "cli.csv")])
    assert rc == 0 and pl.read_csv(tmp_path / "cli.csv").height == labels.height


# ------------------------------------------------------------------------------------ evidence pack
def _check_manifest(pack: Path) -> dict:
    manifest = json.loads((pack / "manifest.json").read_text())
    assert set(manifest["files"]) == set(PACK_FILES)
    for name, info in manifest["files"].items():
        assert hashlib.sha256((pack / name).read_bytes()).hexdigest() == info["sha256"], name
    assert sorted(p.name for p in pack.iterdir()) == sorted([*PACK_FILES, "manifest.json"])
    return manifest


@sync
async def test_export_evidence_pack_from_the_cluster_view(fake_results: Path, tmp_path: Path) -> None:
    app = make_app(fake_results, tmp_path / "d.sqlite", pack_root=tmp_path / "packs")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("enter")  # the Export button has focus
        await settle(pilot)
    pack = tmp_path / "packs" / f"cluster-{FARM_CID}"
    assert app.last_export == pack.resolve()
    manifest = _check_manifest(pack)
    assert manifest["cluster_id"] == FARM_CID and manifest["masked"] is False
    members = pl.read_csv(pack / "members.csv")
    assert members.height == 30 and members["email"].str.contains("jake.miller").all()
    assert pl.read_csv(pack / "shared_values.csv").filter(pl.col("what") == "card").height >= 3
    assert pl.read_csv(pack / "payments.csv").height == 90
    assert 0 < pl.read_csv(pack / "requests_sample.csv").height <= 500
    summary = (pack / "summary.md").read_text()
    for part in ("# Evidence pack: cluster", "## Why it is suspicious", "synchronized_activity", "## Timeline",
                 "## What ties it together"):
        assert part in summary
    app.store.close()


def test_masked_pack_hides_emails_and_phones(fake_data: CaseData, tmp_path: Path) -> None:
    store = DecisionStore(tmp_path / "d.sqlite", who="tester")
    dec = store.decide("cluster", FARM_CID, "confirmed_fraud", "operator known")
    pack = export_pack(fake_data, FARM_CID, tmp_path / "pack", mask=True, decision=dec)
    manifest = _check_manifest(pack)
    assert manifest["masked"] is True and manifest["decision"]["status"] == "confirmed_fraud"
    members = fake_data.members(FARM_CID)
    text = "".join((pack / f).read_text() for f in PACK_FILES)
    for email in members["email"]:
        assert email not in text
    for phone in members["phone"].drop_nulls():
        assert phone not in text
    masked = pl.read_csv(pack / "members.csv", schema_overrides={"phone": pl.String})
    assert masked["email"].str.contains(r"^j\*\*\*@proton\.me$").all()
    assert masked["phone"].str.contains(r"^\*+\d\d$").all()  # no leading '+' (a formula in a spreadsheet)
    # re-export replaces the pack atomically, no temporary directories left behind
    export_pack(fake_data, FARM_CID, tmp_path / "pack", mask=True)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ------------------------------------------------------------------------------------------ errors
def test_bad_results_directory_is_a_clear_message(tmp_path: Path, fake_results: Path, capsys) -> None:
    assert main(["tui", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "accounts.parquet").write_text("not parquet")
    assert main(["tui", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "clusters.parquet" in err and "Traceback" not in err


def test_missing_world_is_a_clear_message(tmp_path: Path, fake_results: Path, capsys) -> None:
    assert main(["tui", str(fake_results), "--world", str(tmp_path / "gone")]) == 2
    err = capsys.readouterr().err
    assert "world directory" in err and "--world" in err and "Traceback" not in err
    run = json.loads((fake_results / "run.json").read_text())
    moved = tmp_path / "res"
    moved.mkdir()
    for f in fake_results.iterdir():
        (moved / f.name).write_bytes(f.read_bytes())
    run["world"]["path"] = str(tmp_path / "gone")
    (moved / "run.json").write_text(json.dumps(run))
    assert main(["tui", str(moved)]) == 2
    assert "recorded in" in capsys.readouterr().err


def test_locked_database_is_a_clear_message(tmp_path: Path, fake_results: Path, capsys) -> None:
    db = tmp_path / "locked.sqlite"
    DecisionStore(db).close()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DecisionStoreError, match="locked"):
            DecisionStore(db, timeout=0.1)
        assert main(["tui", str(fake_results), "--db", str(db)]) == 2
        assert "locked" in capsys.readouterr().err
    finally:
        other.execute("ROLLBACK")
        other.close()
    (tmp_path / "junk.sqlite").write_text("this is not a database" * 100)
    with pytest.raises(DecisionStoreError, match="not a decisions database"):
        DecisionStore(tmp_path / "junk.sqlite")


@sync
async def test_decision_on_a_locked_database_notifies_and_keeps_state(fake_data: CaseData, tmp_path: Path) -> None:
    db = tmp_path / "d.sqlite"
    app = make_app(fake_data, db)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            await pilot.press("d", "enter", "enter")
            await settle(pilot)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert any("NOT saved" in n.message for n in app._notifications)
        assert "status new" in str(app.screen.query_one("#summary").render())
    assert app.store.get("cluster", FARM_CID) is None
    app.store.close()

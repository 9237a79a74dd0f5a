"""The investigator console: Pilot tests of the whole workflow, decisions, evidence packs and errors.

Size (~790 lines): one module so every Pilot test shares the same detection results and app fixtures
(computing them costs more than the tests); each test is one investigator task.

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
from tests.tui.support import (
    BIG_CASE,
    CARD_CID,
    FARM_CID,
    LONE_ID,
    MULTI_CASE,
    POOL_CID,
    TEAM_CID,
    make_big_case_results,
    make_fake_results,
    make_multi_cluster_results,
    make_world,
)
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
def queue_keys(app: FarmhuntApp) -> list[str]:
    q = table(app, "queue")
    return [str(q.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(q.row_count)]


def screen_text(app: FarmhuntApp) -> str:
    """Everything the current screen shows as plain text (statics, labels and table cells)."""
    from textual.widgets import DataTable, Label, Static

    parts = []
    for w in app.screen.query("*"):
        if isinstance(w, DataTable):
            for i in range(w.row_count):
                parts.append(" | ".join(c.plain if hasattr(c, "plain") else str(c) for c in w.get_row_at(i)))
        elif isinstance(w, (Static, Label)):
            parts.append(str(w.render()))
    return "\n".join(parts)


@sync
async def test_queue_equals_eval_case_list(real_results: Path, tmp_path: Path) -> None:
    from farmhunt.evaluation.metrics import evaluate_results

    data = CaseData(real_results)
    ev = evaluate_results(data.results, pl.read_parquet(data.world_path / "labels.parquet"))
    expected = ev.cases["case"].to_list()
    assert len(expected) == data.cases.height > 0
    app = make_app(data, tmp_path / "d.sqlite")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert queue_keys(app) == [f"case:{c}" for c in expected]  # same cases, same order
        q = table(app, "queue")
        sizes = dict(zip(ev.cases["case"], ev.cases["size"], strict=True))
        for i, c in enumerate(expected):
            row = q.get_row_at(i)
            assert row[0].plain == c and int(row[3].plain.replace(",", "")) == sizes[c]
        # 'a' adds every cluster outside a case after the cases; again: flagged only
        await pilot.press("a")
        await settle(pilot)
        keys = queue_keys(app)
        assert keys[: len(expected)] == [f"case:{c}" for c in expected]
        assert len(keys) == len(expected) + data.clusters["case_id"].is_null().sum()
        await pilot.press("a")
        await settle(pilot)
        assert len(queue_keys(app)) == len(expected)


@sync
async def test_queue_fits_80x24_with_readable_reason(fake_data: CaseData, tmp_path: Path) -> None:
    app = make_app(fake_data, tmp_path / "d.sqlite")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        q = table(app, "queue")
        widths = [c.get_render_width(q) for c in q.columns.values()]
        assert sum(widths) <= 80
        reason = [q.get_row_at(i)[5].plain for i in range(q.row_count)]
        assert all(len(r) >= 30 for r in reason), reason
        assert [q.get_row_at(i)[1].plain for i in range(q.row_count)] == ["farm", "resale", "resale", "cards"]
        # the case screen shows the whole reason
        await pilot.press("enter")
        await settle(pilot)
        full = fake_data.evidence(FARM_CID)["text"][0]
        assert full in str(app.screen.query_one("#summary").render())


@sync
async def test_lone_flagged_account_is_a_case_with_plain_words_evidence(fake_data: CaseData, tmp_path: Path) -> None:
    app = make_app(fake_data, tmp_path / "d.sqlite")
    lone = fake_data.results.accounts.filter(pl.col("account_id") == LONE_ID)["case_id"][0]
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        keys = queue_keys(app)
        assert f"case:{lone}" in keys
        q = table(app, "queue")
        row = q.get_row_at(keys.index(f"case:{lone}"))
        assert row[0].plain == lone and row[3].plain == "1" and "hosting" in row[5].plain
        app.open_case(lone)
        await settle(pilot)
        assert "one account judged alone" in str(app.screen.query_one("#summary").render())
        await pilot.press("2")
        ev = [r[1].plain for r in (table(app, "evidence-table").get_row_at(i) for i in range(2))]
        assert ev[0].startswith("97% of requests from hosting networks: more than 99% of accounts")
        assert ev[1].startswith("62% of requests at local night")
        await pilot.press("1", "enter")
        await settle(pilot)
        assert screen_name(app) == "AccountScreen" and app.screen.account_id == LONE_ID
        await pilot.press("2")
        await settle(pilot)
        assert "97% of requests from hosting networks" in table(app, "evidence-table").get_row_at(0)[1].plain


@sync
async def test_case_of_two_clusters_lists_both_and_opens_each(
    fake_results: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """A case holding two clusters of one operator (hand-built: the farm and the card testers)."""
    data = CaseData(make_multi_cluster_results(fake_results, tmp_path_factory.mktemp("multi") / "results"))
    farm, cards = set(data.member_ids(FARM_CID)), set(data.member_ids(CARD_CID))
    app = make_app(data, tmp_path / "d.sqlite")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        q = table(app, "queue")
        assert queue_keys(app)[0] == f"case:{MULTI_CASE}"
        assert int(q.get_row_at(0)[3].plain.replace(",", "")) == len(farm) + len(cards)
        await pilot.press("enter")
        await settle(pilot)
        assert screen_name(app) == "GroupScreen" and app.screen.cluster_ids == (FARM_CID, CARD_CID)
        summary = str(app.screen.query_one("#summary").render())
        assert "2 clusters of one operator" in summary
        # Members of both clusters, each with its cluster's number (#1 the farm, #2 the card testers).
        m = table(app, "members-table")
        labels = [str(c.label) for c in m.columns.values()]
        col = labels.index("cl#")
        cl = {str(m.coordinate_to_cell_key((i, 0)).row_key.value): m.get_row_at(i)[col].plain for i in range(m.row_count)}
        assert set(cl) == farm | cards
        assert {cl[a] for a in farm} == {"1"} and {cl[a] for a in cards} == {"2"}
        # At 80 columns who, risk, cluster, status and email fit on screen, the email whole (or cut with
        # an ellipsis at the screen's edge); the volume columns after them scroll into view.
        email = labels.index("email")
        assert labels[: email + 1] == ["✓", "account", "risk", "cl#", "status", "email"]
        widths = [c.get_render_width(m) for c in m.ordered_columns]
        assert sum(widths[: email + 1]) <= m.size.width - 2  # (the scrollbar)
        emails = dict(data.members_of(app.screen.ids).select("account_id", "email").iter_rows())
        for i in range(m.row_count):
            aid = str(m.coordinate_to_cell_key((i, 0)).row_key.value)
            shown = m.get_row_at(i)[email].plain
            assert shown == emails[aid] or (shown.endswith("…") and emails[aid].startswith(shown[:-1])), aid
        # Evidence of both clusters, each row saying whose.
        await pilot.press("2")
        ev = table(app, "evidence-table")
        whose = [ev.get_row_at(i)[0].plain for i in range(ev.row_count)]
        assert whose == ["1"] * 4 + ["2"] * 2
        # The Clusters tab lists both in the case's order; Enter opens the second one.
        await pilot.press("4")
        await settle(pilot)
        c = table(app, "clusters-table")
        assert [c.get_row_at(i)[0].plain for i in range(c.row_count)] == ["1", "2"]
        assert [int(c.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(c.row_count)] == [FARM_CID, CARD_CID]
        await pilot.press("down", "enter")
        await settle(pilot)
        assert screen_name(app) == "GroupScreen" and app.screen.cluster_ids == (CARD_CID,)
        assert f"in case {MULTI_CASE}" in str(app.screen.query_one("#summary").render())
        assert set(app.screen.ids) == cards
        # Back to the case; the graph tab shows both clusters' structure.
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        graph = str(app.screen.query_one("#graph-text").render())
        assert f"Cluster {FARM_CID}" in graph and f"Cluster {CARD_CID}" in graph


# ---------------------------------------------------------------------------------------------- pivot
@pytest.fixture(scope="module")
def shared_card_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake results on the test world where one benign account (outside every cluster) also pays with
    a farm card (real detection would link it into the farm)."""
    base = tmp_path_factory.mktemp("card")
    world = make_world(base / "world")
    pay = pl.read_parquet(world / "payments.parquet")
    farm_card = pay.filter(pl.col("card_fingerprint").str.starts_with("fp_farm_"))["card_fingerprint"].min()
    labels = pl.read_parquet(world / "labels.parquet")
    benign = labels.filter(pl.col("ring_kind") == "benign")["account_id"].sort()[0]
    extra = pay.filter(pl.col("account_id") == benign).head(1).with_columns(
        pl.lit(farm_card).alias("card_fingerprint"), pl.lit("pay_extra").alias("payment_id"),
        pl.lit("succeeded").alias("status"),
    )
    pl.concat([pay, extra]).write_parquet(world / "payments.parquet")
    return make_fake_results(world, base / "results")


@sync
async def test_pivot_from_a_card_lists_every_account_with_it(shared_card_results: Path, tmp_path: Path) -> None:
    data = CaseData(shared_card_results)
    cards = data.tie_table.filter(pl.col("signal") == "card", pl.col("n_accounts") > pl.col("n_members"))
    assert cards.height, "a card shared beyond its cluster"
    tie = cards.sort("cluster_id", "value").row(0, named=True)
    pay = pl.read_parquet(data.world_path / "payments.parquet")
    owners = set(pay.filter(pl.col("card_fingerprint") == tie["value"])["account_id"])
    outside = owners - set(data.member_ids(tie["cluster_id"]))
    assert outside
    app = make_app(data, tmp_path / "d.sqlite")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_cluster(tie["cluster_id"])
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        ties = table(app, "ties-table")
        row = next(i for i in range(ties.row_count) if ties.get_row_at(i)[3].plain == tie["value"])
        ties.move_cursor(row=row)
        await pilot.press("enter")
        await settle(pilot)
        assert screen_name(app) == "PivotScreen"
        t = table(app, "pivot-table")
        listed = {str(t.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(t.row_count)}
        assert listed == owners and outside <= listed
        assert f"{len(owners):,} account(s)" in str(app.screen.query_one("#summary").render())
        # every row carries case, risk and status
        r0 = t.get_row_at(0)
        assert r0[2].plain and r0[4].plain in ("New", "Needs review", "Confirmed fraud", "Benign")
        # jump on: Enter opens the account; Escape back; ] forward
        aid = str(t.coordinate_to_cell_key((0, 0)).row_key.value)
        await pilot.press("enter")
        await settle(pilot)
        assert screen_name(app) == "AccountScreen" and app.screen.account_id == aid
        await pilot.press("escape")
        assert screen_name(app) == "PivotScreen"
        await pilot.press("escape")
        assert screen_name(app) == "GroupScreen"
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert screen_name(app) == "PivotScreen"
        await pilot.press("ctrl+right")
        await settle(pilot)
        assert screen_name(app) == "AccountScreen" and app.screen.account_id == aid
        await pilot.press("right_square_bracket")  # nothing further forward
        assert screen_name(app) == "AccountScreen"
        await pilot.press("escape", "escape", "escape", "escape")
        assert screen_name(app) == "QueueScreen"


@sync
async def test_cidr_search_finds_request_only_ips(real_results: Path, tmp_path: Path) -> None:
    data = CaseData(real_results)
    assert data.store is not None
    signup = set(pl.read_parquet(data.world_path / "accounts.parquet")["signup_ip"])
    ips = data.store.lookup("ip").collect()["text"].sort()
    only = next(ip for ip in ips if ip not in signup)
    net = only.rsplit(".", 1)[0] + ".0/24"
    req = data.store.scan().join(data.store.lookup("ip").filter(pl.col("text") == only).select(pl.col("code").alias("ip")),
                                 on="ip").select("acct").unique().join(data.store.accounts(), on="acct").collect()
    users = set(req["account_id"])
    assert users
    app = make_app(data, tmp_path / "d.sqlite")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *net, "enter")
        await settle(pilot)
        assert screen_name(app) == "PivotScreen"
        t = table(app, "pivot-table")
        rows = {str(t.coordinate_to_cell_key((i, 0)).row_key.value): t.get_row_at(i)[3].plain for i in range(t.row_count)}
        assert users <= set(rows)
        assert any(f"request IP {only}" in rows[a] for a in users)
        await pilot.press("escape")
        # an exact IP that is also a signup IP still lists its request-IP users
        both = next(ip for ip in ips if ip in signup)
        hits = data.search(both)
        assert hits[0].target.kind == "pivot" and hits[0].target.id == "ip"
        p = data.pivot("ip", both)
        hows = " ".join(p["accounts"]["how"].to_list())
        assert "request IP" in hows and "signup IP" in hows


def test_search_exact_prefix_and_network(fake_data: CaseData) -> None:
    d = fake_data
    farm = d.members(FARM_CID).row(0, named=True)
    case = d.results.accounts.filter(pl.col("account_id") == farm["account_id"])["case_id"][0]
    cases = [(farm["email"].upper(), "email", "account"), (farm["device_id"], "device", "pivot"),
             (farm["phone"], "phone", "pivot"), (farm["signup_ip"], "IP", "pivot"), ("fp_farm_0", "card", "pivot"),
             (str(POOL_CID), "cluster", "cluster"), ("45.9.20.8", "IP", "pivot"), (case, "case", "case"),
             (case[:4], "case", "case"), ("acct_0000", "account", "account"), ("fp_acm", "card", "pivot"),
             ("185.220.101.0/24", "network", "pivot")]  # fmt: skip
    for q, what, kind in cases:
        hits = d.search(q)
        assert hits, q
        assert (hits[0].what, hits[0].target.kind) == (what, kind), (q, hits[0])
    assert len(d.search("acct_0000")) == 9  # acct_00001 .. acct_00009
    net = d.pivot("cidr", "185.220.101.0/24")
    assert set(net["accounts"]["account_id"]) == set(d.member_ids(FARM_CID))


# ------------------------------------------------------------------------------------ drill down
@sync
async def test_every_tab_scrolls_at_80x24(real_results: Path, tmp_path: Path) -> None:
    app = make_app(real_results, tmp_path / "d.sqlite")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert screen_name(app) == "GroupScreen"
        for i, tab in enumerate(("members", "evidence", "ties", "clusters", "activity", "graph"), 1):
            await pilot.press(str(i))
            await settle(pilot)
            focused = app.focused
            assert focused is not None and focused.is_scrollable and app.screen.query_one(f"#{tab}") in focused.ancestors
            if tab == "activity":  # the charts are taller than the screen: the keyboard reaches the last one
                assert focused.max_scroll_y > 0
                await pilot.press("end")
                await settle(pilot)
                assert focused.scroll_y == focused.max_scroll_y
        await pilot.press("1", "enter")
        await settle(pilot)
        assert screen_name(app) == "AccountScreen"
        for i, tab in enumerate(("profile", "evidence", "payments", "keys", "requests", "prompts", "activity",
                                 "links"), 1):  # fmt: skip
            await pilot.press(str(i))
            await settle(pilot)
            focused = app.focused
            assert focused is not None and app.screen.query_one(f"#{tab}") in focused.ancestors, tab
            if tab == "activity":
                assert focused.max_scroll_y > 0
                await pilot.press("pagedown")
                await settle(pilot)
                assert focused.scroll_y > 0
        # Enter on a prompt opens the full text
        await pilot.press("6", "enter")
        await settle(pilot)
        assert screen_name(app) == "PromptViewer"
        await pilot.press("escape")
        assert screen_name(app) == "AccountScreen"


@sync
async def test_account_view_highlights_payments_and_pivots(fake_data: CaseData, tmp_path: Path) -> None:
    aid = fake_data.member_ids(POOL_CID)[0]
    app = make_app(fake_data, tmp_path / "d.sqlite")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.open_account(aid)
        await settle(pilot)
        text = screen_text(app)
        for raw in ("n ips", "request_ip", "n_requests", "asn kind"):
            assert raw not in text
        pay = table(app, "payments-table")
        statuses = [pay.get_row_at(i)[2] for i in range(pay.row_count)]
        disputed = [s for s in statuses if s.plain == "disputed"]
        assert disputed and "magenta" in str(disputed[0].style)
        assert table(app, "keys-table").row_count == 3  # rotation
        assert table(app, "prompts-table").row_count > 0
        assert ".000" not in text and "." not in table(app, "payments-table").get_row_at(0)[0].plain  # no microseconds
        # Enter on a payment pivots on its card
        await pilot.press("3", "enter")
        await settle(pilot)
        assert screen_name(app) == "PivotScreen" and app.screen.signal == "card"
        await pilot.press("escape", "c")
        await settle(pilot)
        assert screen_name(app) == "GroupScreen" and app.screen.cluster_ids == (POOL_CID,)


@sync
async def test_command_palette_offers_screen_actions(fake_data: CaseData, tmp_path: Path) -> None:
    app = make_app(fake_data, tmp_path / "d.sqlite")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.open_cluster(FARM_CID)
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for t in ("Decide all", "Decide selected", "Export pack", "Back", "Search", "Help", "Export decisions (CSV + Parquet)"):
            assert t in titles


@sync
async def test_bulk_decision_and_inherited_status(fake_data: CaseData, tmp_path: Path) -> None:
    db = tmp_path / "d.sqlite"
    app = make_app(fake_data, db)
    case = fake_data.results.accounts.filter(pl.col("cluster_id") == POOL_CID)["case_id"][0]
    ids = fake_data.member_ids(POOL_CID)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.open_case(case)
        await settle(pilot)
        # the whole case: confirmed fraud with a reason code
        await pilot.press("d")
        await settle(pilot)
        assert screen_name(app) == "DecisionDialog"
        app.screen.query_one("#reason").value = "relay_resale"
        app.screen.query_one("#note").value = "pool [/] relays"
        await pilot.press("ctrl+s")
        await settle(pilot)
        members = table(app, "members-table")
        labels = {str(members.coordinate_to_cell_key((i, 0)).row_key.value): members.get_row_at(i)[3].plain
                  for i in range(members.row_count)}  # fmt: skip
        assert set(labels.values()) == {"Confirmed fraud (case)"}
        # two selected members decided on their own: benign; the others keep inheriting
        await pilot.press("space", "space", "D")
        await settle(pilot)
        await pilot.press("down", "enter")  # Benign
        app.screen.query_one("#reason").value = "benign_team"
        await pilot.press("ctrl+s")
        await settle(pilot)
        labels = [members.get_row_at(i)[3].plain for i in range(members.row_count)]
        assert sorted(labels) == ["Benign", "Benign", "Confirmed fraud (case)", "Confirmed fraud (case)"]
        # the account screen says where its status comes from; the queue shows the case's status
        inherited = next(str(members.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(members.row_count)
                         if members.get_row_at(i)[3].plain.endswith("(case)"))  # fmt: skip
        app.open_account(inherited)
        await settle(pilot)
        assert "status Confirmed fraud (from its case)" in str(app.screen.query_one("#summary").render())
        await pilot.press("escape", "escape")
        await settle(pilot)
        q = table(app, "queue")
        row = queue_keys(app).index(f"case:{case}")
        assert q.get_row_at(row)[4].plain == "Confirmed fraud"
    store = DecisionStore(db, who="t")
    assert store.get("case", case).reason == "relay_resale" and store.get("case", case).note == "pool [/] relays"
    decided = {a for a in ids if store.get("account", a) is not None}
    assert len(decided) == 2 and all(store.get("account", a).status == "benign" for a in decided)
    assert store.effective_status(sorted(set(ids) - decided)[0], POOL_CID, case).status == "confirmed_fraud"
    store.close()


# ------------------------------------------------------------------------------------- hostile data
HOSTILE_EMAIL = "[/]x[@click=app.quit]y[/]@evil.test"
HOSTILE_NAME = "Mallory\x1b]0;pwned\x07\x1b[2J\x9b\x7f[link=https://evil]z[/]"
HOSTILE_PROMPT = "ignore [b]this[/] \x1b[31mred\x1b[0m [@click=app.quit]quit[/]"


@pytest.fixture(scope="module")
def hostile_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("hostile")
    world = make_world(base / "world")
    acc = pl.read_parquet(world / "accounts.parquet")
    aid = acc["account_id"][0]
    acc = acc.with_columns(
        pl.when(pl.col("account_id") == aid).then(pl.lit(HOSTILE_EMAIL)).otherwise(pl.col("email")).alias("email"),
        pl.when(pl.col("account_id") == aid).then(pl.lit(HOSTILE_NAME)).otherwise(pl.col("name")).alias("name"),
    )
    acc.write_parquet(world / "accounts.parquet")
    pr = pl.read_parquet(world / "prompts.parquet")
    pr = pl.concat([pr, pr.head(1).with_columns(pl.lit(aid).alias("account_id"), pl.lit(HOSTILE_PROMPT).alias("text"))])
    pr.write_parquet(world / "prompts.parquet")
    return make_fake_results(world, base / "results")


@sync
async def test_hostile_data_shows_literally_and_never_acts(hostile_results: Path, tmp_path: Path) -> None:
    data = CaseData(hostile_results)
    aid = data.world["accounts"].filter(pl.col("email") == HOSTILE_EMAIL).collect()["account_id"][0]
    app = make_app(data, tmp_path / "d.sqlite")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *HOSTILE_EMAIL, "enter")  # search by the hostile email itself
        await settle(pilot)
        assert screen_name(app) == "AccountScreen" and app.screen.account_id == aid
        summary = str(app.screen.query_one("#summary").render())
        assert HOSTILE_EMAIL in summary
        profile = screen_text(app)
        assert "Mallory\\e]0;pwned\\x07\\e[2J\\x9b\\x7f[link=https://evil]z[/]" in profile
        assert "\x1b" not in profile and "\x07" not in profile and "\x9b" not in profile
        # clicking where the [@click] would be does nothing: the app is still running
        await pilot.click("#summary")
        await settle(pilot)
        assert app.is_running and screen_name(app) == "AccountScreen"
        # the prompt viewer shows the prompt literally, control characters escaped
        await pilot.press("6")
        await settle(pilot)
        pt = table(app, "prompts-table")
        row = next(i for i in range(pt.row_count) if "ignore" in pt.get_row_at(i)[1].plain)
        pt.move_cursor(row=row)
        await pilot.press("enter")
        await settle(pilot)
        assert screen_name(app) == "PromptViewer"
        shown = str(app.screen.query_one("#prompt-text").render())
        assert shown == "ignore [b]this[/] \\e[31mred\\e[0m [@click=app.quit]quit[/]"
        await pilot.press("escape")
        # a decision note with markup is saved and re-opened fine
        await pilot.press("d")
        await settle(pilot)
        app.screen.query_one("#note").value = "[/] [link=https://evil]see[/] \x1b[2J"
        await pilot.press("ctrl+s")
        await settle(pilot)
        # (the store drops control characters from notes; markup stays literal)
        assert "note: [/] [link=https://evil]see[/] [2J" in str(app.screen.query_one("#summary").render())
        await pilot.press("escape")
        app.open_account(aid)
        await settle(pilot)
        assert "[link=https://evil]see[/]" in str(app.screen.query_one("#summary").render())
        await pilot.press("d")
        await settle(pilot)
        assert app.screen.query_one("#note").value.startswith("[/] [link=https://evil]see[/]")
        await pilot.press("escape")


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
        case = CaseData(fake_results).cases["case_id"][0]  # the riskiest case: the farm
        row = con.execute("SELECT status, note, who FROM decisions WHERE target_type='case' AND target_id=?",
                          (case,)).fetchone()
        assert row == ("benign", "vendor test", "tester")
        audit = con.execute("SELECT who, target_id, previous, status, note FROM audit").fetchall()
        assert audit == [("tester", case, "new", "benign", "vendor test")]
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
    audit = app.store.audit("case", app.data.cases["case_id"][0])
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
        assert "status New" in str(app.screen.query_one("#summary").render())
    assert app.store.get("case", app.data.cases["case_id"][0]) is None
    app.store.close()


def test_a_world_is_not_results(tmp_path: Path, tui_world: Path, capsys) -> None:
    assert main(["tui", str(tui_world), "--db", str(tmp_path / "d.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "is a world, not results" in err and "farmhunt detect" in err and "missing column" not in err


# ---------------------------------------------------------------------------------------------- data layer
def without_users(results: Path, out: Path) -> Path:
    """A copy of `results` as an older build wrote them: a request store without the users files."""
    import shutil

    from farmhunt.engine.results import STORE_DIR
    from farmhunt.engine.store import USERS

    shutil.copytree(results, out)
    for f in USERS.values():
        (out / STORE_DIR / f).unlink()
    return out


def direct_users(data: CaseData, lo: int, hi: int, keys: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(ip_num, acct) pairs of the requests from IPs numbered in [lo, hi] and (key_id, acct) pairs of
    these keys, read from every request of the store."""
    from farmhunt.engine.store import ip_number

    assert data.store is not None
    nums = data.store.lookup("ip").select(pl.col("code").alias("ip"), ip_number(pl.col("text")).alias("ip_num"))
    scan = data.store.scan()
    ip = (
        scan.select("ip", "acct")
        .join(nums, on="ip")
        .filter(pl.col("ip_num").is_between(lo, hi))
        .select("ip_num", "acct")
        .unique()
        .sort("ip_num", "acct")
        .collect()
    )
    key = (
        scan.select("key_id", "acct")
        .filter(pl.col("key_id").is_in(keys.implode()))
        .unique()
        .sort("key_id", "acct")
        .collect()
    )
    return ip, key


def a_network(data: CaseData) -> tuple[int, int]:
    """The /8 network holding the most distinct request IPs, as a range of numbers."""
    from farmhunt.engine.store import ip_number

    assert data.store is not None
    nums = data.store.lookup("ip").select((ip_number(pl.col("text")) // 2**24).alias("net")).collect()
    net = int(nums.group_by("net").len().sort("len", "net", descending=[True, False])["net"][0])
    return net * 2**24, (net + 1) * 2**24 - 1


@pytest.fixture(scope="session")
def legacy_results(real_results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return without_users(real_results, tmp_path_factory.mktemp("tui") / "legacy")


@pytest.mark.parametrize("which", ["users files", "older store"])
def test_request_index_answers_as_the_store_scan(
    which: str, real_results: Path, legacy_results: Path
) -> None:
    """IP users (an exact IP and a /16), key users and hour counts, before, during and after the request
    index's build, equal reading every request of the store; with the store's users files the index
    builds only the counts."""
    data = CaseData(real_results if which == "users files" else legacy_results)
    assert data.store is not None and not data.tables.index_ready()
    keys = data.tables.lookup("key_id")["code"].head(50)
    lo, hi = a_network(data)
    ip_net, direct_key = direct_users(data, lo, hi, keys)
    one = int(ip_net["ip_num"][0])
    ip_one = ip_net.filter(pl.col("ip_num") == one)
    assert ip_net.height > ip_one.height > 0 and direct_key.height > 0
    ids = data.case_member_ids(data.cases["case_id"][0])
    direct = data.requests_of(pl.Series(ids), ()).collect()
    index = data.tables.index
    seen = []
    while True:
        assert data.tables.ip_users(lo, hi).equals(ip_net)
        assert data.tables.ip_users(one, one).equals(ip_one)
        assert data.tables.key_users(keys).equals(direct_key)
        hours, days = data.tables.counts_of(ids)
        assert int(hours["n"].sum()) == direct.height == int(days["n"].sum())
        seen.append(index.progress())
        if not index.step():
            break
    passes = 2 if which == "users files" else 4
    assert len(seen) == passes * len(data.store.part_files()) + 1  # every step, one at a time
    assert seen[0].startswith("hours" if which == "users files" else "IPs")
    assert data.tables.index_ready()
    act = data.activity_of(ids)
    assert int(act["hours"]["n"].sum()) == direct.height == int(act["daily"]["n"].sum())
    pop = data.population_hours()
    assert pop is not None and int(pop["n"].sum()) == data.store.n_rows


def test_pivot_counts_the_whole_world_beyond_the_rows_it_lists(fake_data: CaseData, monkeypatch) -> None:
    import tui.data.pivot

    farm = fake_data.members(FARM_CID)
    ip = farm["signup_ip"].mode()[0]
    n = int((farm["signup_ip"] == ip).sum())
    monkeypatch.setattr(tui.data.pivot, "PIVOT_LIMIT", 3)
    p = tui.data.pivot.PivotQueries.pivot.__wrapped__(fake_data, "signup_ip", ip)  # not the cached answer
    assert p["accounts"].height == 3 and p["total"] >= n and p["in_cases"] >= n
    assert p["accounts"]["risk"].to_list() == sorted(p["accounts"]["risk"].to_list(), reverse=True)


# ---------------------------------------------------------------------------------------------- during the background load
@pytest.fixture(scope="session")
def parted_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real results whose request store has several parts (so the index can be part built)."""
    from farmhunt.engine.pipeline import detect_path
    from farmhunt.engine.settings import DetectSettings, StoreSettings

    out = tmp_path_factory.mktemp("tui") / "parted"
    detect_path(FIXTURE, out, settings=DetectSettings(store=StoreSettings(rows_per_part=40_000)))
    return out


def rows_of(app: FarmhuntApp, wid: str) -> list[tuple[str, ...]]:
    t = table(app, wid)
    return [tuple(c.plain if hasattr(c, "plain") else str(c) for c in t.get_row_at(i)) for i in range(t.row_count)]


async def open_every_screen(data: CaseData, db: Path) -> dict[str, list]:
    """What the first table of each screen shows: a case, its cluster, an account's profile, payments and
    requests, pivots on a card, a device, a request IP, a network and a key; and a few searches."""
    from tui.data import Target

    case = data.cases.sort("rank").row(0, named=True)
    cid = case["clusters"][0]
    aid = data.member_ids(cid)[0]
    acc = data.account(aid)
    reqs = data.requests(aid)
    ip = str(reqs["ip"][0])
    key = str(reqs["key_id"][0])
    card = str(data.payments(aid)["card_fingerprint"][0]) if data.payments(aid).height else None
    net = ip.rsplit(".", 1)[0] + ".0/24"
    app = make_app(data, db)
    app.start_warm = lambda: None  # the test holds the background load where it is
    seen: dict[str, list] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for name, target, wids in (
            ("case", Target("case", case["case_id"]), ["members-table"]),
            ("cluster", Target("cluster", cid), ["members-table"]),
            ("account", Target("account", aid), ["profile-table", "payments-table", "requests-table"]),
            ("pivot card", Target("pivot", "card", card), ["pivot-table"]),
            ("pivot device", Target("pivot", "device", acc["device_id"]), ["pivot-table"]),
            ("pivot ip", Target("pivot", "ip", ip), ["pivot-table"]),
            ("pivot network", Target("pivot", "cidr", net), ["pivot-table"]),
            ("pivot key", Target("pivot", "key", key), ["pivot-table"]),
        ):
            if target.value is None and target.kind == "pivot":
                continue
            assert app.navigate(target)
            await settle(pilot)
            for wid in wids:
                seen[f"{name} {wid}"] = rows_of(app, wid)
            app.action_back()
            await settle(pilot)
    seen["activity"] = [data.activity_of(data.member_ids(cid)), data.account_activity(aid)]
    seen["search"] = [m.label for q in (ip, ip.rsplit(".", 1)[0], net, aid[:6], key) for m in data.search(q)]
    return seen


@pytest.fixture(scope="session")
def parted_legacy(parted_results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return without_users(parted_results, tmp_path_factory.mktemp("tui") / "parted-legacy")


@pytest.mark.parametrize("which", ["users files", "older store"])
@sync
async def test_screens_opened_during_the_background_load_show_what_they_show_after_it(
    which: str, parted_results: Path, parted_legacy: Path, tmp_path: Path
) -> None:
    """Nothing in memory yet and the request index part built (with the store's users files: the hours
    of one part; an older store: IPs of every part, keys of one, no counts): every screen shows exactly
    what it shows once the load is done."""
    results = parted_results if which == "users files" else parted_legacy
    during = CaseData(results)
    assert during.store is not None and len(during.store.part_files()) >= 3
    if which == "users files":
        assert during.tables.index.step()
        assert not during.tables.index.complete("hours")
    else:
        for _ in range(len(during.store.part_files()) + 1):
            assert during.tables.index.step()
        assert during.tables.index.complete("ip") and not during.tables.index.complete("key_id")
    assert during.population_hours(wait=False) is None
    # (the charts' wait for the population's hours would finish the load: held back, compared below)
    finish = during.tables.population_hours
    during.tables.population_hours = lambda wait=True: None  # type: ignore[method-assign]
    seen_during = await open_every_screen(during, tmp_path / "a.sqlite")
    assert not during.tables.loaded("accounts") and not during.tables.index_ready()  # still "during"
    during.tables.population_hours = finish  # type: ignore[method-assign]

    after = CaseData(results)
    after.warm()
    assert after.tables.index_ready() and after.tables.loaded("accounts")
    seen_after = await open_every_screen(after, tmp_path / "b.sqlite")
    assert seen_during.keys() == seen_after.keys()
    for k in seen_after:
        if k == "activity":
            for a, b in zip(seen_during[k], seen_after[k]):
                assert all(a[c].equals(b[c]) for c in ("hours", "daily", "signups")), k
        else:
            assert seen_during[k] == seen_after[k], k
            assert k == "search" or k.startswith("account") or seen_after[k], k  # something to compare
    assert during.population_hours().equals(after.population_hours())


@pytest.mark.parametrize("which", ["users files", "older store"])
def test_questions_during_a_running_background_load_are_exact(
    which: str, parted_results: Path, parted_legacy: Path
) -> None:
    """The background load running in its thread while questions are asked: every answer equals a
    direct read of the store."""
    import threading
    import time

    data = CaseData(parted_results if which == "users files" else parted_legacy)
    assert data.store is not None
    lo, hi = a_network(data)
    keys = data.store.lookup("key_id").collect()["code"].head(40)
    direct, direct_key = direct_users(data, lo, hi, keys)
    assert direct.height and direct_key.height
    ids = data.case_member_ids(data.cases["case_id"][0])
    n = data.requests_of(pl.Series(ids), ()).collect().height
    warm = threading.Thread(target=data.warm)
    warm.start()
    checks = 0
    while warm.is_alive() or checks < 3:
        assert data.foreground(lambda: data.tables.ip_users(lo, hi)).equals(direct)
        assert data.foreground(lambda: data.tables.key_users(keys)).equals(direct_key)
        hours, days = data.tables.counts_of(ids)
        assert int(hours["n"].sum()) == n == int(days["n"].sum())
        checks += 1
        time.sleep(0.2)  # a pause between questions: the background load takes its steps then
    warm.join()
    assert data.tables.index_ready()


def test_email_pivots_equal_the_key_computed_for_every_account(fake_data: CaseData) -> None:
    """An email pattern, mailbox or domain pivot (the key computed only for emails holding the domain)
    lists exactly the accounts whose key, computed for every account, is the value."""
    from farmhunt.core.values import canonical_email, email_pattern

    acc = pl.read_parquet(fake_data.world_path / "accounts.parquet").with_columns(pl.col("email").cast(pl.String))
    keys = acc.select(
        "account_id",
        email_pattern(pl.col("email")).alias("email_pattern"),
        canonical_email(pl.col("email")).alias("email_canonical"),
        pl.col("email").str.to_lowercase().str.extract(r"@([^@]*)$", 1).alias("email_domain"),
    )
    farm = fake_data.members(FARM_CID)
    checked = 0
    for signal in ("email_pattern", "email_canonical", "email_domain"):
        for value in keys[signal].value_counts(sort=True)[signal].drop_nulls().head(3).to_list() + [
            keys.filter(pl.col("account_id") == farm["account_id"][0])[signal][0]
        ]:
            want = set(keys.filter(pl.col(signal) == value)["account_id"])
            p = fake_data.pivot(signal, value)
            assert set(p["accounts"]["account_id"]) == want and p["total"] == len(want), (signal, value)
            checked += 1
    assert checked == 12


def test_network_pivot_lists_signup_ips_in_the_network(fake_data: CaseData) -> None:
    acc = pl.read_parquet(fake_data.world_path / "accounts.parquet").with_columns(pl.col("signup_ip").cast(pl.String))
    ip = acc["signup_ip"][0]
    net = ip.rsplit(".", 2)[0] + ".0.0/16"
    want = set(acc.filter(pl.col("signup_ip").str.starts_with(ip.rsplit(".", 2)[0] + "."))["account_id"])
    p = fake_data.pivot("cidr", net)
    signup = set(p["accounts"].filter(pl.col("how").str.contains("signup IP"))["account_id"])
    assert signup == want and want


@sync
async def test_a_long_table_shows_its_first_rows_at_once_and_gets_every_row(fake_data: CaseData, tmp_path: Path) -> None:
    """fill_table adds CHUNK rows at once and the others after refreshes, in order; a table filled again
    meanwhile keeps only its new content."""
    from textual.widgets import DataTable

    from tui.widgets.tables import CHUNK, fill_table

    app = make_app(fake_data, tmp_path / "d.sqlite")
    app.start_warm = lambda: None
    df = pl.DataFrame({"n": list(range(2 * CHUNK + 50)), "k": [f"r{i}" for i in range(2 * CHUNK + 50)]})
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        t = app.screen.query_one("#queue", DataTable)
        fill_table(t, df, [("n", "n")], key="k")
        assert t.row_count == CHUNK
        for _ in range(10):
            await pilot.pause()
        assert t.row_count == df.height
        assert [str(t.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(t.row_count)] == df["k"].to_list()
        fill_table(t, df, [("n", "n")], key="k", first=CHUNK + 10)  # e.g. the cursor's row
        assert t.row_count == CHUNK + 10
        fill_table(t, df.head(3), [("n", "n")], key="k")  # refilled before the rest came: only the new rows
        for _ in range(10):
            await pilot.pause()
        assert t.row_count == 3


# ---------------------------------------------------------------------------------------------- a very large case
@sync
async def test_a_case_of_10000_accounts_paints_its_header_and_riskiest_members_within_a_second(
    tmp_path: Path, monkeypatch
) -> None:
    """An operator community of 10,000 accounts in 500 clusters: the header and the first page of members
    (riskiest first) show within a second; the evidence and clusters tables fill after that first paint,
    and the activity charts and linkage graph only when their tab is opened."""
    import time

    from tui.data import MEMBER_LIMIT, Target

    import tui.screens.cluster

    world, results = make_big_case_results(tmp_path / "big")
    data = CaseData(results, world)
    app = make_app(data, tmp_path / "d.sqlite")
    members_when_evidence: list[int] = []  # the members shown when the evidence table is filled
    show_evidence = tui.screens.cluster.GroupScreen.show_evidence

    def recording(screen) -> None:
        members_when_evidence.append(screen.query_one("#members-table").row_count)
        show_evidence(screen)

    monkeypatch.setattr(tui.screens.cluster.GroupScreen, "show_evidence", recording)

    async def first_paint() -> tuple[float, float]:
        """Wall and process CPU seconds from the navigation to the members on screen."""
        t0, c0 = time.perf_counter(), time.process_time()
        assert app.navigate(Target("case", BIG_CASE))
        while True:
            members = app.screen.query("#members-table")
            if members and members.first().row_count and not members.first().loading:
                return time.perf_counter() - t0, time.process_time() - c0
            assert time.perf_counter() - t0 < 30
            await asyncio.sleep(0.005)

    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        # Twice, nothing cached the second time either: the wall clock of a shared machine swings with
        # other processes, so the better of two (and each one's CPU seconds) must be under a second.
        wall, cpu = await first_paint()
        await settle(pilot)
        app.action_back()
        await settle(pilot)
        for name in dir(CaseData):
            getattr(getattr(CaseData, name), "cache_clear", lambda: None)()
        wall2, cpu2 = await first_paint()
        screen = app.screen
        rows = rows_of(app, "members-table")
        assert rows[0][1] == "big_00000" and rows[0][2] == "0.99"  # riskiest first, then by id
        risks = [float(r[2]) for r in rows]
        assert risks == sorted(risks, reverse=True)
        summary = str(screen.query_one("#summary").render())
        assert "10,000 accounts" in summary and "500 clusters" in summary and f"riskiest {MEMBER_LIMIT:,}" in summary
        print(f"first paint {wall:.2f} s ({cpu:.2f} s CPU), again {wall2:.2f} s ({cpu2:.2f} s CPU)")
        assert min(wall, wall2) < 1.0 and max(cpu, cpu2) < 1.0, (wall, cpu, wall2, cpu2)
        await settle(pilot)
        assert table(app, "members-table").row_count == MEMBER_LIMIT
        assert members_when_evidence and min(members_when_evidence) >= 200  # the evidence after the members
        ev = table(app, "evidence-table")
        assert ev.row_count >= 200 and ev.get_row_at(0)[2].plain == "cluster 9000000 reason 1"
        await pilot.press("4")  # (a table in a tab not open gets its rows after the first 200 when shown)
        await settle(pilot)
        clusters = rows_of(app, "clusters-table")
        assert len(clusters) == 500 and clusters[0][:2] == ("1", "9000000")
        assert screen._lazy_started == set()  # activity and graph wait for their tab
        await pilot.press("6")
        await settle(pilot)
        assert screen._lazy_started == {"graph"}
        assert "Cluster 9000000" in str(screen.query_one("#graph-text").render())


def test_the_background_load_reads_a_table_in_slices_as_one_read(fake_results: Path, monkeypatch) -> None:
    """World tables load a slice at a time (a pause between slices): the same rows, in the same order."""
    import tui.data.world

    monkeypatch.setattr(tui.data.world, "LOAD_SLICE", 100)
    data = CaseData(fake_results)
    pauses = []
    data.tables.load_in_slices("accounts", lambda: pauses.append(1))
    got = data.tables.table("accounts")
    want = data.tables._file("accounts").collect()
    assert got.height == want.height > 300 and got.equals(want)
    assert len(pauses) == -(-want.height // 100) - 1


# ---------------------------------------------------------------------------------------------- short background steps
@pytest.mark.parametrize("which", ["users files", "older store"])
def test_the_request_index_built_in_slices_equals_it_built_by_whole_parts(
    which: str, parted_results: Path, parted_legacy: Path
) -> None:
    """A part read a slice per step (short steps: a screen's question waits behind at most one) gives
    the same index as a part read in one step: hours, days, IP and key users."""
    from tui.data.index import RequestIndex

    data = CaseData(parted_results if which == "users files" else parted_legacy)
    assert data.store is not None
    pairs = which == "older store"
    whole = RequestIndex(data.store, pairs=pairs, slice_rows=10**9)
    sliced = RequestIndex(data.store, pairs=pairs, slice_rows=7_000)
    steps = {}
    for name, ix in (("whole", whole), ("sliced", sliced)):
        steps[name] = 0
        while ix.step():
            steps[name] += 1
        assert ix.complete()
    parts = len(data.store.part_files())
    assert steps["whole"] == (4 if pairs else 2) * parts < steps["sliced"]
    assert sliced.progress() == whole.progress()
    assert sliced.all_hours().sort("acct", "utc_hour").equals(whole.all_hours().sort("acct", "utc_hour"))
    accts = pl.Series(list(range(0, int(data.store.bounds[-1]), 7)), dtype=pl.UInt32)
    for a, b in zip(sliced.counts(accts), whole.counts(accts)):
        key = [c for c in a.columns if c != "n"]
        assert a.height and a.sort(key).equals(b.sort(key))
    if pairs:
        for col in ("ip", "key_id"):
            codes = data.store.lookup(col).collect()["code"].head(200)
            assert sliced.users(col, codes).equals(whole.users(col, codes))


@sync
async def test_a_large_case_activity_during_the_load_shows_the_members_counted_so_far_then_all(
    parted_results: Path, tmp_path: Path, monkeypatch
) -> None:
    """During the background load a group whose members' requests are in more store parts than the
    request index has counted is charted at once from the members counted so far, saying so ("loading:
    requests of X of N members counted so far"), and charted again, exactly, once the load has counted
    the rest: nothing is read from the store for it meanwhile."""
    import tui.data.charts
    import tui.screens.cluster
    from farmhunt.engine.store import part_of
    from tui.data import Target

    monkeypatch.setattr(tui.data.charts, "READ_PARTS", 0)  # (the fixture's cases span a few parts)
    monkeypatch.setattr(tui.screens.cluster, "ACTIVITY_POLL", 0.05)
    data = CaseData(parted_results)
    assert data.store is not None
    index = data.tables.index
    assert index.step() and index.step() and index.progress().startswith("hours 1/")  # part 0's hours and days

    def parts(ids) -> set[int]:
        return set(part_of(data.store.bounds, data.tables.accts_of(ids)["acct"]).to_list())

    case = next(c for c in data.cases["case_id"] if {0} < parts(data.case_member_ids(c)))
    ids = data.case_member_ids(case)
    accts = data.tables.accts_of(ids)
    counted = accts.filter(part_of(data.store.bounds, accts["acct"]) == 0)
    direct = data.requests_of(pl.Series(counted["account_id"]), ()).collect().height
    assert 0 < counted.height < len(ids) and direct > 0

    shown: list[tuple[dict, int]] = []
    show = tui.screens.cluster.GroupScreen.show_activity
    monkeypatch.setattr(
        tui.screens.cluster.GroupScreen,
        "show_activity",
        lambda screen, act, left, pop: (shown.append((act, left)), show(screen, act, left, pop))[1],
    )
    app = make_app(data, tmp_path / "d.sqlite")
    app.start_warm = lambda: None  # the test moves the background load itself
    app.warming = lambda: True  # type: ignore[method-assign]

    async def until(ok, what: str) -> None:
        for _ in range(400):
            if ok():
                return
            await asyncio.sleep(0.025)
        raise AssertionError(what)

    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.navigate(Target("case", case))
        await until(lambda: shown, "the activity drawn")
        act, left = shown[-1]
        assert left == len(ids) - counted.height
        assert int(act["hours"]["n"].sum()) == direct == int(act["daily"]["n"].sum())
        assert int(act["signups"]["n"].sum()) == len(ids)  # (signups: every member, from the profiles)
        await pilot.press("5")
        info = app.screen.query_one("#activity-info")
        assert info.display
        assert f"loading: requests of {len(ids) - left:,} of {len(ids):,} members counted so far" in str(info.render())
        assert not index.complete()  # nothing built for the chart
        await asyncio.to_thread(index.build)
        await until(lambda: shown[-1][1] == 0, "the activity drawn again, exactly")
        exact = data.activity_of(ids)
        assert all(shown[-1][0][k].equals(exact[k]) for k in ("hours", "daily", "signups"))
        assert int(exact["hours"]["n"].sum()) == data.requests_of(pl.Series(ids), ()).collect().height
        await pilot.pause()
        assert not app.screen.query_one("#activity-info").display

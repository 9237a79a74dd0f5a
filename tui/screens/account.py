"""Account view: profile, payments, API keys, a page of requests, sampled prompts, linked clusters."""

from __future__ import annotations

import polars as pl
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from tui.data import REQUEST_PAGE
from tui.decisions import STATUSES
from tui.screens.base import CaseScreen
from tui.widgets.tables import fill_table, fmt

PAYMENT_COLUMNS = [
    ("ts", "time"),
    ("amount_usd", "amount"),
    ("status", "status"),
    ("card_fingerprint", "card"),
    ("card_bin", "bin"),
    ("card_funding", "funding"),
    ("card_country", "cc"),
]
KEY_COLUMNS = [("key_id", "key"), ("created_at", "created"), ("revoked_at", "revoked"), ("lifetime", "lifetime")]
REQUEST_COLUMNS = [
    ("ts", "time"),
    ("model", "model"),
    ("input_tokens", "in"),
    ("output_tokens", "out"),
    ("ip", "ip"),
    ("asn_kind", "asn kind"),
    ("topic", "topic"),
]
PROMPT_COLUMNS = [("ts", "time"), ("text", "prompt")]
LINK_COLUMNS = [
    ("cluster_id", "cluster"),
    ("predicted_kind", "kind"),
    ("risk", "risk"),
    ("size", "size"),
    ("edges", "links"),
    ("reasons", "why"),
]
PROFILE_FEATURES = [
    "n_requests",
    "active_days",
    "spend_usd",
    "n_cards",
    "n_declines",
    "n_disputes",
    "n_ips",
    "n_asns",
    "hosting_share",
    "night_share",
    "templated_share",
    "output_input_ratio",
    "n_keys",
    "n_keys_revoked",
    "anomaly",
    "account_risk",
]
TABS = ["profile", "payments", "keys", "requests", "prompts", "links"]
BAD_PAYMENT = {"declined": "bold red", "disputed": "bold magenta", "refunded": "yellow"}


class AccountScreen(CaseScreen):
    """One account and its raw records."""

    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        Binding("d", "decide", "Decide"),
        Binding("c", "open_cluster", "Its cluster"),
        Binding("n", "page(1)", "Next page"),
        Binding("p", "page(-1)", "Prev page"),
        Binding("slash", "app.search", "Search", key_display="/"),
        *[Binding(str(i + 1), f"tab('{t}')", t.title(), show=False) for i, t in enumerate(TABS)],
    ]

    def __init__(self, account_id: str) -> None:
        super().__init__()
        self.account_id = account_id
        self.page = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="summary", classes="summary")
        with TabbedContent(id="tabs"):
            with TabPane("1 Profile", id="profile"):
                yield DataTable(id="profile-table", cursor_type="row", show_header=False)
            with TabPane("2 Payments", id="payments"):
                yield DataTable(id="payments-table", cursor_type="row")
            with TabPane("3 Keys", id="keys"):
                yield DataTable(id="keys-table", cursor_type="row")
            with TabPane("4 Requests", id="requests"):
                yield Static(id="requests-info")
                yield DataTable(id="requests-table", cursor_type="row", zebra_stripes=True)
            with TabPane("5 Prompts", id="prompts"):
                yield DataTable(id="prompts-table", cursor_type="row")
            with TabPane("6 Links", id="links"):
                yield DataTable(id="links-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"account {self.account_id}"
        self.query_one("#profile-table", DataTable).focus()
        self.load_profile()  # first paint; the other tabs load after it

    def on_screen_resume(self) -> None:
        self.update_summary()

    # ------------------------------------------------------------------ loading
    def update_summary(self) -> None:
        data, store = self.app.data, self.app.store
        try:
            a = data.account(self.account_id)
        except KeyError:
            return
        dec = store.get("account", self.account_id)
        status = STATUSES[dec.status] if dec else "new"
        cid = a.get("result.cluster_id")
        where = f"cluster {cid} ({a.get('result.predicted_kind')})" if cid is not None else "in no cluster"
        risk = a.get("result.risk")
        note = f" · note: {dec.note}" if dec and dec.note else ""
        self.query_one("#summary", Static).update(
            f"[b]{self.account_id}[/] · {a['email']} · {a['country']} · {a['plan']} · created "
            f"{fmt(a['created_at'])}\nrisk [b]{fmt(risk)}[/] · {where} · status [b]{status}[/]{note}"
        )

    @work(group="profile")
    async def load_profile(self) -> None:
        table = self.query_one("#profile-table", DataTable)

        def show(a: dict) -> None:
            self.update_summary()
            rows = [
                ("account", a["account_id"]),
                ("email", a["email"]),
                ("name", a["name"]),
                ("created", fmt(a["created_at"])),
                ("country", a["country"]),
                ("plan", a["plan"]),
                ("organisation", a["org_id"]),
                ("phone", a["phone"]),
                ("device", a["device_id"]),
                ("signup IP", a["signup_ip"]),
                ("cluster", a.get("result.cluster_id")),
                ("risk", a.get("result.risk")),
                ("flagged", a.get("result.flagged")),
                ("predicted kind", a.get("result.predicted_kind")),
            ]
            rows += [(f.replace("_", " "), a[f"result.{f}"]) for f in PROFILE_FEATURES if f"result.{f}" in a]
            df = pl.DataFrame({"field": [r[0] for r in rows], "value": [fmt(r[1], r[0]) for r in rows]})
            fill_table(table, df, [("field", "field"), ("value", "value")])

        await self.load([table], lambda: self.app.data.account(self.account_id), show, focus=True)
        self.load_payments()
        self.load_requests()
        self.load_links()

    @work(group="payments")
    async def load_payments(self) -> None:
        pay, keys, prompts = (self.query_one(f"#{t}-table", DataTable) for t in ("payments", "keys", "prompts"))
        data = self.app.data

        def fetch() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
            return data.payments(self.account_id), data.keys(self.account_id), data.prompts(self.account_id)

        def show(res: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> None:
            p, k, pr = res
            fill_table(pay, p, PAYMENT_COLUMNS, style=lambda r: BAD_PAYMENT.get(r["status"]))
            k = k.with_columns(
                lifetime=(pl.col("revoked_at") - pl.col("created_at"))
                .dt.total_hours()
                .map_elements(lambda h: f"{h / 24:.1f} d" if h >= 48 else f"{h} h", return_dtype=pl.String)
            )
            fill_table(keys, k, KEY_COLUMNS, style=lambda r: "yellow" if r["revoked_at"] is not None else None)
            fill_table(prompts, pr, PROMPT_COLUMNS)

        await self.load([pay, keys, prompts], fetch, show)

    @work(group="requests", exclusive=True)
    async def load_requests(self) -> None:
        table = self.query_one("#requests-table", DataTable)
        data = self.app.data
        page = self.page

        def show(df: pl.DataFrame) -> None:
            fill_table(table, df, REQUEST_COLUMNS, style=lambda r: "yellow" if r["asn_kind"] == "hosting" else None)
            total = data.request_count(self.account_id)
            first = page * REQUEST_PAGE
            of = f" of {total:,}" if total is not None else ""
            rng = f"{first + 1:,}-{first + df.height:,}" if df.height else "none"
            self.query_one("#requests-info", Static).update(
                f"requests {rng}{of} · page {page + 1} · [b]n[/] next page, [b]p[/] previous"
            )

        await self.load([table], lambda: data.requests(self.account_id, page), show)

    @work(group="links")
    async def load_links(self) -> None:
        table = self.query_one("#links-table", DataTable)
        await self.load(
            [table],
            lambda: self.app.data.links(self.account_id),
            lambda df: fill_table(table, df, LINK_COLUMNS, key="cluster_id"),
        )

    # ------------------------------------------------------------------ actions
    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        self.query_one(f"#{tab}").query(DataTable).first().focus()

    def action_page(self, delta: int) -> None:
        total = self.app.data.request_count(self.account_id)
        new = max(0, self.page + delta)
        if total is not None and new * REQUEST_PAGE >= max(total, 1):
            return
        self.page = new
        self.query_one("#tabs", TabbedContent).active = "requests"
        self.load_requests()

    @on(DataTable.RowSelected, "#links-table")
    def _link_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_cluster(int(event.row_key.value))

    def action_open_cluster(self) -> None:
        cid = self.app.data.account(self.account_id).get("result.cluster_id")
        if cid is None:
            self.notify("this account is in no cluster", timeout=3)
        else:
            self.app.open_cluster(int(cid))

    def action_decide(self) -> None:
        self.app.decide("account", self.account_id, self.update_summary)

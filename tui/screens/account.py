"""Account view: profile (Enter on a value pivots on it), evidence in plain words, payments, API keys, a page
of requests, sampled prompts (Enter opens the full text), local-time activity, linked clusters.

Size (~420 lines): one screen of eight tabs, each a loader (a worker) and its Enter handler; the queries
are in `tui.data.account`. Splitting the tabs into modules would scatter one screen's focus and history."""

from __future__ import annotations

import polars as pl
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane

from tui.data import REQUEST_PAGE, SIGNAL_WORDS, Target, words
from tui.decisions import STATUSES
from tui.safe import markup, printable
from tui.screens.base import CaseScreen
from tui.widgets.charts import DailyChart, HourChart
from tui.widgets.footer import KeyFooter
from tui.widgets.tables import fill_table, fmt

PAYMENT_COLUMNS = [
    ("ts", "time"),
    ("amount_usd", "amount"),
    ("status", "status"),
    ("card_fingerprint", "card"),
    ("card_bin", "BIN"),
    ("card_funding", "funding"),
    ("card_country", "card country"),
]
KEY_COLUMNS = [("key_id", "key"), ("created_at", "created"), ("revoked_at", "revoked"), ("lifetime", "lifetime")]
REQUEST_COLUMNS = [
    ("ts", "time"),
    ("model", "model"),
    ("input_tokens", "tokens in"),
    ("output_tokens", "tokens out"),
    ("ip", "IP"),
    ("asn_kind", "network"),
    ("topic", "topic"),
]
PROMPT_COLUMNS = [("ts", "time"), ("text", "prompt")]
LINK_COLUMNS = [
    ("cluster_id", "cluster"),
    ("predicted_kind", "kind"),
    ("risk", "risk"),
    ("size", "size"),
    ("edges", "links"),
    ("reasons_words", "why"),
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
EVIDENCE_COLUMNS = [("rank", "#"), ("text", "why")]
#: Feature columns in words on the profile (never raw field names on screen).
FEATURE_LABELS = {
    "n_requests": "requests",
    "active_days": "active days",
    "spend_usd": "spend",
    "n_cards": "cards",
    "n_declines": "declined payments",
    "n_disputes": "disputed payments",
    "n_ips": "IPs",
    "n_asns": "networks (ASNs)",
    "hosting_share": "share from hosting networks",
    "night_share": "share at local night",
    "templated_share": "share reusing a prompt template",
    "output_input_ratio": "output per input token",
    "n_keys": "API keys",
    "n_keys_revoked": "API keys revoked",
    "anomaly": "anomaly score",
    "account_risk": "risk judged alone",
}
TABS = ["profile", "evidence", "payments", "keys", "requests", "prompts", "activity", "links"]
BAD_PAYMENT = {"declined": "bold red", "disputed": "bold magenta", "refunded": "yellow"}


class AccountScreen(CaseScreen):
    """One account and its raw records."""

    BINDINGS = [
        Binding("escape", "app.back", "Back"),
        Binding("d", "decide", "Decide"),
        Binding("c", "open_cluster", "Its case"),
        Binding("n", "page(1)", "Next page"),
        Binding("p", "page(-1)", "Prev page"),
        Binding("slash", "app.search", "Search", key_display="/"),
        *[Binding(str(i + 1), f"tab('{t}')", t.title(), show=False) for i, t in enumerate(TABS)],
    ]

    def __init__(self, account_id: str) -> None:
        super().__init__()
        self.account_id = account_id
        self.target = Target("account", account_id)
        self.page = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="summary", classes="summary")
        with TabbedContent(id="tabs"):
            with TabPane("1 Profile", id="profile"):
                yield DataTable(id="profile-table", cursor_type="row", show_header=False)
            with TabPane("2 Evidence", id="evidence"):
                yield DataTable(id="evidence-table", cursor_type="row")
            with TabPane("3 Payments", id="payments"):
                yield DataTable(id="payments-table", cursor_type="row")
            with TabPane("4 Keys", id="keys"):
                yield DataTable(id="keys-table", cursor_type="row")
            with TabPane("5 Requests", id="requests"):
                yield Static(id="requests-info", classes="info")
                yield DataTable(id="requests-table", cursor_type="row", zebra_stripes=True)
            with TabPane("6 Prompts", id="prompts"):
                yield DataTable(id="prompts-table", cursor_type="row")
            with TabPane("7 Activity", id="activity"):
                with VerticalScroll(id="account-charts", can_focus=True):
                    yield HourChart(id="account-hours", classes="chart")
                    yield DailyChart(id="account-daily", classes="chart")
            with TabPane("8 Links", id="links"):
                yield DataTable(id="links-table", cursor_type="row")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = printable(f"account {self.account_id}", limit=60)
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
        cid = a.get("result.cluster_id")
        case = a.get("result.case_id")
        eff = store.effective_status(self.account_id, cid, case)
        status = STATUSES.get(eff.status, eff.status) + (f" (from its {eff.source})" if eff.inherited else "")
        dec = eff.decision
        where = f"case {case}" if case else (f"cluster {cid}" if cid is not None else "")
        kind = a.get("result.predicted_kind")
        where = f"{where} ({words(kind)})" if where and kind else where or "in no case or cluster"
        risk = a.get("result.risk")
        note = f" · note: {dec.note}" if dec and dec.note else ""
        self.query_one("#summary", Static).update(
            markup(
                "[b]$aid[/] · $email · $country · $plan\nrisk [b]$risk[/] · $where · status [b]$status[/]$note",
                aid=self.account_id,
                email=a["email"],
                country=a["country"],
                plan=a["plan"],
                risk=fmt(risk),
                where=where,
                status=status,
                note=note,
            )
        )

    @work(group="profile", exit_on_error=False)
    async def load_profile(self) -> None:
        if not self.is_attached:
            return
        table = self.query_one("#profile-table", DataTable)
        data = self.app.data

        def show(a: dict) -> None:
            self.update_summary()
            rows = [
                ("account", a["account_id"], "account"),
                ("email", a["email"], "email"),
                ("email pattern", a.get("email_pattern"), "email_pattern"),
                ("name", a["name"], None),
                ("created", fmt(a["created_at"]), None),
                ("country", a["country"], None),
                ("plan", a["plan"], None),
                ("organisation", a["org_id"], "org"),
                ("phone", a["phone"], "phone"),
                ("device", a["device_id"], "device"),
                ("signup IP", a["signup_ip"], "ip"),
                ("signup /24", a.get("signup_net"), "cidr"),
                ("case", a.get("result.case_id"), "case"),
                ("cluster", a.get("result.cluster_id"), "cluster"),
                *(
                    [("judged with cluster", a["result.host_cluster_id"], "cluster")]
                    if a.get("result.host_cluster_id") is not None
                    else []
                ),
                ("risk", a.get("result.risk"), None),
                ("flagged", a.get("result.flagged"), None),
                ("predicted kind", words(a.get("result.predicted_kind")), None),
            ]
            rows += [
                (FEATURE_LABELS.get(f, f.replace("_", " ")), a[f"result.{f}"], None)
                for f in PROFILE_FEATURES
                if f"result.{f}" in a
            ]
            self.profile_rows = [(lab, v, sig if v is not None else None) for lab, v, sig in rows]
            df = pl.DataFrame(
                {
                    "field": [r[0] for r in rows],
                    "value": [fmt(r[1], r[0]) for r in rows],
                    "go": [
                        ("↵ open" if r[2] in ("case", "cluster") else "↵ pivot")
                        if r[2] and r[1] is not None and r[2] != "account"
                        else ""
                        for r in rows
                    ],
                }
            )
            fill_table(table, df, [("field", "field"), ("value", "value"), ("go", "")])

        def fetch() -> dict:
            a = dict(data.account(self.account_id))
            a["email_pattern"] = data.email_pattern_of(a["email"])
            ip = a.get("signup_ip") or ""
            a["signup_net"] = ip.rsplit(".", 1)[0] + ".0/24" if ip.count(".") == 3 else None
            return a

        await self.load([table], fetch, show, focus=True)
        self.load_evidence()
        self.load_payments()
        self.load_requests()
        self.load_activity()
        self.load_links()

    @work(group="evidence", exit_on_error=False)
    async def load_evidence(self) -> None:
        if not self.is_attached:
            return
        table = self.query_one("#evidence-table", DataTable)

        def show(ev: pl.DataFrame) -> None:
            if ev.is_empty():
                ev = pl.DataFrame({"rank": [None], "text": ["no feature stands out against the population"]})
            elif "source" in ev.columns and ev["source"][0] == "features":
                note = "the account's strongest features against every account (detection wrote no account evidence)"
                ev = pl.concat(
                    [ev.select("rank", "text"), pl.DataFrame({"rank": [None], "text": [note]})], how="vertical_relaxed"
                )
            fill_table(table, ev, EVIDENCE_COLUMNS, widths={"text": max(30, self.app.size.width - 12)}, wrap=True)

        await self.load([table], lambda: self.app.data.account_evidence(self.account_id), show)

    @work(group="activity", exit_on_error=False)
    async def load_activity(self) -> None:
        if not self.is_attached:
            return
        charts = list(self.query("#account-charts .chart"))
        data = self.app.data

        def fetch() -> tuple[dict, pl.DataFrame | None]:
            return data.account_activity(self.account_id), data.population_hours(wait=False)

        def show(res: tuple[dict, pl.DataFrame | None]) -> None:
            act, pop = res
            self.query_one("#account-hours", HourChart).show(act["hours"], pop, "account")
            self.query_one("#account-daily", DailyChart).show(act["daily"], "requests per day")
            if pop is None:  # the population's hours are still being counted: add them when ready
                self.add_population(act["hours"])

        await self.load(charts, fetch, show)

    @work(group="population", exit_on_error=False)
    async def add_population(self, hours: pl.DataFrame) -> None:
        pop = await self.population_hours()
        if self.is_attached and pop is not None:
            self.query_one("#account-hours", HourChart).show(hours, pop, "account")

    @work(group="payments", exit_on_error=False)
    async def load_payments(self) -> None:
        if not self.is_attached:
            return
        pay, keys, prompts = (self.query_one(f"#{t}-table", DataTable) for t in ("payments", "keys", "prompts"))
        data = self.app.data

        def fetch() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
            return data.payments(self.account_id), data.keys(self.account_id), data.prompts(self.account_id)

        def show(res: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> None:
            p, k, pr = res
            self.payment_rows = p
            fill_table(pay, p, PAYMENT_COLUMNS, style=lambda r: BAD_PAYMENT.get(r["status"]))
            k = k.with_columns(
                lifetime=(pl.col("revoked_at") - pl.col("created_at"))
                .dt.total_hours()
                .map_elements(lambda h: f"{h / 24:.1f} d" if h >= 48 else f"{h} h", return_dtype=pl.String)
            )
            self.key_rows = k
            fill_table(keys, k, KEY_COLUMNS, style=lambda r: "yellow" if r["revoked_at"] is not None else None)
            self.prompt_rows = pr
            fill_table(prompts, pr, PROMPT_COLUMNS, limits={"text": max(20, self.app.size.width - 26)})

        await self.load([pay, keys, prompts], fetch, show)

    @work(group="requests", exclusive=True, exit_on_error=False)
    async def load_requests(self) -> None:
        if not self.is_attached:
            return
        table = self.query_one("#requests-table", DataTable)
        data = self.app.data
        page = self.page

        def show(df: pl.DataFrame) -> None:
            self.request_rows = df
            fill_table(table, df, REQUEST_COLUMNS, style=lambda r: "yellow" if r["asn_kind"] == "hosting" else None)
            total = data.request_count(self.account_id)
            first = page * REQUEST_PAGE
            of = f" of {total:,}" if total is not None else ""
            rng = f"{first + 1:,}-{first + df.height:,}" if df.height else "none"
            self.query_one("#requests-info", Static).update(
                markup(
                    "requests $rng$of · page $page · [b]n[/] next, [b]p[/] previous · Enter: pivot on the IP",
                    rng=rng,
                    of=of,
                    page=f"{page + 1:,}",
                )
            )

        await self.load([table], lambda: data.requests(self.account_id, page), show)

    @work(group="links", exit_on_error=False)
    async def load_links(self) -> None:
        if not self.is_attached:
            return
        table = self.query_one("#links-table", DataTable)
        await self.load(
            [table],
            lambda: self.app.data.links(self.account_id),
            lambda df: fill_table(
                table,
                df.with_columns(
                    pl.col("reasons")
                    .list.eval(pl.element().replace_strict(SIGNAL_WORDS, default=pl.element()))
                    .alias("reasons_words")
                ),
                LINK_COLUMNS,
                key="cluster_id",
            ),
        )

    # ------------------------------------------------------------------ actions
    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        self.focus_tab(tab)

    def action_page(self, delta: int) -> None:
        total = self.app.data.request_count(self.account_id)
        new = max(0, self.page + delta)
        if total is not None and new * REQUEST_PAGE >= max(total, 1):
            return
        self.page = new
        self.query_one("#tabs", TabbedContent).active = "requests"
        self.load_requests()

    @on(DataTable.RowSelected, "#profile-table")
    def _profile_selected(self, event: DataTable.RowSelected) -> None:
        rows = getattr(self, "profile_rows", [])
        if event.cursor_row >= len(rows):
            return
        _, value, sig = rows[event.cursor_row]
        if sig is None or value is None or sig == "account":
            return
        if sig == "case":
            self.app.open_case(str(value))
        elif sig == "cluster":
            self.app.open_cluster(int(value))
        else:
            self.app.open_pivot(sig, str(value))

    @on(DataTable.RowSelected, "#payments-table")
    def _payment_selected(self, event: DataTable.RowSelected) -> None:
        self._pivot_row("payment_rows", event.cursor_row, "card_fingerprint", "card")

    @on(DataTable.RowSelected, "#keys-table")
    def _key_selected(self, event: DataTable.RowSelected) -> None:
        self._pivot_row("key_rows", event.cursor_row, "key_id", "key")

    @on(DataTable.RowSelected, "#requests-table")
    def _request_selected(self, event: DataTable.RowSelected) -> None:
        self._pivot_row("request_rows", event.cursor_row, "ip", "ip")

    def _pivot_row(self, attr: str, i: int, col: str, signal: str) -> None:
        rows = getattr(self, attr, None)
        if rows is not None and i < rows.height and rows[col][i] is not None:
            self.app.open_pivot(signal, str(rows[col][i]))

    @on(DataTable.RowSelected, "#prompts-table")
    def _prompt_selected(self, event: DataTable.RowSelected) -> None:
        from tui.screens.dialogs import PromptViewer

        rows = getattr(self, "prompt_rows", None)
        if rows is not None and event.cursor_row < rows.height:
            r = rows.row(event.cursor_row, named=True)
            self.app.push_screen(PromptViewer(f"prompt of {self.account_id} at {fmt(r['ts'])}", r["text"] or ""))

    @on(DataTable.RowSelected, "#links-table")
    def _link_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_cluster(int(event.row_key.value))

    def action_open_cluster(self) -> None:
        a = self.app.data.account(self.account_id)
        case, cid = a.get("result.case_id"), a.get("result.cluster_id")
        if case:
            self.app.open_case(str(case))
        elif cid is not None:
            self.app.open_cluster(int(cid))
        else:
            self.notify("this account is in no case or cluster", timeout=3)

    def action_decide(self) -> None:
        self.app.decide([("account", self.account_id)], f"Decision on account {self.account_id}", self.update_summary)

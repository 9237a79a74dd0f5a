"""The investigator console: a Textual app over one results directory and its world."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from tui.data import CaseData, Match
from tui.decisions import STATUSES, DecisionStore, DecisionStoreError, export_labels
from tui.evidence_pack import default_pack_dir, export_pack


class JumpProvider(Provider):
    """Command palette: jump to a cluster or an account by id."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, FarmhuntApp)
        q = query.strip()
        if len(q) < 2:
            return
        matcher = self.matcher(q)
        digits = "".join(ch for ch in q if ch.isdigit())
        clusters = app.data.clusters["cluster_id"].head(50_000).to_list()
        n = 0
        for cid in clusters:
            text = f"open cluster {cid}"
            score = matcher.match(text)
            if score > 0 and (not digits or digits in str(cid)):
                yield Hit(score, matcher.highlight(text), partial(app.open_cluster, cid), help="jump to the cluster")
                n += 1
                if n >= 10:
                    break
        if any(ch.isdigit() for ch in q):
            hits = await asyncio.to_thread(app.data.search, q.removeprefix("open ").strip(), 10)
            for m in hits:
                if m.account_id:
                    text = f"open account {m.account_id} ({m.what} {m.value})"
                    yield Hit(1.0, text, partial(app.open_account, m.account_id), help="jump to the account")

    async def discover(self) -> Hits:
        app = self.app
        assert isinstance(app, FarmhuntApp)
        for cid in app.data.clusters["cluster_id"].head(5).to_list():
            yield DiscoveryHit(f"open cluster {cid}", partial(app.open_cluster, cid), help="one of the riskiest")


class FarmhuntApp(App[None]):
    """Case queue -> cluster -> account, decisions and evidence packs."""

    TITLE = "farmhunt"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {JumpProvider}
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("x", "export_decisions", "Export decisions", show=False),
    ]

    def __init__(
        self, data: CaseData, store: DecisionStore, *, mask_default: bool = False, pack_root: Path | None = None
    ) -> None:
        super().__init__()
        self.data = data
        self.store = store
        self.mask_default = mask_default
        self.pack_root = pack_root
        self.last_export: Path | None = None

    def on_mount(self) -> None:
        from tui.screens.queue import QueueScreen

        self.title = f"farmhunt · {Path(self.data.results.path).name}"
        self.push_screen(QueueScreen())

    # ------------------------------------------------------------------ navigation
    def open_cluster(self, cid: int) -> None:
        from tui.screens.cluster import ClusterScreen

        if not self.data.has_cluster(cid):
            self.notify(f"no cluster {cid} in these results", severity="warning")
            return
        self.push_screen(ClusterScreen(cid))

    def open_account(self, aid: str) -> None:
        from tui.screens.account import AccountScreen

        try:
            self.data.account(aid)
        except KeyError:
            self.notify(f"no account {aid} in the world", severity="warning")
            return
        self.push_screen(AccountScreen(aid))

    def action_back(self) -> None:
        if len(self.screen_stack) > 2:
            self.pop_screen()

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_search(self) -> None:
        from tui.screens.dialogs import SearchDialog

        def go(m: Match | None) -> None:
            if m is None:
                return
            if m.account_id:
                self.open_account(m.account_id)
            elif m.cluster_id is not None:
                self.open_cluster(m.cluster_id)

        self.push_screen(SearchDialog(), go)

    # ------------------------------------------------------------------ decisions and exports
    def decide(self, target_type: str, target_id: str | int, then: Callable[[], None] | None = None) -> None:
        from tui.screens.dialogs import DecisionDialog

        try:
            cur = self.store.get(target_type, target_id)
        except Exception as exc:
            self.notify(str(exc), title="decisions database", severity="error", timeout=10)
            return

        def record(res: tuple[str, str] | None) -> None:
            if res is None:
                return
            status, note = res
            try:
                self.store.decide(target_type, target_id, status, note)
            except DecisionStoreError as exc:
                self.notify(f"NOT saved: {exc}", title="decisions database", severity="error", timeout=15)
                return
            self.notify(f"{target_type} {target_id}: {STATUSES[status]} (saved)", timeout=3)
            if then:
                then()

        self.push_screen(
            DecisionDialog(
                f"Decision on {target_type} {target_id}", cur.status if cur else "new", cur.note if cur else ""
            ),
            record,
        )

    def pack_dir(self, cid: int, mask: bool) -> Path:
        if self.pack_root is not None:
            return self.pack_root / f"cluster-{cid}{'-masked' if mask else ''}"
        return default_pack_dir(self.data.results.path, cid, mask)

    def export_pack(self, cid: int) -> None:
        from tui.screens.dialogs import ExportDialog

        def go(res: tuple[str, bool] | None) -> None:
            if res:
                self.run_export(cid, Path(res[0]).expanduser(), res[1])

        self.push_screen(ExportDialog(cid, str(self.pack_dir(cid, self.mask_default)), self.mask_default), go)

    @work(group="export")
    async def run_export(self, cid: int, out: Path, mask: bool) -> None:
        self.notify(f"exporting cluster {cid} ...", timeout=2)
        try:
            path = await asyncio.to_thread(
                export_pack, self.data, cid, out, mask=mask, decision=self.store.get("cluster", cid)
            )
        except Exception as exc:
            self.notify(f"export failed: {exc}", severity="error", timeout=15)
            return
        self.last_export = path
        self.notify(f"evidence pack written to {path}", title="exported", timeout=8)

    def action_export_decisions(self) -> None:
        self.run_export_decisions()

    @work(group="export")
    async def run_export_decisions(self) -> None:
        base = Path(self.data.results.path).resolve()
        written = []
        try:
            for suffix in (".csv", ".parquet"):
                out = base.with_name(f"{base.name}.labels{suffix}")
                written.append(await asyncio.to_thread(export_labels, self.store, self.data.results.accounts, out))
        except Exception as exc:
            self.notify(f"export failed: {exc}", severity="error", timeout=15)
            return
        self.notify("decisions exported to " + " and ".join(str(p) for p in written), title="exported", timeout=8)

    # ------------------------------------------------------------------ command palette
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every binding of the current screen and of the app, as palette commands."""
        yield from super().get_system_commands(screen)
        seen: set[str] = set()
        for node, bindings in ((screen, screen.BINDINGS), (self, self.BINDINGS)):
            for b in bindings:
                if not isinstance(b, Binding) or not b.description or b.action in seen or b.action == "quit":
                    continue
                seen.add(b.action)
                target = self if b.action.startswith("app.") or node is self else screen
                action = b.action.removeprefix("app.")
                yield SystemCommand(
                    f"{b.description}", f"key {b.key_display or b.key}", partial(target.run_action, action)
                )
        yield SystemCommand(
            "Export decisions (CSV + Parquet)", "labelled set beside the results", self.action_export_decisions
        )

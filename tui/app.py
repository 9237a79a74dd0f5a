"""The investigator console: a Textual app over one results directory and its world."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.screen import Screen

from tui.data import CaseData, Match, Target
from tui.decisions import STATUSES, DecisionStore, DecisionStoreError, export_labels
from tui.evidence_pack import default_pack_dir, export_pack
from tui.safe import printable


class JumpProvider(Provider):
    """Command palette: jump to a case, a cluster, an account or a shared value by id."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, FarmhuntApp)
        q = query.strip().removeprefix("open ").strip()
        if len(q) < 2:
            return
        matcher = self.matcher(q)
        for case_id in app.data.cases["case_id"].head(50_000).to_list():
            text = f"open case {case_id}"
            score = matcher.match(text)
            if score > 0 and q.lower() in case_id:
                yield Hit(score, Content(text), partial(app.navigate, Target("case", case_id)), help="jump to the case")
        if len(q) >= 3:
            hits = await asyncio.to_thread(app.data.foreground, lambda: app.data.search(q, 10))
            for m in hits:
                text = Content(printable(f"open {m.label}", limit=200))
                yield Hit(1.0, text, partial(app.navigate, m.target), help="search hit")

    async def discover(self) -> Hits:
        app = self.app
        assert isinstance(app, FarmhuntApp)
        for case_id in app.data.cases["case_id"].head(5).to_list():
            yield DiscoveryHit(
                f"open case {case_id}", partial(app.navigate, Target("case", case_id)), help="one of the riskiest"
            )


class FarmhuntApp(App[None]):
    """Case queue -> case -> cluster / account / pivot on a shared value, decisions and evidence packs."""

    TITLE = "farmhunt"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {JumpProvider}
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("right_square_bracket,ctrl+right", "forward", "Forward", key_display="]", show=False),
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
        #: Screens Escape left, most recent last (`]` / ctrl+right reopens them).
        self.forward: list[Target] = []
        self._warming = False
        self._warm_thread: threading.Thread | None = None

    def on_mount(self) -> None:
        # Import every screen now, at start-up, so that the first case, pivot or account opens at once.
        import tui.screens.account
        import tui.screens.cluster
        import tui.screens.dialogs
        import tui.screens.pivot  # noqa: F401
        from tui.screens.queue import QueueScreen

        self.title = f"farmhunt · {Path(self.data.results.path).name}"
        self.push_screen(QueueScreen())

    def start_warm(self) -> None:
        """Load the world tables and build the request index in a background thread (once; the queue
        screen calls this after its first paint)."""
        if not self._warming:
            self._warming = True
            self._warm_thread = threading.Thread(target=self.data.warm, name="farmhunt-warm", daemon=True)
            self._warm_thread.start()

    def warming(self) -> bool:
        """The background load is running."""
        t = self._warm_thread
        return t is not None and t.is_alive()

    # ------------------------------------------------------------------ navigation
    def navigate(self, target: Target, *, history: bool = False) -> bool:
        """Open the screen of `target` on top of the stack; a new visit (not `history`) clears the
        forward history, like a browser. False (and a notification) when there is no such thing."""
        from tui.screens.account import AccountScreen
        from tui.screens.cluster import GroupScreen
        from tui.screens.pivot import PivotScreen

        data = self.data
        data.priority.hold()  # the background load waits for the new screen's first questions
        screen: Screen
        if target.kind == "case":
            if not data.has_case(str(target.id)):
                self.notify(printable(f"no case {target.id} in these results"), markup=False, severity="warning")
                return False
            screen = GroupScreen(target)
        elif target.kind == "cluster":
            if not data.has_cluster(int(target.id)):
                self.notify(printable(f"no cluster {target.id} in these results"), markup=False, severity="warning")
                return False
            screen = GroupScreen(target)
        elif target.kind == "account":
            if not data.has_account(str(target.id)):  # (the results' accounts in memory: no world read here)
                self.notify(printable(f"no account {target.id} in the world"), markup=False, severity="warning")
                return False
            screen = AccountScreen(str(target.id))
        elif target.kind == "pivot":
            screen = PivotScreen(target)
        else:
            return False
        if not history:
            self.forward.clear()
        self.push_screen(screen)
        return True

    def open_case(self, case_id: str) -> None:
        self.navigate(Target("case", case_id))

    def open_cluster(self, cid: int) -> None:
        self.navigate(Target("cluster", int(cid)))

    def open_account(self, aid: str) -> None:
        self.navigate(Target("account", aid))

    def open_pivot(self, signal: str, value: str) -> None:
        self.navigate(Target("pivot", signal, value))

    def action_back(self) -> None:
        """Escape: back to the previous screen (the queue stays); the screen left goes to forward history."""
        if len(self.screen_stack) > 2:
            target = getattr(self.screen, "target", None)
            self.data.priority.hold()  # (the screen under it refreshes its tables)
            self.pop_screen()
            if target is not None:
                self.forward.append(target)

    def action_forward(self) -> None:
        """`]` / ctrl+right: forward again to the screen Escape left."""
        if not self.forward:
            self.notify("nothing to go forward to", timeout=2, markup=False)
            return
        self.navigate(self.forward.pop(), history=True)

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_search(self) -> None:
        from tui.screens.dialogs import SearchDialog

        def go(m: Match | None) -> None:
            if m is not None:
                self.navigate(m.target)

        self.push_screen(SearchDialog(), go)

    # ------------------------------------------------------------------ decisions and exports
    def decide(self, targets: list[tuple[str, str | int]], title: str, then: Callable[[], None] | None = None) -> None:
        """The decision dialog for one target or many (bulk: one transaction, all saved or none)."""
        from tui.screens.dialogs import DecisionDialog

        if not targets:
            self.notify("nothing selected to decide on", timeout=3)
            return
        try:
            cur = self.store.get(*targets[0]) if len(targets) == 1 else None
        except Exception as exc:
            self.notify(printable(exc), markup=False, title="decisions database", severity="error", timeout=10)
            return

        def record(res: tuple[str, str, str] | None) -> None:
            if res is None:
                return
            status, reason, note = res
            try:
                self.store.decide_many(targets, status, reason=reason, note=note)
            except (DecisionStoreError, ValueError) as exc:
                self.notify(
                    printable(f"NOT saved: {exc}"), markup=False, title="decisions", severity="error", timeout=15
                )
                return
            self.notify(printable(f"{title}: {STATUSES[status]} (saved)"), markup=False, timeout=3)
            if then:
                then()

        self.push_screen(
            DecisionDialog(
                title,
                cur.status if cur else "new",
                cur.note if cur else "",
                getattr(cur, "reason", "") if cur else "",
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
        self.notify(f"exporting cluster {cid} ...", timeout=2, markup=False)
        try:
            path = await asyncio.to_thread(
                export_pack, self.data, cid, out, mask=mask, decision=self.store.get("cluster", cid)
            )
        except Exception as exc:
            self.notify(printable(f"export failed: {exc}"), markup=False, severity="error", timeout=15)
            return
        self.last_export = path
        self.notify(printable(f"evidence pack written to {path}"), markup=False, title="exported", timeout=8)

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
            self.notify(printable(f"export failed: {exc}"), markup=False, severity="error", timeout=15)
            return
        msg = "decisions exported to " + " and ".join(str(p) for p in written)
        self.notify(printable(msg), markup=False, title="exported", timeout=8)

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

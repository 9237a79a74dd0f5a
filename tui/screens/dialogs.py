"""Modal dialogs: record a decision, search, export an evidence pack."""

from __future__ import annotations

import asyncio

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, OptionList, RadioButton, RadioSet, Select, Static
from textual.widgets.option_list import Option

from tui.data import Match
from tui.decisions import DECISIONS, REASON_CODES, STATUSES
from tui.safe import markup, printable


class StatusChoice(RadioSet):
    """A RadioSet where Enter (or space) picks the highlighted status and moves on to the note."""

    def action_toggle_button(self) -> None:
        super().action_toggle_button()
        self.screen.query_one("#note", Input).focus()


CHOICES = [*[(k, STATUSES[k]) for k in DECISIONS], ("new", f"{STATUSES['new']} (clear the decision)")]


class DecisionDialog(ModalScreen[tuple[str, str, str] | None]):
    """Choose a status, a reason code and write a note; Enter in the note or Save records it (status,
    reason, note), Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, title: str, current: str, note: str = "", reason: str = "") -> None:
        super().__init__()
        self.title_text, self.current, self.note, self.reason = title, current, note, reason

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(
                markup("[b]$t[/]  (now: $now)", t=self.title_text, now=STATUSES.get(self.current, self.current))
            )
            yield Static(Content.styled("arrows: choose · Tab: note, reason · Enter saves · Esc cancels", "dim"))
            with StatusChoice(id="choice", compact=True):
                default = self.current if self.current in ("benign", "needs_review") else "confirmed_fraud"
                for code, label in CHOICES:
                    yield RadioButton(label, value=code == default, id=f"choice-{code}")
            yield Input(value=self.note, placeholder="note (why)", id="note", compact=True)
            yield Select(
                [(label, code) for code, label in REASON_CODES.items()],
                prompt="reason (optional)",
                value=self.reason if self.reason in REASON_CODES else Select.NULL,
                id="reason",
                compact=True,
            )
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        rs = self.query_one(StatusChoice)
        rs.focus()
        pressed = [i for i, b in enumerate(rs.query(RadioButton)) if b.value]

        def highlight() -> None:  # start the highlight on the current choice, not on the first one
            rs._selected = pressed[0] if pressed else 0

        self.call_after_refresh(highlight)

    def _chosen(self) -> str:
        pressed = self.query_one(RadioSet).pressed_button
        return pressed.id.removeprefix("choice-") if pressed and pressed.id else "confirmed_fraud"

    def _reason(self) -> str:
        v = self.query_one("#reason", Select).value
        return "" if v is Select.NULL else str(v)

    def action_save(self) -> None:
        self.dismiss((self._chosen(), self._reason(), self.query_one("#note", Input).value.strip()))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#note")
    def _submitted(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()


class PromptViewer(ModalScreen[None]):
    """The full text of one prompt, scrollable, control characters shown escaped."""

    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("q", "dismiss", "Close", show=False)]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-dialog", classes="dialog"):
            yield Static(
                markup(
                    "[b]$t[/]\n[dim]$n characters · arrows scroll · Esc closes[/]",
                    t=self.title_text,
                    n=f"{len(self.text):,}",
                )
            )
            with VerticalScroll(id="prompt-scroll", can_focus=True):
                yield Static(Content(printable(self.text, keep_layout=True)), id="prompt-text")

    def on_mount(self) -> None:
        self.query_one("#prompt-scroll").focus()


class SearchDialog(ModalScreen[Match | None]):
    """Search by exact value, prefix or CIDR network: case, cluster or account id, email, card, device, phone,
    API key, IP (signup and request IPs) or a network such as 143.41.114.0/24."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="search-dialog", classes="dialog"):
            yield Label(Content.from_markup("[b]Search[/]: an id, email, card, device, phone, key, IP or network"))
            yield Label(Content.styled("exact value, a prefix (3+ characters) or CIDR such as 143.41.114.0/24", "dim"))
            yield Input(placeholder="type and press Enter", id="query", compact=True)
            yield Static(id="search-status")
            yield OptionList(id="hits")

    def on_mount(self) -> None:
        self.query_one("#hits", OptionList).display = False
        self.query_one("#query", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#query")
    def _submitted(self, event: Input.Submitted) -> None:
        self.run_search(event.value)

    @work(exclusive=True)
    async def run_search(self, text: str) -> None:
        status = self.query_one("#search-status", Static)
        status.update("searching ...")
        try:
            hits = await asyncio.to_thread(self.app.data.foreground, lambda: self.app.data.search(text))
        except Exception as exc:
            status.update(markup("[red]search failed: $e[/]", e=exc))
            return
        if not hits:
            status.update(markup("no match for [b]$t[/]", t=text))
            return
        if len(hits) == 1:
            self.dismiss(hits[0])
            return
        self.hits = hits
        status.update(f"{len(hits):,} matches: Enter opens one")
        ol = self.query_one("#hits", OptionList)
        ol.clear_options()
        ol.add_options([Option(Content(printable(h.label, limit=200)), id=str(i)) for i, h in enumerate(hits)])
        ol.display = True
        ol.highlighted = 0
        ol.focus()

    @on(OptionList.OptionSelected, "#hits")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.hits[int(event.option.id or 0)])


class ExportDialog(ModalScreen[tuple[str, bool] | None]):
    """Where to write the evidence pack, and whether to mask emails and phone numbers."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, cluster_id: int, default_dir: str, mask: bool) -> None:
        super().__init__()
        self.cluster_id, self.default_dir, self.mask = cluster_id, default_dir, mask

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog", classes="dialog"):
            yield Label(markup("[b]Evidence pack[/] of cluster $c", c=self.cluster_id))
            yield Input(value=self.default_dir, id="out", compact=True)
            yield Checkbox("mask emails and phone numbers", value=self.mask, id="mask", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Export", variant="primary", id="export", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#export", Button).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _go(self) -> None:
        self.dismiss((self.query_one("#out", Input).value.strip(), self.query_one("#mask", Checkbox).value))

    @on(Checkbox.Changed, "#mask")
    def _mask_changed(self, event: Checkbox.Changed) -> None:
        out = self.query_one("#out", Input)
        if event.value and not out.value.endswith("-masked"):
            out.value += "-masked"
        elif not event.value and out.value.endswith("-masked"):
            out.value = out.value.removesuffix("-masked")

    @on(Input.Submitted, "#out")
    def _submitted(self) -> None:
        self._go()

    @on(Button.Pressed, "#export")
    def _export(self) -> None:
        self._go()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()

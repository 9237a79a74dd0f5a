"""`?`: what every key does, on every screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# farmhunt console

Work cases riskiest first: open a case, read **why** it is suspicious, pivot on what its accounts share,
check the raw accounts, payments and requests behind it, record a decision, export an evidence pack.

## Everywhere
| key | action |
|---|---|
| `?` | this help |
| `/` | search an exact value, a prefix (3+ characters) or a network such as `143.41.114.0/24` |
| `ctrl+p` | command palette: every action of the current screen, jump to a case or account |
| `Escape` | back |
| `]` or `ctrl+right` | forward again (like a browser) |
| `x` | export the decisions as a labelled set (CSV and Parquet beside the results) |
| `q` | quit (every decision is already saved) |

## Case queue
| key | action |
|---|---|
| `Enter` | open the case under the cursor |
| `a` | show every cluster too (again: flagged cases only) |
| `k` / `s` / `m` | filter by kind / status / minimum risk (`c` clears) |
| `o` / `O` | sort by the next column / reverse (or click a header) |

## Case or cluster
| key | action |
|---|---|
| `1`-`6` | members, evidence, ties, clusters, activity, graph |
| `Enter` | open the member, pivot on the shared value, open the cluster |
| `d` | decide the whole case (members without their own decision inherit it) |
| `space` / `D` | select members / decide the selected members (or the one under the cursor) |
| `e` | export the evidence pack (option: mask emails and phones) |

## Account
| key | action |
|---|---|
| `1`-`8` | profile, evidence, payments, keys, requests, prompts, activity, links |
| `Enter` | pivot on a profile value, a payment's card, a key, a request's IP; open a prompt in full |
| `n` / `p` | next / previous page of requests |
| `c` | open the account's case |
| `d` | record a decision on the account |

## Pivot
Every account of the whole world sharing the value, with case, risk and status; `Enter` opens one.

Statuses: New, Needs review, Confirmed fraud, Benign; "(case)" means inherited from the case.
Declined payments show in red, disputes in magenta, refunds and revoked keys in yellow,
requests from hosting networks in yellow. Evidence that lowers the risk shows in green.
Charts: local hour of day (the account's declared country), bars for the group, crosses for the population.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help", classes="dialog"):
            yield Markdown(HELP)

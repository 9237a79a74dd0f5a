"""`?`: what every key does, on every screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# farmhunt console

Work cases riskiest first: open a cluster, read **why** it is suspicious, check the raw accounts,
payments and requests behind it, record a decision, export an evidence pack.

## Everywhere
| key | action |
|---|---|
| `?` | this help |
| `/` | search: account id, email, card fingerprint, device, phone, IP or cluster id |
| `ctrl+p` | command palette: every action of the current screen, jump to a cluster or account |
| `Escape` | back |
| `x` | export the decisions as a labelled set (CSV and Parquet beside the results) |
| `q` | quit (every decision is already saved) |

## Case queue
| key | action |
|---|---|
| `Enter` | open the cluster under the cursor |
| `k` / `s` / `m` | filter by kind / status / minimum risk (`c` clears) |
| `o` / `O` | sort by the next column / reverse (or click a header) |

## Cluster
| key | action |
|---|---|
| `1`-`5` | members, evidence, ties, activity, graph |
| `Enter` | open the member under the cursor |
| `d` | record a decision on the cluster (with a note) |
| `e` | export the evidence pack (option: mask emails and phones) |

## Account
| key | action |
|---|---|
| `1`-`6` | profile, payments, keys, requests, prompts, links |
| `n` / `p` | next / previous page of requests |
| `c` | open the account's cluster; `Enter` on a link opens that cluster |
| `d` | record a decision on the account |

Declined payments show in red, disputes in magenta, refunds and revoked keys in yellow,
requests from hosting networks in yellow. Evidence that lowers the risk shows in green.
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

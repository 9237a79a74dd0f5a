"""key_leak: real customers' API keys leaked (a public repo, a client app) and used by an operator.

From a change day per victim, a second stream runs on the customer's own key, beside the owner's
organic traffic: relay networks (hosting or residential proxies) shared with the operator's other
victims, other countries, around the clock, templated and output-heavy (see `_compromise.py`).
Labels: the victim accounts are fraud with the operator's ring_id: the account is compromised and its
traffic must be stopped (the key revoked), even though the owner is not the abuser.
Knobs: `synth.rings._compromise.Params`.
"""

from __future__ import annotations

from synth.rings._compromise import Params, StreamKind, compromised
from synth.rings.base import RingContext
from synth.world import AccountBlock, Builder


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    return compromised(b, ctx, new_key=False)


KIND = StreamKind("key_leak", True, Params, generate, min_size=1, max_size=20_000, doc=__doc__ or "")

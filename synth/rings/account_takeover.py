"""account_takeover: real customers' accounts taken over (stolen credentials) and used by an operator.

From a change day per victim, the attacker creates a new API key on the account and a second stream
runs on it, beside the owner's organic traffic on the old key: relay networks shared with the
operator's other victims, other countries, around the clock, templated and output-heavy (see
`_compromise.py`). Labels: the victim accounts are fraud with the operator's ring_id (the account is
compromised; its new key's traffic must be stopped). Knobs: `synth.rings._compromise.Params`.
"""

from __future__ import annotations

from synth.rings._compromise import Params, StreamKind, compromised
from synth.rings.base import RingContext
from synth.world import AccountBlock, Builder


def generate(b: Builder, ctx: RingContext) -> AccountBlock:
    return compromised(b, ctx, new_key=True)


KIND = StreamKind("account_takeover", True, Params, generate, min_size=1, max_size=20_000, doc=__doc__ or "")

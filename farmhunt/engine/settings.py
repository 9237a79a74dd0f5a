"""Every threshold and weight of detection, in one settings object with documented defaults.

`load_settings(path)` overlays a TOML file on the defaults; unknown keys and wrong types are
rejected with the key's name, and so is a value outside the range declared next to its field
(`ranged(default, lo, hi)`). Sections: [store], [templates], [features], [linkage], [communities], [scoring], [cases].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from farmhunt.core.contract import TOPICS
from farmhunt.core.errors import ConfigError
from farmhunt.core.tomlconfig import from_dict, ranged, read_toml

#: Linkage signals, each a reason an edge can carry.
SIGNALS: tuple[str, ...] = (
    "card",
    "device",
    "phone",
    "signup_ip",
    "signup_prefix",
    "request_ip",
    "email_canonical",
    "email_namesake",
    "email_pattern",
    "email_domain",
    "org",
    "prompt_template",
    "prompt_family",
    "family_bank",
    "sync",
    "signup_burst",
    "stream_relay",
    "stream_template",
)


@dataclass(frozen=True)
class StoreSettings:
    """The request store (`farmhunt.engine.store`)."""

    rows_per_part: int = ranged(
        3_000_000, 1_000, 2**31 - 1
    )  # requests per part (the console reads one part per account)


@dataclass(frozen=True)
class TemplateSettings:
    """Prompt templates from SimHash banding (read by features and linkage alike)."""

    band_bits: int = ranged(
        16, 1, 20
    )  # SimHash banding: 64 bits in 64/16 = 4 bands (<= 3 flipped bits always share one)
    min_accounts: int = ranged(3, 2, 10**9)  # a band value used by at least this many accounts ...
    min_excess: float = ranged(8.0, 0.0, 1e9)  # ... and this many times more often than chance marks a prompt template
    min_uses: int = ranged(3, 1, 10**9)  # an account uses a template with at least this many requests ...
    min_share: float = ranged(0.05, 0.0, 1.0)  # ... making at least this share of its traffic

    #: Prompt families (`polars/families.py`): paraphrases 4-10 bits apart, by multi-index hashing over
    #: 8 bands of 8 bits, verified by exact Hamming distance.
    families: bool = True
    family_max_distance: int = ranged(12, 0, 64)  # verified pairs: at most this many differing bits (of 64)
    family_window: int = ranged(8, 1, 1000)  # each hash is compared with this many following hashes of the same key
    family_bucket_target: float = ranged(
        16.0, 1.0, 1e6
    )  # key width (2 or 3 bands) so chance buckets hold about this many
    family_max_hashes: int = ranged(
        20_000_000, 1, 10**10
    )  # distinct hashes considered (deterministic sample above this)
    family_min_hashes: int = ranged(3, 1, 10**6)  # a family has at least this many distinct paraphrases ...
    family_min_accounts: int = ranged(3, 2, 10**9)  # ... used by at least this many accounts ...
    family_max_share: float = ranged(
        0.3, 0.0, 1.0
    )  # ... and by at most this share of all accounts (else it is generic)

    def validate(self) -> None:
        if 64 % self.band_bits:
            raise ConfigError(f"'templates.band_bits': {self.band_bits} must divide 64 (e.g. 8, 16)")


@dataclass(frozen=True)
class StreamSettings:
    """Second traffic streams on an account's key (a leaked key, a takeover): `engine.polars.streams`."""

    baseline_hours: int = 24  # an ASN first seen this long after the account's first request is a new network
    min_requests: int = 20  # a second stream has at least this many requests ...
    min_owner_before: int = 3  # ... the owner at least this many before it (an established history) ...
    min_owner_after: int = 1  # ... and at least this many beside it (a move to a new network ends the old one)
    min_criteria: int = 4  # of the six ways it can differ from the owner's traffic (below), at least this many:
    night_min: float = 0.12  # local night share (flat 24/7 is 0.25; a human ~0.05) ...
    entropy_min: float = 0.85  # ... spread over the day: hour-of-day entropy / log(24) (flat 0.97+, a human ~0.8)
    templated_min: float = 0.3  # share of prompts matching a template
    output_lift: float = 1.5  # output/input token ratio, times the owner's
    volume_lift: float = 3.0  # requests per active day, times the owner's
    hosting_lift: float = 0.5  # hosting share above the owner's ...
    min_new_asns: int = 3  # ... or this many new networks
    travel_bucket_seconds: int = 600  # impossible travel: the key used from >= 2 ASNs within one bucket ...
    travel_min: float = 0.05  # ... in at least this share of the stream's buckets


@dataclass(frozen=True)
class FeatureSettings:
    """Account features."""

    night_hours: tuple[int, ...] = ranged((0, 1, 2, 3, 4, 5), 0, 23)  # local hours counted as night-time
    capability_topics: tuple[str, ...] = ("coding", "agentic", "cybersecurity", "math")
    #: A payment under this many USD is a small authorisation (card testing), far under a real top-up.
    small_payment_usd: float = ranged(5.0, 0.0, 1e6)
    #: Days from signup to first request that make an account established (`benign.established_payer`).
    established_days: float = ranged(30.0, 0.0, 3650.0)
    #: `family_depth` counts an account's prompt families from none at this share of its prompts in
    #: families (a heavy user's chance near-copies; 0.17 at seed scale) to all at `family_share_high`
    #: (a bank member's: 0.5-0.8, and at least 0.45 for nine in ten content-farm members of the sweep).
    family_share_low: float = ranged(0.15, 0.0, 1.0)
    family_share_high: float = ranged(0.35, 0.0, 1.0)
    streams: StreamSettings = field(default_factory=StreamSettings)

    def validate(self) -> None:
        if self.family_share_high <= self.family_share_low:
            raise ConfigError("'features.family_share_high' must be above 'features.family_share_low'")
        unknown = sorted(set(self.capability_topics) - set(TOPICS))
        if unknown:
            raise ConfigError(
                f"'features.capability_topics': unknown topic {unknown[0]!r} (known: {', '.join(TOPICS)})"
            )


@dataclass(frozen=True)
class LinkageSettings:
    """Account-account edges from shared values and coordinated behaviour."""

    signals: tuple[str, ...] = SIGNALS
    #: Base weight of a value shared by exactly two accounts, per signal (rarer sharing weighs more).
    weights: dict[str, float] = ranged(
        lo=0.0,
        hi=1e6,
        keys=SIGNALS,
        factory=lambda: {
            "card": 1.0,
            "device": 1.0,
            "phone": 1.0,
            "signup_ip": 0.6,
            "signup_prefix": 0.25,
            "request_ip": 0.5,
            "email_canonical": 1.0,
            "email_namesake": 0.3,
            "email_pattern": 0.4,
            "email_domain": 0.2,
            "org": 0.6,
            "prompt_template": 0.5,
            "prompt_family": 0.8,
            "family_bank": 0.5,
            "sync": 1.0,
            "signup_burst": 0.4,
            "stream_relay": 1.0,
            "stream_template": 0.8,
        },
    )
    #: A value shared by more accounts than this is a *hub*: instead of a clique, each member is linked to
    #: `hub_degree` pseudo-random other members (deterministic), so edges grow linearly, not quadratically.
    max_clique: int = ranged(40, 2, 100_000)
    hub_degree: int = ranged(3, 1, 1_000)
    #: Values shared by more accounts than this are ignored altogether (gmail.com, a mobile carrier's NAT).
    max_group: int = ranged(50_000, 2, 10**9)
    signup_burst_minutes: int = ranged(60, 1, 7 * 24 * 60)  # signups from one network inside this window ...
    burst_excess: float = ranged(8.0, 0.0, 1e9)  # ... form a burst when this many times the network's usual signup rate
    sync_bucket_seconds: int = ranged(600, 1, 7 * 24 * 3600)  # SynchroTrap time bucket
    sync_min_buckets: int = ranged(12, 1, 10**9)  # accounts active in fewer buckets are not compared
    sync_max_density: float = ranged(
        0.3, 0.0, 1.0, lo_open=True
    )  # accounts active in more than this share of buckets are not compared
    sync_min_lift: float = ranged(0.3, 0.0, 1.0)  # (J - J_chance) / (1 - J_chance) needed for a sync edge
    sync_minhashes: int = ranged(24, 1, 1024)  # MinHash signature length ...
    sync_band_rows: int = ranged(3, 1, 1024)  # ... in bands of this many rows (LSH candidate pairs)
    sync_max_bucket: int = ranged(400, 2, 10**6)  # LSH buckets larger than this are split by sampling
    min_weight: float = ranged(0.05, 0.0, 1e6)  # edges lighter than this are dropped
    #: Prompt families (bank-style content links): two accounts sharing at least `family_min_shared`
    #: specific families (a few of many: `family_max_overlap`) are linked with weight
    #: `prompt_family` x min(1, sum of the shared families' idf / `family_idf_target`). Only bank-style uses
    #: count, here and for banks: an account's use of a family with at most `family_max_uses` distinct
    #: prompts (a few paraphrases; a CI job, an app user or a lab's runner repeating a template hundreds of
    #: times is template use, linked by `prompt_template`, and a template's cloud of near-duplicates meets
    #: other rings' prompts by chance, so one family can hold a CI fleet's jobs and a farm's paraphrases).
    family_max_uses: int = ranged(5, 1, 10**9)
    family_min_shared: int = ranged(2, 1, 10**6)
    family_idf_target: float = ranged(12.0, 0.0, 1e9, lo_open=True)
    family_max_accounts: int = ranged(
        200, 2, 10**9
    )  # families used by more accounts make no pairs (a bank prompt has a few users)
    family_max_overlap: float = ranged(
        0.6, 0.0, 1.0
    )  # ... and sharing at most this share of the smaller account's families
    #: Prompt banks (`families.prompt_banks`): the families co-used by the accounts the pairwise rule above
    #: links (a family belongs to the core holding at least `bank_family_share` of its users). A bank has
    #: at least `bank_min_families` families and `bank_min_accounts` members, each using at least
    #: `bank_min_shared` of its families (each with at most `family_max_uses` distinct prompts: drawn a few
    #: times, not repeated as a template), which hold at least `bank_min_share` of the member's distinct
    #: prompts; its median member uses at most `bank_max_coverage` of them (a small subset of a large set:
    #: one app's few templates, used by all its users, are never a bank). Two members sharing one of its
    #: families that the pairwise rule does not link get a `family_bank` edge of weight
    #: `family_bank` x min(1, sum of the shared bank families' idf / `family_idf_target`).
    bank_min_families: int = ranged(20, 2, 10**9)
    bank_min_accounts: int = ranged(10, 2, 10**9)
    bank_min_shared: int = ranged(2, 1, 10**6)
    bank_min_share: float = ranged(0.1, 0.0, 1.0)
    bank_max_coverage: float = ranged(0.25, 0.0, 1.0)
    bank_family_share: float = ranged(0.5, 0.0, 1.0, lo_open=True)
    #: Bank cores are CPM communities (Leiden) of the pairwise-linked accounts: a core holds together while
    #: its linked pairs are more than this share of its account pairs (a bank of 600 accounts, each
    #: linked to 20 others, is 0.03; two banks joined by 50 chance pairs between 500 and 80 accounts, 0.001).
    bank_resolution: float = ranged(0.005, 0.0, 1.0, lo_open=True)
    bank_seed: int = ranged(42, 0, 2**32 - 1)
    #: Weak signals: values that many unrelated people share by chance in a large population (a home
    #: /24, a signup hour on a big network, a common email shape or domain). They add weight to a pair
    #: that another signal links, but never link a pair alone: at a million accounts they would
    #: otherwise knit unrelated accounts into farms' clusters and farms' accounts into theirs.
    corroborate: tuple[str, ...] = (
        "signup_prefix",
        "signup_burst",
        "email_namesake",
        "email_pattern",
        "email_domain",
    )
    #: A shared canonical email is a chance namesake (`email_namesake`, corroborating only) when the
    #: namesakes expected at its domain, from the same name's frequency at other domains, are at least
    #: this share of its other holders (see `linkage.email_identities`).
    email_namesake_share: float = 0.5

    def validate(self) -> None:
        unknown = set(self.signals) - set(SIGNALS)
        if unknown:
            raise ConfigError(f"'linkage.signals': unknown signal {sorted(unknown)[0]!r} (known: {', '.join(SIGNALS)})")
        unknown = set(self.corroborate) - set(SIGNALS)
        if unknown:
            raise ConfigError(f"'linkage.corroborate': unknown signal {sorted(unknown)[0]!r}")
        missing = set(SIGNALS) - set(self.weights)
        if missing:
            raise ConfigError(f"'linkage.weights': no weight for {sorted(missing)[0]!r}")
        if self.sync_minhashes % self.sync_band_rows:
            raise ConfigError("'linkage.sync_minhashes' must be a multiple of 'linkage.sync_band_rows'")
        if self.max_clique < 2 or self.hub_degree < 1:
            raise ConfigError("'linkage.max_clique' must be >= 2 and 'linkage.hub_degree' >= 1")


@dataclass(frozen=True)
class CommunitySettings:
    """Leiden communities on the weighted linkage graph."""

    objective: str = "CPM"  # "CPM" or "modularity"; CPM has no resolution limit (small rings survive)
    resolution: float = ranged(
        0.02, 0.0, 1e6, lo_open=True
    )  # CPM: minimum internal edge density (weight per account pair) of a cluster
    n_iterations: int = ranged(
        3, -1, 1_000
    )  # Leiden passes; -1 = until stable (4-6x slower on 10M requests, same clusters in tests)
    seed: int = ranged(42, 0, 2**32 - 1)
    min_size: int = ranged(2, 2, 10**9)  # smaller groups are not clusters

    def validate(self) -> None:
        if self.objective not in ("CPM", "modularity"):
            raise ConfigError(f"'communities.objective': {self.objective!r} is not CPM or modularity")
        if self.n_iterations == 0:
            raise ConfigError("'communities.n_iterations': 0 is out of range (must be -1 or >= 1)")


@dataclass(frozen=True)
class ScoringSettings:
    """Cluster and account risk."""

    flag_threshold: float = ranged(0.5, 0.0, 1.0)  # risk at or above which a cluster (or lone account) is flagged
    account_flag_threshold: float = ranged(0.7, 0.0, 1.0)  # stricter bar for accounts outside any flagged cluster
    #: A lone flagged account with at least this share of declined payments is called card testing
    #: (otherwise a reseller account: the two behaviours one account can show alone).
    lone_card_testing_decline_rate: float = ranged(0.5, 0.0, 1.0)
    #: A member of a flagged cluster is flagged with it only if its own behaviour scores at least this
    #: share of the cluster's, whatever its degree (see `scoring.model.peripheral_members`).
    peripheral_share: float = ranged(0.25, 0.0, 1.0)
    #: ... unless it shows another fraud family's behaviour on its own at least this strongly (log-odds,
    #: after its own expensive benign evidence; 1e9: off): e.g. a reseller inside a distillation cluster.
    member_other_family_score: float = ranged(2.0, 0.0, 1e9)
    #: Payments' worth of population baseline the per-payment shares of such a member are shrunk toward.
    member_prior_payments: float = ranged(3.0, 0.0, 1e9)
    #: An account outside flagged clusters tied to members of one by this many case channels (instruments,
    #: network exits, timing...) is judged as a member of it (`scoring.associates`); 0: never.
    associate_min_channels: int = ranged(3, 0, 5)
    #: Requests' worth of population baseline a member's own request shares are shrunk toward (0: none).
    member_prior_requests: float = ranged(20.0, 0.0, 1e9)
    isolation_trees: int = ranged(200, 1, 100_000)
    seed: int = ranged(42, 0, 2**32 - 1)
    evidence_top: int = ranged(8, 1, 1_000)  # evidence rows kept per cluster


#: Kinds of evidence an operator re-uses across the pieces of one farm (`engine.cases`): each linkage
#: signal belongs to one channel, or to none ("") when a stranger shares it by chance too often (the
#: corroborating signals). Independent channels are what make two pieces one operator.
CASE_CHANNELS: tuple[str, ...] = ("instrument", "identity", "network", "content", "timing", "")
#: How evidence names a channel (a case's top reason, an associate's evidence).
CHANNEL_WORDS: dict[str, str] = {
    "instrument": "cards/devices/phones",
    "identity": "identities",
    "network": "network exits",
    "content": "prompt content",
    "timing": "timing",
}


@dataclass(frozen=True)
class CaseSettings:
    """Cases: flagged clusters grouped into one case when they share an operator signature."""

    group: bool = True  # False: one case per flagged cluster (and per lone flagged account)
    channels: dict[str, str] = ranged(
        keys=SIGNALS,
        factory=lambda: {
            "card": "instrument",
            "device": "instrument",
            "phone": "instrument",
            "email_canonical": "identity",
            "org": "identity",
            "signup_ip": "network",
            "request_ip": "network",
            "stream_relay": "network",
            "prompt_template": "content",
            "prompt_family": "content",
            "family_bank": "content",
            "stream_template": "content",
            "sync": "timing",
            "signup_prefix": "",
            "signup_burst": "",
            "email_namesake": "",
            "email_pattern": "",
            "email_domain": "",
        },
    )
    #: A channel supports a pair of flagged clusters when its linkage edges between them touch, on each
    #: side, at least `min_accounts` members and at least `min_share` x the smaller cluster's size (so a
    #: few accounts misplaced in a big cluster, or a hub's spill-over, do not tie it to another) ...
    min_accounts: int = ranged(2, 1, 10**9)
    min_share: float = ranged(0.3, 0.0, 1.0)
    min_channels: int = ranged(2, 1, 5)  # pairs supported by this many independent channels are one operator
    same_kind: bool = True  # only clusters of the same predicted kind are grouped
    #: A lone flagged account joins a case when its edges to that case (and no other) carry this many
    #: channels; 0 = lone accounts stay cases of their own.
    lone_min_channels: int = ranged(0, 0, 5)
    #: Operator communities (`cases.community_support`): the flagged clusters' members grouped by
    #: modularity, so the thousands of pieces of a very large farm can join one case; False: pairs only.
    communities: bool = True
    community_seed: int = ranged(42, 0, 2**32 - 1)
    community_iterations: int = ranged(2, -1, 1_000)  # Leiden passes (-1: until stable)
    #: A group of flagged clusters of at most this many accounts joins the one group at least
    #: `absorb_ratio` times its size that the pairwise rule ties it to (`cases._absorb_strays`); 0: never.
    absorb_max_size: int = ranged(50, 0, 10**9)
    absorb_ratio: float = ranged(10.0, 1.0, 1e9)
    #: A group of more than `merge_min_size` accounts (part of a farm split between operator communities)
    #: joins a larger one when `min_channels` channels each touch at least `merge_share` of *its* members
    #: (`cases._merge_groups`); a share no chance tie between two operators reaches. 1: never.
    merge_share: float = ranged(0.5, 0.0, 1.0)
    merge_min_size: int = ranged(50, 1, 10**9)

    def validate(self) -> None:
        bad = sorted(k for k, v in self.channels.items() if v not in CASE_CHANNELS)
        if bad:
            known = ", ".join(repr(c) for c in CASE_CHANNELS)
            raise ConfigError(f"'cases.channels.{bad[0]}': unknown channel {self.channels[bad[0]]!r} (known: {known})")


@dataclass(frozen=True)
class DetectSettings:
    """All settings of `farmhunt detect`."""

    store: StoreSettings = field(default_factory=StoreSettings)
    templates: TemplateSettings = field(default_factory=TemplateSettings)
    features: FeatureSettings = field(default_factory=FeatureSettings)
    linkage: LinkageSettings = field(default_factory=LinkageSettings)
    communities: CommunitySettings = field(default_factory=CommunitySettings)
    scoring: ScoringSettings = field(default_factory=ScoringSettings)
    cases: CaseSettings = field(default_factory=CaseSettings)


def load_settings(path: str | Path | None = None) -> DetectSettings:
    """Default settings, overlaid with a TOML file if given (strict: unknown keys are errors)."""
    base = DetectSettings()
    if path is None:
        return base
    data = read_toml(path)
    try:
        return from_dict(DetectSettings, data, base=base)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc

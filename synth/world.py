"""The in-memory world under construction: registries (ASNs and IPs, devices, cards, orgs, prompt
templates, synchronised schedulers) and `AccountBlock`, the struct-of-arrays every group returns.

Size (~460 lines): the registries every group of the generator shares (networks, devices, cards,
orgs, templates, schedulers) and the block they return; each is small and they are used together.

Groups (the benign population and every ring) ask the `Builder` for shared resources and return one
`AccountBlock`; `generate.py` concatenates the blocks, issues ids and writes the tables.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from farmhunt.core.contract import ASN_KINDS, CARD_FUNDING
from synth.behaviour import (
    CAPABILITY_TOPICS,
    CAPABILITY_WEIGHTS,
    LANGS,
    TEMPLATE_TEXT,
    TOPIC_POPULARITY,
    Categorical,
    P,
    T,
)
from synth.identity import COUNTRIES, COUNTRY_CODES, COUNTRY_WEIGHTS, IdentityPools, build_pools

if TYPE_CHECKING:
    from synth.config import WorldConfig

US_PER_S = 1_000_000
US_PER_H = 3600 * US_PER_S
US_PER_DAY = 24 * US_PER_H
K = {k: i for i, k in enumerate(ASN_KINDS)}
F = {k: i for i, k in enumerate(CARD_FUNDING)}

_HOSTING = ("Amazon.com, Inc.", "Google LLC", "Microsoft Corporation", "DigitalOcean, LLC", "Hetzner Online GmbH",
            "OVH SAS", "Akamai Connected Cloud", "The Constant Company (Vultr)", "M247 Europe SRL", "Contabo GmbH",
            "Alibaba (US) Technology", "Tencent Building", "Oracle Corporation", "Leaseweb Netherlands", "Scaleway",
            "IONOS SE", "Cloudflare, Inc.", "Datacamp Limited", "Zenlayer Inc", "HostRoyale Technologies",
            "G-Core Labs S.A.", "Psychz Networks", "QuadraNet Enterprises", "Choopa LLC")
_BUSINESS_ISP = ("Comcast Business", "Zayo Bandwidth", "Lumen Technologies", "Cogent Communications",
                 "GTT Communications", "Colt Technology Services", "NTT America", "Telia Carrier",
                 "BT Business", "Deutsche Telekom Business", "Orange Business", "Verizon Business")

# UTC offset of each country (the first of its zones); countries with several zones (US, CA) pick one
_TZ_FIRST = np.array([COUNTRIES[c][1][0] for c in COUNTRY_CODES], float)
_COUNTRY = Categorical(COUNTRY_WEIGHTS)
_TOPIC = Categorical(TOPIC_POPULARITY)
_MODEL_PREF = Categorical([0.25, 0.4, 0.2, 0.1, 0.05])
_STATUS_OF_BAND = np.array([1, 2, 3, 0])
_TZ_MULTI = [(i, np.array(COUNTRIES[c][1], float)) for i, c in enumerate(COUNTRY_CODES) if len(COUNTRIES[c][1]) > 1]


@dataclass
class AccountBlock:
    """Per-account attributes of one group (struct of arrays), its payments and its labels."""

    n: int
    created: np.ndarray            # int64 us since epoch
    first: np.ndarray              # name slot indices
    last: np.ndarray
    email: np.ndarray              # object array of str
    country: np.ndarray            # index into COUNTRY_CODES
    signup_ip: np.ndarray          # ip registry id
    device: np.ndarray             # device registry id
    phone: np.ndarray              # object array of str or None
    org: np.ndarray                # org registry id or -1
    plan: np.ndarray               # index into PLANS
    # behaviour profile
    rate: np.ndarray               # expected requests per active day
    p_active: np.ndarray           # probability of being active on a day
    burst: np.ndarray              # gamma shape of day-to-day volume noise (high = steady)
    start_day: np.ndarray          # first day with traffic (window-relative)
    end_day: np.ndarray            # first day without traffic (ban / churn / window end)
    tz: np.ndarray                 # hours east of UTC of the account's life
    profile: np.ndarray            # diurnal profile index
    t1: np.ndarray                 # dominant topics and their probabilities (rest: popularity mix)
    t2: np.ndarray
    p1: np.ndarray
    p2: np.ndarray
    model_pref: np.ndarray
    p_model: np.ndarray
    in_shift: np.ndarray           # log-token shifts
    out_shift: np.ndarray
    ip_vals: np.ndarray            # ragged: all IP ids, account after account
    ip_lens: np.ndarray
    ip_exp: np.ndarray             # >1: home IP dominates, 1: uniform over the account's IPs
    ua1: np.ndarray
    ua2: np.ndarray
    p_ua1: np.ndarray
    tgroup: np.ndarray             # template group id or -1
    p_tpl: np.ndarray              # share of requests sent from the template group
    sync: np.ndarray               # synchronised scheduler id or -1
    rotation_days: np.ndarray      # key rotation period (inf: never)
    ban: np.ndarray                # int64 us of the ban (-1: none)
    ring_id: str | None = None
    ring_kind: str = "benign"
    is_fraud: bool = False
    # payments (account index local to the block)
    pay_acct: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pay_ts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pay_amount: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    pay_card: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pay_status: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # second traffic streams on accounts of this block (leaked keys, takeovers): a block of their own
    # whose rows are not accounts; `host` is the account (index in this block) each stream belongs to
    streams: "AccountBlock | None" = None
    host: np.ndarray | None = None     # on a stream block: host account index in the parent block
    new_key: np.ndarray | None = None  # on a stream block: True = the stream uses a new key of the host
    #                                    created at its start (takeover), False = the host's own key (leak)
    key_at: np.ndarray | None = None   # on a stream block: creation instant (us) of that new key

    def set_ips(self, lists: list[np.ndarray] | tuple[np.ndarray, np.ndarray]) -> None:
        """Replace every account's IP list (a list of arrays, or (values, lens))."""
        if isinstance(lists, tuple):
            self.ip_vals, self.ip_lens = lists
        else:
            self.ip_lens = np.array([len(x) for x in lists], np.int64)
            self.ip_vals = np.concatenate(lists).astype(np.int64) if lists else np.zeros(0, np.int64)

    def add_payments(self, acct: np.ndarray, ts: np.ndarray, amount: np.ndarray, card: np.ndarray,
                     status: np.ndarray) -> None:
        """Append payment rows."""
        self.pay_acct = np.concatenate([self.pay_acct, np.asarray(acct, np.int64)])
        self.pay_ts = np.concatenate([self.pay_ts, np.asarray(ts, np.int64)])
        self.pay_amount = np.concatenate([self.pay_amount, np.round(np.asarray(amount, float), 2)])
        self.pay_card = np.concatenate([self.pay_card, np.asarray(card, np.int64)])
        self.pay_status = np.concatenate([self.pay_status, np.asarray(status, np.int64)])


PER_ACCOUNT = [f.name for f in fields(AccountBlock)
               if f.name not in ("n", "ip_vals", "ip_lens", "ring_id", "ring_kind", "is_fraud", "streams", "host",
                                 "new_key", "key_at")
               and not f.name.startswith("pay_")]


class Builder:
    """Shared registries and deterministic RNG streams for one world."""

    def __init__(self, cfg: WorldConfig):
        self.cfg = cfg
        d = cfg.start_date
        self.t0 = int(np.datetime64(d.isoformat(), "us").astype(np.int64))
        self.days = cfg.days
        self.t_end = self.t0 + cfg.days * US_PER_DAY
        self.pools: IdentityPools = build_pools(cfg.seed)
        rng = self.rng("asns")
        # --- ASNs: residential and mobile per country, hosting, business ISPs, education
        asn_org, asn_kind, asn_country = [], [], []
        for ci, cc in enumerate(COUNTRY_CODES):
            for k in range(3):
                asn_org.append(f"{cc} {['Telecom', 'Broadband', 'Cable', 'Fibre'][k]} {['Net', 'Online', 'Connect'][k]}")
                asn_kind.append(K["residential"]), asn_country.append(ci)
            for k in range(2):
                asn_org.append(f"{cc} Mobile {['One', 'Wireless'][k]}")
                asn_kind.append(K["mobile"]), asn_country.append(ci)
        for name in _HOSTING:
            asn_org.append(name), asn_kind.append(K["hosting"]), asn_country.append(-1)
        for name in _BUSINESS_ISP:
            asn_org.append(name), asn_kind.append(K["business"]), asn_country.append(-1)
        for name in self.pools.universities[:40]:
            asn_org.append(str(name)), asn_kind.append(K["education"]), asn_country.append(-1)
        self.asn_org = list(asn_org)
        self.asn_kind = np.array(asn_kind)
        self.asn_country = np.array(asn_country)
        n_asn = len(asn_org)
        self.asn_number = np.sort(rng.choice(np.arange(1000, 400_000), n_asn, replace=False)).astype(np.int32)
        rng.shuffle(self.asn_number)  # numbers unrelated to kind
        # each ASN owns 8 random /16 prefixes
        self.asn_prefix = rng.choice(np.arange(256 * 1, 256 * 223), (n_asn, 8), replace=False)
        self._country_asns = {k: np.stack([self.asns_of(k, c) for c in range(len(COUNTRY_CODES))])
                              for k in ("residential", "mobile")}
        self._ip_chunks: list[np.ndarray] = []
        self._ip_asn_chunks: list[np.ndarray] = []
        self.n_ips = 0
        self.n_devices = 0
        self.card_bin: list[np.ndarray] = []
        self.card_country: list[np.ndarray] = []
        self.card_funding: list[np.ndarray] = []
        self.n_cards = 0
        self.n_orgs = 0
        self.tpl_hash: list[int] = []
        self.tpl_topic: list[int] = []
        self.tpl_words: list[np.ndarray] = []   # per registration: (m, 3) word indices, text pick, language
        self.tpl_pick: list[np.ndarray] = []
        self.tpl_lang: list[np.ndarray] = []
        self.tgroups: list[np.ndarray] = []
        self.tg_flips: dict[int, tuple[int, int]] = {}  # template group -> (min, max) bits flipped (paraphrases)
        self.sync_slots: list[int] = []
        self.sync_jitter: list[float] = []
        self.sync_profile: list[int] = []
        self.sync_tz: list[float] = []
        self.sync_window: dict[int, tuple[float, float]] = {}  # scheduler -> (first UTC hour, hours) it fires in
        rb = self.rng("bins")
        self.bins_by_country = rb.integers(400_000, 559_999, (len(COUNTRY_CODES), 30))
        self.prepaid_bins = rb.integers(400_000, 559_999, 25)
        self.virtual_bins = rb.integers(400_000, 559_999, 12)
        # user agents: browsers then SDKs in one table
        self.ua = np.concatenate([self.pools.browser_uas, self.pools.sdk_uas])
        self.n_browser_ua = len(self.pools.browser_uas)

    # ----------------------------------------------------------------------------------------- rng
    def rng(self, *key: object) -> np.random.Generator:
        """An independent, reproducible stream for `key` (stable across runs and processes)."""
        h = zlib.crc32(repr(key).encode())
        return np.random.default_rng([self.cfg.seed, h])

    # ------------------------------------------------------------------------------------- network
    def asns_of(self, kind: str, country: int | None = None) -> np.ndarray:
        m = self.asn_kind == K[kind]
        if country is not None and kind in ("residential", "mobile"):
            m &= self.asn_country == country
        return np.flatnonzero(m)

    def new_ips(self, asn_idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Register one IP in each given ASN (index into the ASN table); returns IP ids."""
        asn_idx = np.asarray(asn_idx, np.int64)
        n = len(asn_idx)
        pre = self.asn_prefix[asn_idx, rng.integers(0, 8, n)]
        host = rng.integers(1, 65_535, n)
        mobile = self.asn_kind[asn_idx] == K["mobile"]
        host[mobile] = 1 + (rng.integers(0, 1500, int(mobile.sum())) * 41) % 65_000  # carrier-grade NAT: shared
        ips = (pre.astype(np.int64) << 16) | host
        ids = np.arange(self.n_ips, self.n_ips + n)
        self._ip_chunks.append(ips)
        self._ip_asn_chunks.append(asn_idx)
        self.n_ips += n
        return ids

    def ip_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(ip int value, asn index) for every registered IP id."""
        if not self._ip_chunks:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(self._ip_chunks), np.concatenate(self._ip_asn_chunks)

    def home_ips(self, country: np.ndarray, rng: np.random.Generator, kind: str = "residential") -> np.ndarray:
        """One IP per account on a residential (or mobile) ASN of its country."""
        table = self._country_asns[kind]  # (country, k): every country has k ASNs of the kind
        country = np.asarray(country, np.int64)
        return self.new_ips(table[country, rng.integers(0, table.shape[1], len(country))], rng)

    def ips_of_kind(self, kind: str, n: int, rng: np.random.Generator, asns: np.ndarray | None = None) -> np.ndarray:
        opts = self.asns_of(kind) if asns is None else asns
        return self.new_ips(opts[rng.integers(0, len(opts), n)], rng)

    # ----------------------------------------------------------------------- devices, cards, orgs
    def new_devices(self, n: int) -> np.ndarray:
        ids = np.arange(self.n_devices, self.n_devices + n)
        self.n_devices += n
        return ids

    def new_orgs(self, n: int) -> np.ndarray:
        ids = np.arange(self.n_orgs, self.n_orgs + n)
        self.n_orgs += n
        return ids

    def new_cards(self, country: np.ndarray, funding: np.ndarray, rng: np.random.Generator,
                  bins: np.ndarray | None = None) -> np.ndarray:
        """Register cards (country index, funding index); BIN from the issuer pools unless given."""
        country = np.asarray(country, np.int64)
        funding = np.asarray(funding, np.int64)
        n = len(country)
        if bins is None:
            bins = self.bins_by_country[country, rng.integers(0, 30, n)]
            pre = funding == F["prepaid"]
            bins[pre] = self.prepaid_bins[rng.integers(0, len(self.prepaid_bins), int(pre.sum()))]
            vir = funding == F["virtual"]
            bins[vir] = self.virtual_bins[rng.integers(0, len(self.virtual_bins), int(vir.sum()))]
        self.card_bin.append(np.asarray(bins, np.int64))
        self.card_country.append(country)
        self.card_funding.append(funding)
        ids = np.arange(self.n_cards, self.n_cards + n)
        self.n_cards += n
        return ids

    def card_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.card_bin:
            z = np.zeros(0, np.int64)
            return z, z, z
        return np.concatenate(self.card_bin), np.concatenate(self.card_country), np.concatenate(self.card_funding)

    # ------------------------------------------------------------------------ templates & schedulers
    def new_templates(self, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Register prompt templates (a base 64-bit SimHash and readable text each)."""
        ids = np.arange(len(self.tpl_hash), len(self.tpl_hash) + len(topics))
        hashes = rng.integers(0, 2**63, len(topics), dtype=np.int64).astype(np.uint64) * np.uint64(2) + \
            rng.integers(0, 2, len(topics)).astype(np.uint64)
        m = len(topics)
        # readable text: drawn now, written out only for the templates the prompt sample shows
        self.tpl_words.append(rng.integers(0, len(self.pools.words), (m, 3)))
        self.tpl_pick.append(rng.random(m))
        self.tpl_lang.append(rng.integers(0, len(LANGS), m))
        self.tpl_hash.extend(int(h) for h in hashes)
        self.tpl_topic.extend(int(t) for t in topics)
        return ids

    def template_text(self, ids: np.ndarray) -> np.ndarray:
        """Readable text of templates `ids`: the topic's skeleton filled with three words and a language."""
        from farmhunt.core.contract import TOPICS

        ids = np.asarray(ids, np.int64)
        if not len(ids):
            return np.zeros(0, dtype=object)
        words = self.pools.words[np.concatenate(self.tpl_words)[ids]]
        pick, lang = np.concatenate(self.tpl_pick)[ids], np.concatenate(self.tpl_lang)[ids]
        out = []
        for i, t in enumerate(np.asarray(self.tpl_topic)[ids]):
            texts = TEMPLATE_TEXT[TOPICS[int(t)]]
            out.append(texts[int(pick[i] * len(texts))].format(w=" ".join(words[i]), lang=LANGS[lang[i]]))
        return np.array(out, dtype=object)

    def capability_templates(self, n: int, rng: np.random.Generator) -> np.ndarray:
        topics = CAPABILITY_TOPICS[rng.choice(len(CAPABILITY_TOPICS), n, p=CAPABILITY_WEIGHTS)]
        return self.new_templates(topics, rng)

    def new_tgroup(self, template_ids: np.ndarray, flips: tuple[int, int] | None = None) -> int:
        """A group of templates members draw from. `flips` = (lo, hi): each use is the template's hash
        with exactly lo..hi distinct bits flipped (a paraphrase bank); None: 0-4 random flips (near duplicates)."""
        self.tgroups.append(np.asarray(template_ids, np.int64))
        g = len(self.tgroups) - 1
        if flips is not None:
            lo, hi = int(flips[0]), int(flips[1])
            if not 0 <= lo <= hi <= 32:
                raise ValueError(f"flips must satisfy 0 <= lo <= hi <= 32, got {flips}")
            self.tg_flips[g] = (lo, hi)
        return g

    def new_sync(self, slots_per_day: int, jitter_s: float, profile: str = "flat", tz: float = 0.0,
                 window: tuple[float, float] | None = None) -> int:
        """A scheduler firing a batch at `slots_per_day` shared instants a day; members jitter around them.
        `window` = (first UTC hour, length in hours): the instants fall inside it (nightly jobs); None: all day."""
        self.sync_slots.append(int(slots_per_day)), self.sync_jitter.append(float(jitter_s))
        self.sync_profile.append(P[profile]), self.sync_tz.append(float(tz))
        s = len(self.sync_slots) - 1
        if window is not None:
            self.sync_window[s] = (float(window[0]) % 24.0, float(min(max(window[1], 0.0), 24.0)))
        return s

    # --------------------------------------------------------------------------------- blocks
    def signup_times(self, n: int, rng: np.random.Generator, lo_day: float, hi_day: float,
                     profile: str = "human", tz: np.ndarray | float = 0.0) -> np.ndarray:
        """Creation instants uniformly over [lo_day, hi_day) (window-relative) at human local hours."""
        from synth.behaviour import HOUR_Q, QUANT

        day = np.floor(rng.uniform(lo_day, hi_day, n))
        hour = HOUR_Q[P[profile], (rng.random(n) * QUANT).astype(np.int64)] + rng.random(n)
        sec = ((hour - tz) % 24.0) * 3600.0
        return self.t0 + (day * US_PER_DAY).astype(np.int64) + (sec * US_PER_S).astype(np.int64)

    def day_of(self, ts: np.ndarray) -> np.ndarray:
        return np.floor_divide(np.asarray(ts) - self.t0, US_PER_DAY)

    def block(self, n: int, rng: np.random.Generator, *, country: np.ndarray | None = None,
              created: np.ndarray | None = None, phone_frac: float = 0.5) -> AccountBlock:
        """A block of `n` ordinary people (benign defaults); groups override what makes them special."""
        pools = self.pools
        if country is None:
            country = _COUNTRY(rng, n)
        tz = _TZ_FIRST[country]
        for c, zones in _TZ_MULTI:
            m = country == c
            tz[m] = zones[rng.integers(0, len(zones), int(m.sum()))]
        first, last = sample_names_block(pools, country, rng)
        from synth.identity import benign_emails

        email = benign_emails(pools, first, last, rng)
        if created is None:
            created = self.signup_times(n, rng, 0, self.days, tz=tz)
        start = np.maximum(self.day_of(created) + 1, 0)
        home = self.home_ips(country, rng)
        t1 = _TOPIC(rng, n)
        t2 = _TOPIC(rng, n)
        p1 = rng.beta(4, 2.5, n) * 0.85
        ua1 = rng.integers(0, self.n_browser_ua, n)
        ua2 = self.n_browser_ua + rng.integers(0, len(self.ua) - self.n_browser_ua, n)
        phone = phones(country, rng, phone_frac)
        b = AccountBlock(
            n=n, created=created.astype(np.int64), first=first, last=last, email=email, country=country,
            signup_ip=home, device=self.new_devices(n), phone=phone, org=np.full(n, -1), plan=np.zeros(n, np.int64),
            rate=rng.lognormal(np.log(2.5), 1.2, n), p_active=np.clip(rng.beta(1.2, 2.2, n), 0.03, 1.0),
            burst=np.full(n, 1.5), start_day=start.astype(np.int64), end_day=np.full(n, self.days, np.int64),
            tz=tz, profile=np.full(n, P["human"]), t1=t1, t2=t2, p1=p1, p2=(1 - p1) * rng.uniform(0.2, 0.6, n),
            model_pref=_MODEL_PREF(rng, n), p_model=rng.uniform(0.2, 0.8, n),
            in_shift=rng.normal(0, 0.3, n), out_shift=rng.normal(0, 0.25, n),
            ip_vals=home.astype(np.int64), ip_lens=np.ones(n, np.int64), ip_exp=np.full(n, 2.5),
            ua1=ua1, ua2=ua2, p_ua1=rng.uniform(0.5, 1.0, n), tgroup=np.full(n, -1), p_tpl=np.zeros(n),
            sync=np.full(n, -1), rotation_days=np.full(n, np.inf), ban=np.full(n, -1, np.int64),
        )
        return b

    def personal_cards(self, b: AccountBlock, rng: np.random.Generator, prepaid_frac: float = 0.05) -> np.ndarray:
        """One card per account in its country (credit/debit, some prepaid/virtual)."""
        funding = _funding(prepaid_frac)(rng, b.n)
        cc = b.country.copy()
        abroad = rng.random(b.n) < 0.04
        cc[abroad] = _COUNTRY(rng, int(abroad.sum()))
        return self.new_cards(cc, funding, rng)

    def topup_payments(self, b: AccountBlock, who: np.ndarray, card: np.ndarray, rng: np.random.Generator,
                       per_month: float, amount_mu: float, amount_sigma: float = 0.7,
                       decline: float = 0.03, refund: float = 0.005, dispute: float = 0.001) -> None:
        """Recurring top-ups for accounts `who` on `card` (aligned arrays): Poisson per window, lognormal amounts."""
        k = rng.poisson(per_month * self.days / 30.0, len(who)) + 1
        acct = np.repeat(who, k)
        cards = np.repeat(card, k)
        lo = np.maximum(self.day_of(b.created[acct]) + 0.05, 0)
        day = rng.uniform(lo, np.maximum(lo + 0.01, self.days))
        hour = rng.uniform(7, 23, len(acct)) - b.tz[acct]
        ts = self.t0 + (day * US_PER_DAY).astype(np.int64) + (hour * US_PER_H).astype(np.int64) % US_PER_DAY
        ts = np.maximum(ts, b.created[acct] + 60 * US_PER_S)
        amount = np.round(rng.lognormal(amount_mu, amount_sigma, len(acct)) / 5) * 5 + 5
        u = rng.random(len(acct))
        # declined (1) below `decline`, then refunded (2), disputed (3), else succeeded (0)
        status = _STATUS_OF_BAND[np.searchsorted(np.cumsum([decline, refund, dispute]), u, side="right")]
        b.add_payments(acct, ts, amount, cards, status)


@functools.lru_cache(maxsize=8)
def _funding(prepaid_frac: float) -> Categorical:
    """Card funding mix (credit, debit, prepaid, virtual) with `prepaid_frac` prepaid or virtual."""
    return Categorical([0.56, 0.44 - prepaid_frac, prepaid_frac * 0.7, prepaid_frac * 0.3])


def sample_names_block(pools: IdentityPools, country: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from synth.identity import sample_names

    return sample_names(pools, country, rng)


_DIAL = np.array(["+" + COUNTRIES[c][3] for c in COUNTRY_CODES], dtype=object)


def phones(country: np.ndarray, rng: np.random.Generator, frac: float, voip: bool = False) -> np.ndarray:
    """E.164 phone numbers for a fraction `frac` of accounts (None for the rest)."""
    n = len(country)
    digits = rng.integers(10**8, 10**10 - 1, n)
    has = np.flatnonzero(rng.random(n) < frac)
    out = np.full(n, None, dtype=object)
    codes = np.full(len(has), "+1", dtype=object) if voip else _DIAL[np.asarray(country)[has]]
    out[has] = codes + digits[has].astype(str).astype(object)
    return out


def concat_blocks(blocks: list[AccountBlock]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Concatenate per-account arrays of all blocks; returns (arrays, block index of every account)."""
    out = {name: np.concatenate([getattr(b, name) for b in blocks]) for name in PER_ACCOUNT}
    out["ip_vals"] = np.concatenate([b.ip_vals for b in blocks])
    out["ip_lens"] = np.concatenate([b.ip_lens for b in blocks])
    which = np.repeat(np.arange(len(blocks)), [b.n for b in blocks])
    return out, which


__all__ = ["AccountBlock", "Builder", "concat_blocks", "phones", "US_PER_DAY", "US_PER_H", "US_PER_S", "F", "K", "T"]

"""Identity pools built once per run with Faker (seeded), then sampled vectorised with numpy.

Faker is slow per call, so it is only used to fill pools of a few thousand values; per-account and
per-request values are numpy index draws into these pools.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
from faker import Faker

# country -> (Faker locale, UTC offsets its people live in, population weight, phone country code)
COUNTRIES: dict[str, tuple[str, tuple[float, ...], float, str]] = {
    "US": ("en_US", (-5, -6, -7, -8), 0.27, "1"),
    "CA": ("en_US", (-5, -8), 0.03, "1"),
    "GB": ("en_GB", (0,), 0.06, "44"),
    "DE": ("de_DE", (1,), 0.06, "49"),
    "FR": ("fr_FR", (1,), 0.05, "33"),
    "ES": ("es_ES", (1,), 0.03, "34"),
    "IT": ("it_IT", (1,), 0.03, "39"),
    "NL": ("de_DE", (1,), 0.02, "31"),
    "PL": ("pl_PL", (1,), 0.02, "48"),
    "SE": ("de_DE", (1,), 0.01, "46"),
    "BR": ("pt_BR", (-3,), 0.05, "55"),
    "MX": ("es_ES", (-6,), 0.03, "52"),
    "IN": ("en_IN", (5.5,), 0.09, "91"),
    "ID": ("id_ID", (7,), 0.03, "62"),
    "VN": ("id_ID", (7,), 0.02, "84"),
    "PH": ("en_US", (8,), 0.02, "63"),
    "JP": ("ja_JP", (9,), 0.04, "81"),
    "KR": ("ko_KR", (9,), 0.03, "82"),
    "SG": ("en_US", (8,), 0.01, "65"),
    "AU": ("en_GB", (10,), 0.02, "61"),
    "TR": ("tr_TR", (3,), 0.02, "90"),
    "NG": ("en_US", (1,), 0.02, "234"),
    "UA": ("uk_UA", (2,), 0.01, "380"),
    "CN": ("zh_CN", (8,), 0.02, "86"),
    "HK": ("zh_CN", (8,), 0.01, "852"),
}
COUNTRY_CODES: tuple[str, ...] = tuple(COUNTRIES)
COUNTRY_WEIGHTS = np.array([v[2] for v in COUNTRIES.values()]) / sum(v[2] for v in COUNTRIES.values())

FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "proton.me",
             "gmx.de", "mail.ru", "qq.com", "163.com", "naver.com", "yandex.ru", "aol.com", "web.de")
FREE_MAIL_WEIGHTS = np.array([40, 14, 8, 6, 7, 3, 2, 2, 3, 2, 2, 1, 1, 1], float)
FREE_MAIL_WEIGHTS /= FREE_MAIL_WEIGHTS.sum()
# Domains farms favour: cheap privacy / throwaway providers plus the big free ones.
FARM_MAIL = ("gmail.com", "outlook.com", "proton.me", "tutanota.com", "mail.com", "yandex.com",
             "hotmail.com", "gmx.com", "zoho.com", "tuta.io")

_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{s}.{m} Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{f}.0) Gecko/20100101 Firefox/{f}.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS {s}_{m} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{s}.{m} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android {a}; Pixel {p}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
)
_SDKS = (
    "python-httpx/0.{a}.{m}", "python-requests/2.{v2}.0", "node-fetch/3.{m}.0", "axios/1.{m}.{a}",
    "provider-python/1.{v2}.{m}", "provider-node/4.{v2}.{a}", "curl/8.{m}.0", "Go-http-client/2.0",
    "langchain/0.{m}.{a} python/3.1{a}", "okhttp/4.{m}.{a}", "provider-java/2.{m}.{a}", "aiohttp/3.{v2}.{m}",
)


def ascii_fold(text: str) -> str:
    """Lower-case ASCII form of a name, for email local parts (Müller -> muller)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in folded if ch.isalnum())


@dataclass(frozen=True)
class IdentityPools:
    """Pools of identity strings; per-country index ranges into the name pools."""

    first: np.ndarray          # display first names (object arrays of str)
    last: np.ndarray
    first_ascii: np.ndarray    # ascii-folded, for emails
    last_ascii: np.ndarray
    name_country: np.ndarray   # country index of each name slot
    name_slots: dict[int, np.ndarray]  # country index -> name slot indices
    usernames: np.ndarray
    companies: np.ndarray
    company_domains: np.ndarray
    universities: np.ndarray
    university_domains: np.ndarray
    browser_uas: np.ndarray
    sdk_uas: np.ndarray
    sentences: np.ndarray      # organic prompt text pool (many languages)
    sentence_lang_en: np.ndarray  # bool: English sentence
    words: np.ndarray          # filler words for templated prompt text


def build_pools(seed: int, names_per_country: int = 120, n_companies: int = 600) -> IdentityPools:
    """Build every pool deterministically from `seed` (Faker seeded per locale)."""
    rng = np.random.default_rng([seed, 0xFA4E])
    first, last, fa, la, nc = [], [], [], [], []
    sentences, en = [], []
    fakers: dict[str, Faker] = {}
    for ci, (cc, (locale, _tz, _w, _p)) in enumerate(COUNTRIES.items()):
        fk = fakers.get(locale)
        if fk is None:
            fk = Faker(locale)
            fakers[locale] = fk
        fk.seed_instance(seed * 1000 + ci)
        romanized = locale in ("ja_JP", "zh_CN", "zh_TW", "ko_KR", "uk_UA")
        for _ in range(names_per_country):
            if romanized and hasattr(fk, "first_romanized_name"):
                f, l_ = fk.first_romanized_name(), fk.last_romanized_name()
            else:
                f, l_ = fk.first_name(), fk.last_name()
            first.append(f), last.append(l_)
            fa.append(ascii_fold(f) or "user"), la.append(ascii_fold(l_) or "x")
            nc.append(ci)
        for _ in range(30 if locale != "en_US" else 200):
            sentences.append(fk.sentence(nb_words=int(rng.integers(6, 16))))
            en.append(locale.startswith("en"))
    en_fk = Faker("en_US")
    en_fk.seed_instance(seed)
    usernames = [en_fk.user_name() for _ in range(3000)]
    companies, cdomains = [], []
    seen: set[str] = set()
    while len(companies) < n_companies:
        c = en_fk.company()
        d = ascii_fold(c.split(",")[0].split(" and ")[0])[:18] + rng.choice([".com", ".io", ".co", ".ai", ".net"])
        if d in seen:
            continue
        seen.add(d)
        companies.append(c), cdomains.append(d)
    unis, udomains = [], []
    for i in range(120):
        city = en_fk.city()
        unis.append(f"University of {city}" if i % 2 else f"{city} Institute of Technology")
        udomains.append(f"{ascii_fold(city)[:12]}{'u' if i % 2 else 'tech'}.edu")
    words = en_fk.words(nb=400, unique=True)
    nc_arr = np.array(nc)
    return IdentityPools(
        first=np.array(first, dtype=object), last=np.array(last, dtype=object),
        first_ascii=np.array(fa, dtype=object), last_ascii=np.array(la, dtype=object),
        name_country=nc_arr, name_slots={c: np.flatnonzero(nc_arr == c) for c in range(len(COUNTRIES))},
        usernames=np.array([ascii_fold(u) for u in usernames], dtype=object),
        companies=np.array(companies, dtype=object), company_domains=np.array(cdomains, dtype=object),
        universities=np.array(unis, dtype=object), university_domains=np.array(udomains, dtype=object),
        browser_uas=_user_agents(rng, _BROWSERS, 300), sdk_uas=_user_agents(rng, _SDKS, 150),
        sentences=np.array(sentences, dtype=object), sentence_lang_en=np.array(en),
        words=np.array(words, dtype=object),
    )


def _user_agents(rng: np.random.Generator, templates: tuple[str, ...], n: int) -> np.ndarray:
    out: set[str] = set()
    while len(out) < n:
        t = templates[int(rng.integers(len(templates)))]
        out.add(t.format(v=int(rng.integers(118, 134)), s=int(rng.integers(15, 18)), m=int(rng.integers(0, 7)),
                         f=int(rng.integers(118, 133)), a=int(rng.integers(10, 15)), p=int(rng.integers(6, 9)),
                         v2=int(rng.integers(20, 40))))
    return np.array(sorted(out), dtype=object)


def sample_names(pools: IdentityPools, country: np.ndarray, rng: np.random.Generator,
                 same_country: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) name slot indices for each account: mostly from its country's names."""
    n = len(country)
    f = rng.integers(0, len(pools.first), n)
    l_ = rng.integers(0, len(pools.last), n)
    local = rng.random(n) < same_country
    for c in np.unique(country[local]):
        m = local & (country == c)
        slots = pools.name_slots[int(c)]
        f[m] = slots[rng.integers(0, len(slots), int(m.sum()))]
        l_[m] = slots[rng.integers(0, len(slots), int(m.sum()))]
    return f, l_


def benign_emails(pools: IdentityPools, f: np.ndarray, l_: np.ndarray, rng: np.random.Generator,
                  domains: np.ndarray | None = None) -> np.ndarray:
    """Emails in the many shapes real people pick (first.last, initials, nicknames, years...)."""
    n = len(f)
    fa, la = pools.first_ascii[f], pools.last_ascii[l_]
    if domains is None:
        domains = np.array(FREE_MAIL, dtype=object)[rng.choice(len(FREE_MAIL), n, p=FREE_MAIL_WEIGHTS)]
    year = rng.integers(60, 100, n).astype(str).astype(object)
    num = rng.integers(1, 9999, n).astype(str).astype(object)
    nick = pools.usernames[rng.integers(0, len(pools.usernames), n)]
    initial = np.array([s[:1] for s in fa], dtype=object)
    shape = rng.choice(7, n, p=[0.24, 0.16, 0.12, 0.18, 0.1, 0.12, 0.08])
    local = np.select(
        [shape == 0, shape == 1, shape == 2, shape == 3, shape == 4, shape == 5],
        [fa + "." + la, fa + la + year, initial + la, nick, fa + "_" + la, fa + num],
        default=la + "." + fa,
    )
    return local + "@" + domains


def farm_emails(pools: IdentityPools, f: np.ndarray, l_: np.ndarray, rng: np.random.Generator,
                domains: tuple[str, ...], camouflage: np.ndarray) -> np.ndarray:
    """Operator-made emails: name + digits on a few domains; camouflaged accounts look benign."""
    n = len(f)
    fa, la = pools.first_ascii[f], pools.last_ascii[l_]
    digits = rng.integers(100, 999_999, n).astype(str).astype(object)
    dom = np.array(domains, dtype=object)[rng.integers(0, len(domains), n)]
    shape = rng.integers(0, 3, n)
    local = np.select([shape == 0, shape == 1], [fa + la + digits, fa + "." + la + digits], default=la + fa + digits)
    out = local + "@" + dom
    camo = rng.random(n) < camouflage
    if camo.any():
        out[camo] = benign_emails(pools, f[camo], l_[camo], rng)
    return out

"""Identity pools built once per run from Faker's per-locale data, then sampled vectorised with numpy.

The values come from Faker's provider classes (first and last names with their frequency weights,
lorem word lists, company and city parts), snapshotted in `faker_data.json` and sampled with numpy.
No `Faker` instance is created and no Faker module is imported at run time: instantiating a Faker
per locale and calling it per value took over a second per run, importing its locale modules a
tenth of one. The snapshot also keeps worlds byte-identical across Faker releases; refresh it
with `python -m synth.identity --refresh-faker-data` (the test suite says when it is stale).
Per-account and per-request values are numpy index draws into these pools.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synth.behaviour import Categorical

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

_NOT_ALNUM = re.compile(r"[^0-9a-z]")


def ascii_fold(text: str) -> str:
    """Lower-case ASCII form of a name, for email local parts (Müller -> muller)."""
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower())


@dataclass(frozen=True)
class IdentityPools:
    """Pools of identity strings; per-country index ranges into the name pools."""

    first: np.ndarray          # display first names (object arrays of str)
    last: np.ndarray
    first_ascii: np.ndarray    # ascii-folded, for emails
    last_ascii: np.ndarray
    first_initial: np.ndarray  # first letter of first_ascii
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


FAKER_DATA = Path(__file__).with_name("faker_data.json")
_LOREM_FALLBACK = {"en": "en_US"}  # a locale without lorem words uses its language's, else Faker's Latin


def snapshot_faker_data() -> dict[str, Any]:
    """The Faker values the pools draw from, read from the installed Faker's provider classes."""
    import faker

    def provider(kind: str, locale: str) -> Any:
        return importlib.import_module(f"faker.providers.{kind}.{locale}").Provider

    def values(data: Any) -> tuple[list[str], list[float] | None]:
        return (list(data), [float(w) for w in data.values()]) if isinstance(data, dict) else (list(data), None)

    person: dict[str, Any] = {}
    lorem_of: dict[str, str] = {}
    lorem: dict[str, Any] = {}
    for locale in sorted({v[0] for v in COUNTRIES.values()}):
        p = provider("person", locale)
        if hasattr(p, "first_romanized_names"):  # ja_JP, zh_CN: romanised names
            (f, fw), (l_, lw) = values(p.first_romanized_names), values(p.last_romanized_names)
        else:  # pl_PL draws last names from its unisex list (its `last_names` is a placeholder)
            (f, fw), (l_, lw) = values(p.first_names), values(getattr(p, "unisex_last_names", p.last_names))
        person[locale] = {"first": f, "first_weights": fw, "last": l_, "last_weights": lw}
        for loc in (locale, _LOREM_FALLBACK.get(locale[:2], ""), "la"):
            try:
                lp = provider("lorem", loc)
            except ImportError:
                continue
            lorem_of[locale] = loc
            lorem[loc] = {"words": list(lp.word_list), "connector": lp.word_connector,
                          "punctuation": lp.sentence_punctuation}
            break
    addr, company = provider("address", "en_US"), provider("company", "en_US")
    return {"faker_version": faker.VERSION, "person": person, "lorem_of": lorem_of, "lorem": lorem,
            "city_prefixes": list(addr.city_prefixes), "city_suffixes": list(addr.city_suffixes),
            "company_suffixes": list(company.company_suffixes)}


def write_faker_data(path: Path = FAKER_DATA) -> None:
    """Write the snapshot: one line per list, so a Faker upgrade shows as a readable diff."""
    data = snapshot_faker_data()
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            inner = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in value.items()]
            lines.append(f"{json.dumps(key)}: {{\n" + ",\n".join(inner) + "\n}")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


@functools.lru_cache(maxsize=1)
def faker_data() -> dict[str, Any]:
    """The committed snapshot of Faker's values (see `write_faker_data`)."""
    return json.loads(FAKER_DATA.read_text(encoding="utf-8"))


def _values(values: list[str], weights: list[float] | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(values, normalised weights or None for uniform), as Faker's `random_element` draws them."""
    if weights is None:
        return np.array(values, dtype=object), None
    w = np.array(weights, float)
    return np.array(values, dtype=object), w / w.sum()


def _draw(rng: np.random.Generator, data: tuple[np.ndarray, np.ndarray | None], n: int) -> np.ndarray:
    """n values drawn with replacement, with Faker's weights."""
    values, p = data
    return values[rng.choice(len(values), n, p=p)]


def _locale_names(locale: str) -> tuple[tuple[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray | None]]:
    """First and last names of a locale (romanised where Faker has romanised lists: ja_JP, zh_CN)."""
    d = faker_data()["person"][locale]
    return _values(d["first"], d["first_weights"]), _values(d["last"], d["last_weights"])


def _sentences(rng: np.random.Generator, locale: str, n: int) -> list[str]:
    """n lorem sentences as Faker's sentence(nb_words=6..15) makes them: the word count varies by
    +-40%, words are drawn uniformly from the locale's list, the first is title-cased."""
    data = faker_data()
    lorem = data["lorem"][data["lorem_of"][locale]]
    words = lorem["words"]
    k = np.maximum(1, (rng.integers(6, 16, n) * rng.uniform(0.6, 1.4, n)).astype(np.int64))
    w = [words[i] for i in rng.integers(0, len(words), int(k.sum()))]
    out, pos = [], 0
    for m in k.tolist():
        out.append(lorem["connector"].join([w[pos].title(), *w[pos + 1:pos + m]]) + lorem["punctuation"])
        pos += m
    return out


def build_pools(seed: int, names_per_country: int = 120, n_companies: int = 600) -> IdentityPools:
    """Build every pool deterministically from `seed` (no Faker instance: numpy draws from its lists)."""
    rng = np.random.default_rng([seed, 0xFA4E])
    first, last, nc = [], [], []
    sentences, en = [], []
    names: dict[str, tuple] = {}
    for ci, (_cc, (locale, _tz, _w, _p)) in enumerate(COUNTRIES.items()):
        if locale not in names:
            names[locale] = _locale_names(locale)
        fn, ln = names[locale]
        first.append(_draw(rng, fn, names_per_country))
        last.append(_draw(rng, ln, names_per_country))
        nc.append(np.full(names_per_country, ci))
        k = 30 if locale != "en_US" else 200
        sentences += _sentences(rng, locale, k)
        en += [locale.startswith("en")] * k
    first_a, last_a = np.concatenate(first), np.concatenate(last)
    fold: dict[str, str] = {}

    def folded(a: np.ndarray) -> np.ndarray:
        return np.array([fold[v] if v in fold else fold.setdefault(v, ascii_fold(v)) for v in a], dtype=object)

    en_first, en_last = names["en_US"]
    # usernames: Faker's en_US user_name shapes (last.first, first.last, first##, ?last), ascii-folded
    n_user = 3000
    uf, ul = folded(_draw(rng, en_first, n_user)), folded(_draw(rng, en_last, n_user))
    digits = np.array([f"{d:02d}" for d in rng.integers(0, 100, n_user)], dtype=object)
    letter = np.array(list("abcdefghijklmnopqrstuvwxyz"), dtype=object)[rng.integers(0, 26, n_user)]
    usernames = np.choose(rng.integers(0, 4, n_user), [ul + uf, uf + ul, uf + digits, letter + ul])
    # companies: Faker's en_US company formats; the domain comes from the first name in it
    data = faker_data()
    suffixes = np.array(data["company_suffixes"], dtype=object)
    tlds = np.array([".com", ".io", ".co", ".ai", ".net"], dtype=object)
    companies, cdomains = [], []
    seen: set[str] = set()
    while len(companies) < n_companies:
        m = 2 * n_companies
        a, b_, c = (_draw(rng, en_last, m) for _ in range(3))
        form = rng.integers(0, 3, m)
        comp = np.choose(form, [a + " " + suffixes[rng.integers(0, len(suffixes), m)], a + "-" + b_,
                                a + ", " + b_ + " and " + c])
        head = np.where(form == 1, a + b_, np.where(form == 0, comp, a))
        dom = tlds[rng.integers(0, len(tlds), m)]
        for i in range(m):
            d = ascii_fold(head[i])[:18] + dom[i]
            if d not in seen and len(companies) < n_companies:
                seen.add(d)
                companies.append(comp[i]), cdomains.append(d)
    # universities: en_US city names (Faker's city formats), each city once
    prefixes = np.array(data["city_prefixes"], dtype=object)
    city_suffixes = np.array(data["city_suffixes"], dtype=object)
    cities: list[str] = []
    while len(cities) < 120:
        m = 240
        pre = prefixes[rng.integers(0, len(prefixes), m)]
        suf = city_suffixes[rng.integers(0, len(city_suffixes), m)]
        f, l_ = _draw(rng, en_first, m), _draw(rng, en_last, m)
        cand = np.choose(rng.integers(0, 4, m), [pre + " " + f + suf, pre + " " + f, f + suf, l_ + suf])
        cities += [x for x in dict.fromkeys(cand) if x not in cities][:120 - len(cities)]
    odd = np.arange(120) % 2 == 1
    city = np.array(cities, dtype=object)
    unis = np.where(odd, "University of " + city, city + " Institute of Technology")
    udomains = np.array([ascii_fold(x)[:12] for x in cities], dtype=object) + np.where(odd, "u.edu", "tech.edu")
    en_words = data["lorem"]["en_US"]["words"]
    words = np.array(en_words, dtype=object)[rng.choice(len(en_words), 400, replace=False)]
    nc_arr = np.concatenate(nc)
    fa, la = folded(first_a), folded(last_a)
    fa[fa == ""], la[la == ""] = "user", "x"  # names without a Latin form
    return IdentityPools(
        first=first_a, last=last_a,
        first_ascii=fa, last_ascii=la, first_initial=np.array([v[:1] for v in fa], dtype=object),
        name_country=nc_arr, name_slots={c: np.flatnonzero(nc_arr == c) for c in range(len(COUNTRIES))},
        usernames=usernames.astype(object),
        companies=np.array(companies, dtype=object), company_domains=np.array(cdomains, dtype=object),
        universities=unis.astype(object), university_domains=udomains.astype(object),
        browser_uas=_user_agents(rng, _BROWSERS, 300), sdk_uas=_user_agents(rng, _SDKS, 150),
        sentences=np.array(sentences, dtype=object), sentence_lang_en=np.array(en),
        words=words,
    )


def _user_agents(rng: np.random.Generator, templates: tuple[str, ...], n: int) -> np.ndarray:
    """n distinct user agents: templates filled with version numbers drawn in batches."""
    out: set[str] = set()
    while len(out) < n:
        m = 2 * n
        t = rng.integers(0, len(templates), m)
        v, s, mi = rng.integers(118, 134, m), rng.integers(15, 18, m), rng.integers(0, 7, m)
        f = rng.integers(118, 133, m)
        a, p, v2 = rng.integers(10, 15, m), rng.integers(6, 9, m), rng.integers(20, 40, m)
        for i in range(m):
            out.add(templates[t[i]].format(v=v[i], s=s[i], m=mi[i], f=f[i], a=a[i], p=p[i], v2=v2[i]))
            if len(out) == n:
                break
    return np.array(sorted(out), dtype=object)


# "0".."9999" as strings: number parts of emails are gathered from here instead of converted per call
_NUMBERS = np.array([str(i) for i in range(10_000)], dtype=object)
_FREE_MAIL = np.array(FREE_MAIL, dtype=object)
_FREE_MAIL_DRAW = Categorical(FREE_MAIL_WEIGHTS)
_EMAIL_SHAPE = Categorical([0.24, 0.16, 0.12, 0.18, 0.1, 0.12, 0.08])


def sample_names(pools: IdentityPools, country: np.ndarray, rng: np.random.Generator,
                 same_country: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) name slot indices for each account: mostly from its country's names."""
    n = len(country)
    f = rng.integers(0, len(pools.first), n)
    l_ = rng.integers(0, len(pools.last), n)
    local = np.flatnonzero(rng.random(n) < same_country)
    # every country owns one contiguous, equally long range of name slots
    per = len(pools.first) // len(COUNTRIES)
    base = np.asarray(country)[local] * per
    f[local] = base + rng.integers(0, per, len(local))
    l_[local] = base + rng.integers(0, per, len(local))
    return f, l_


def benign_emails(pools: IdentityPools, f: np.ndarray, l_: np.ndarray, rng: np.random.Generator,
                  domains: np.ndarray | None = None) -> np.ndarray:
    """Emails in the many shapes real people pick (first.last, initials, nicknames, years...)."""
    n = len(f)
    fa, la = pools.first_ascii[f], pools.last_ascii[l_]
    if domains is None:
        domains = _FREE_MAIL[_FREE_MAIL_DRAW(rng, n)]
    year = rng.integers(60, 100, n)
    num = rng.integers(1, 9999, n)
    nick = rng.integers(0, len(pools.usernames), n)
    shape = _EMAIL_SHAPE(rng, n)
    local = np.empty(n, dtype=object)
    for s in np.flatnonzero(np.bincount(shape, minlength=7)):  # each address is built in its own shape only
        m = np.flatnonzero(shape == s)
        a, b = fa[m], la[m]
        if s == 0:
            local[m] = a + "." + b
        elif s == 1:
            local[m] = a + b + _NUMBERS[year[m]]
        elif s == 2:
            local[m] = pools.first_initial[f[m]] + b
        elif s == 3:
            local[m] = pools.usernames[nick[m]]
        elif s == 4:
            local[m] = a + "_" + b
        elif s == 5:
            local[m] = a + _NUMBERS[num[m]]
        else:
            local[m] = b + "." + a
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


if __name__ == "__main__":
    if sys.argv[1:] != ["--refresh-faker-data"]:
        sys.exit("usage: python -m synth.identity --refresh-faker-data")
    write_faker_data()
    print(f"wrote {FAKER_DATA} (faker {faker_data.__wrapped__()['faker_version']})")

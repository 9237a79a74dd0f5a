"""Test worlds for second streams: the tiny fixture with leaked keys, takeovers and benign look-alikes.

Victims and look-alikes are plain benign accounts of `tests.paths.TINY` with organic history; their
requests are appended to (victims) or rewritten (look-alikes) with polars, deterministically.

* victims: from `CHANGE_DAY` on, a second stream on the owner's key (`leak`) or on a new key created
  just before it (`takeover`), from one operator's relay pool (hosting ASNs), around the clock,
  templated (a few prompts, 0-2 bits flipped), output-heavy; the owner's own traffic goes on;
* travellers: the owner's own requests of a few days move to a hotel network (a new residential ASN);
* movers: all the owner's requests from `CHANGE_DAY` on come from a cloud (hosting) ASN;
* nightly jobs: the owner adds a templated batch job on a cloud VM at one hour every night, beside
  their own traffic (a CI job, a report generator).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl

from tests.paths import TINY

T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)  # first day of the tiny world
CHANGE_DAY = 5
END_DAY = 14
US_PER_DAY = 86_400 * 1_000_000


@dataclass(frozen=True)
class StreamWorld:
    path: Path
    leak: list[str]
    takeover: list[str]
    travellers: list[str]
    movers: list[str]
    nightly: list[str]
    relay_ips: list[str]

    @property
    def victims(self) -> list[str]:
        return sorted(self.leak + self.takeover)

    @property
    def lookalikes(self) -> list[str]:
        return sorted(self.travellers + self.movers + self.nightly)


def _requests() -> pl.DataFrame:
    return pl.read_parquet(TINY / "requests.parquet").with_columns(pl.col(pl.Categorical).cast(pl.String))


def _candidates(req: pl.DataFrame) -> list[str]:
    """Benign accounts with organic history before the change day and traffic after it."""
    labels = pl.read_parquet(TINY / "labels.parquet").filter(pl.col("ring_kind") == "benign")
    day = ((pl.col("ts").dt.epoch("us") - int(T0.timestamp() * 1e6)) // US_PER_DAY).alias("day")
    per = (
        req.join(labels.select("account_id"), on="account_id")
        .with_columns(day)
        .group_by("account_id")
        .agg(
            (pl.col("day") < CHANGE_DAY).sum().alias("before"),
            (pl.col("day") >= CHANGE_DAY + 2).sum().alias("after"),
            pl.col("key_id").n_unique().alias("keys"),
        )
        .filter(pl.col("before") >= 8, pl.col("after") >= 8, pl.col("keys") == 1)
        .sort("account_id")
    )
    return per["account_id"].to_list()


def _times(rng: np.random.Generator, n: int, start_day: int, end_day: int) -> np.ndarray:
    lo = int(T0.timestamp() * 1e6) + start_day * US_PER_DAY
    return np.sort(rng.integers(lo, lo + (end_day - start_day) * US_PER_DAY, n))


def build(
    out: Path,
    seed: int = 7,
    n_leak: int = 20,
    n_takeover: int = 10,
    n_look: int = 10,
    relay: str = "hosting",
    geo: bool = False,
) -> StreamWorld:
    """Write the world to `out` and say who is who.

    `relay`: the operator's relays are on "hosting" ASNs or on "residential" ones (proxies abroad);
    `geo`: write the optional `asns.country` column (here the country code the tiny world's ASN names start with).
    """
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True)
    for f in TINY.iterdir():
        shutil.copy(f, out / f.name)
    req = _requests()
    cand = _candidates(req)
    picked = [cand[i] for i in rng.permutation(len(cand))[: n_leak + n_takeover + 3 * n_look]]
    leak, takeover = picked[:n_leak], picked[n_leak : n_leak + n_takeover]
    rest = picked[n_leak + n_takeover :]
    travellers, movers, nightly = rest[:n_look], rest[n_look : 2 * n_look], rest[2 * n_look :]
    asns = pl.read_parquet(TINY / "asns.parquet")
    hosting = asns.filter(pl.col("kind") == "hosting")["asn"].sort().to_list()
    residential = asns.filter(pl.col("kind") == "residential")["asn"].sort().to_list()
    keys = pl.read_parquet(TINY / "api_keys.parquet")
    own_key = dict(keys.filter(pl.col("account_id").is_in(picked)).select("account_id", "key_id").iter_rows())

    # --- the operator: 4 relay IPs on 2 hosting ASNs, 6 prompt templates, one SDK
    relay_ips = [f"198.51.100.{10 + i}" for i in range(4)]
    geo_of = asns.with_columns(pl.col("org").str.extract(r"^([A-Z]{2}) ", 1).alias("country"))
    abroad = geo_of.filter(
        pl.col("kind") == "residential", ~pl.col("country").is_in(["US", "IN", "BR", "GB", "DE"])
    ).sort("asn")["asn"]
    pair = [hosting[0], hosting[1]] if relay == "hosting" else [abroad[0], abroad[1]]
    relay_asn = pair * 2
    if geo:
        geo_of.write_parquet(out / "asns.parquet")
    tpl = rng.integers(0, 2**63, 6, dtype=np.int64).astype(np.uint64)
    new_keys = {a: f"key_stolen_{i:03d}" for i, a in enumerate(takeover)}
    created = T0 + timedelta(days=CHANGE_DAY) - timedelta(hours=1)
    keys = pl.concat(
        [
            keys,
            pl.DataFrame(
                {
                    "key_id": list(new_keys.values()),
                    "account_id": list(new_keys),
                    "created_at": [created] * len(new_keys),
                    "revoked_at": [None] * len(new_keys),
                },
                schema=keys.schema,
            ),
        ]
    )
    streams = []
    for a in leak + takeover:
        n = int(rng.integers(200, 320))
        which = rng.integers(0, 4, n)
        flips = np.where(rng.random(n) < 0.5, np.uint64(1) << rng.integers(0, 64, n).astype(np.uint64), np.uint64(0))
        streams.append(
            pl.DataFrame(
                {
                    "ts": _times(rng, n, CHANGE_DAY, END_DAY),
                    "account_id": [a] * n,
                    "key_id": [new_keys.get(a, own_key[a])] * n,
                    "model": ["atlas-pro"] * n,
                    "input_tokens": rng.integers(150, 300, n).astype(np.int32),
                    "output_tokens": rng.integers(1200, 2400, n).astype(np.int32),
                    "ip": [relay_ips[i] for i in which],
                    "asn": np.array(relay_asn, np.int32)[which],
                    "user_agent": ["python-requests/2.31.0"] * n,
                    "prompt_hash": tpl[rng.integers(0, 6, n)] ^ flips,
                    "topic": ["coding"] * n,
                }
            ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
        )
    # --- nightly jobs: a cloud VM, each its own hour of the night (h:00-h:50 UTC), 20 templated requests a night
    for i, a in enumerate(nightly):
        days = np.repeat(np.arange(CHANGE_DAY, END_DAY), 20)
        h = i % 24
        ts = (
            int(T0.timestamp() * 1e6)
            + days * US_PER_DAY
            + rng.integers(h * 3600, h * 3600 + 3000, days.size) * 1_000_000
        )
        job = rng.integers(0, 2**63, 2, dtype=np.int64).astype(np.uint64)
        streams.append(
            pl.DataFrame(
                {
                    "ts": np.sort(ts),
                    "account_id": [a] * days.size,
                    "key_id": [own_key[a]] * days.size,
                    "model": ["atlas-mini"] * days.size,
                    "input_tokens": rng.integers(800, 1500, days.size).astype(np.int32),
                    "output_tokens": rng.integers(100, 300, days.size).astype(np.int32),
                    "ip": [f"192.0.2.{100 + i}"] * days.size,
                    "asn": np.full(days.size, hosting[2 + i % 3], np.int32),
                    "user_agent": ["python-httpx/0.27.0"] * days.size,
                    "prompt_hash": job[rng.integers(0, 2, days.size)],
                    "topic": ["writing"] * days.size,
                }
            ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
        )
    # --- travellers (days CHANGE_DAY..+3 on a hotel network) and movers (a cloud from CHANGE_DAY on)
    day = (pl.col("ts").dt.epoch("us") - int(T0.timestamp() * 1e6)) // US_PER_DAY
    hotel = {a: (f"203.0.113.{20 + i}", residential[-1 - i]) for i, a in enumerate(travellers)}
    cloud = {a: (f"192.0.2.{200 + i}", hosting[-1 - i % 3]) for i, a in enumerate(movers)}
    moved = pl.col("account_id").is_in(list(hotel)) & (day >= CHANGE_DAY) & (day < CHANGE_DAY + 4)
    moved_cloud = pl.col("account_id").is_in(list(cloud)) & (day >= CHANGE_DAY)
    ip_of = {**{a: v[0] for a, v in hotel.items()}, **{a: v[0] for a, v in cloud.items()}}
    asn_of = {**{a: v[1] for a, v in hotel.items()}, **{a: v[1] for a, v in cloud.items()}}
    req = req.with_columns(
        pl.when(moved | moved_cloud)
        .then(pl.col("account_id").replace_strict(ip_of, default=None))
        .otherwise(pl.col("ip"))
        .alias("ip"),
        pl.when(moved | moved_cloud)
        .then(pl.col("account_id").replace_strict(asn_of, default=None, return_dtype=pl.Int32))
        .otherwise(pl.col("asn"))
        .alias("asn"),
    )
    req = pl.concat([req, *[s.select(req.columns).cast(dict(req.schema)) for s in streams]]).sort("ts", "account_id")
    req.write_parquet(out / "requests.parquet")
    keys.write_parquet(out / "api_keys.parquet")
    labels = pl.read_parquet(TINY / "labels.parquet")
    kind = {**{a: "key_leak" for a in leak}, **{a: "account_takeover" for a in takeover}}
    kind |= {a: "traveller" for a in travellers} | {a: "cloud_move" for a in movers}
    kind |= {a: "nightly_job" for a in nightly}
    labels.with_columns(
        pl.col("account_id").replace_strict(kind, default=pl.col("ring_kind")).alias("ring_kind"),
        pl.when(pl.col("account_id").is_in(leak + takeover))
        .then(pl.lit("operator-1"))
        .otherwise(pl.col("ring_id"))
        .alias("ring_id"),
        (pl.col("is_fraud") | pl.col("account_id").is_in(leak + takeover)).alias("is_fraud"),
    ).write_parquet(out / "labels.parquet")
    (out / "manifest.json").unlink(missing_ok=True)
    return StreamWorld(
        out, sorted(leak), sorted(takeover), sorted(travellers), sorted(movers), sorted(nightly), relay_ips
    )

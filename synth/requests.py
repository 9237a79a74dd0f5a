"""Vectorised request emission: one chunk of days at a time, from per-account behaviour profiles.

No per-row Python: counts come from Poisson draws per account-day, every column from numpy index
arrays into small tables. Each chunk has its own RNG stream (seed, chunk), so chunks can be made in
any order (or ahead, in a thread) and the output is identical for the same config and seed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from synth.behaviour import HOUR_Q, MODEL_Q, QUANT, TOKENS_IN, TOKENS_OUT, TOPIC_Q, WEEK_TABLE
from synth.world import US_PER_DAY, US_PER_S


@dataclass
class RequestChunk:
    """Columns of one chunk, sorted by time; string columns as integer codes into global tables."""

    ts: np.ndarray
    account: np.ndarray
    key: np.ndarray
    model: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    ip: np.ndarray           # unique-IP index
    asn: np.ndarray
    ua: np.ndarray
    prompt_hash: np.ndarray
    topic: np.ndarray
    sample: np.ndarray       # row positions sampled for prompts.parquet
    sample_tpl: np.ndarray   # template id of each sampled row, -1 for organic

    def __len__(self) -> int:
        return len(self.ts)


class RequestEmitter:
    """Holds the per-account behaviour arrays (signup order) and emits request chunks."""

    def __init__(self, *, seed: int, t0: int, days: int, acc: dict[str, np.ndarray], ip_unique: np.ndarray,
                 ip_asn_number: np.ndarray, key_off: np.ndarray, key_n: np.ndarray, key_start: np.ndarray,
                 tgroups: list[np.ndarray], tpl_hash: np.ndarray, tpl_topic: np.ndarray,
                 sync_slots: np.ndarray, sync_jitter: np.ndarray, sample_rate: float, sample_cap: int):
        self.seed, self.t0, self.days = seed, t0, days
        self.a = acc
        self.ip_off = np.concatenate([[0], np.cumsum(acc["ip_lens"])[:-1]]).astype(np.int64)
        self.ip_unique = ip_unique          # IP id -> unique IP index
        self.ip_asn_number = ip_asn_number  # unique IP index -> ASN number
        self.key_off, self.key_n, self.key_start = key_off, key_n, key_start
        lens = np.array([len(g) for g in tgroups], np.int64)
        self.tg_len = lens
        self.tg_off = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64) if len(lens) else lens
        self.tg_vals = np.concatenate(tgroups).astype(np.int64) if tgroups else np.zeros(0, np.int64)
        self.tpl_hash, self.tpl_topic = tpl_hash.astype(np.uint64), tpl_topic.astype(np.int64)
        self.sync_slots, self.sync_jitter = sync_slots, sync_jitter
        self.sample_rate, self.sample_cap = sample_rate, sample_cap
        q = (np.arange(QUANT) + 0.5) / QUANT
        from statistics import NormalDist
        zq = np.array([NormalDist().inv_cdf(x) for x in q])
        self.tok_in = np.exp(TOKENS_IN[:, :1] + TOKENS_IN[:, 1:] * zq).astype(np.float32)
        self.tok_out = np.exp(TOKENS_OUT[:, :1] + TOKENS_OUT[:, 1:] * zq).astype(np.float32)
        self.f_in = np.exp(acc["in_shift"]).astype(np.float32)
        self.f_out = np.exp(acc["out_shift"]).astype(np.float32)
        self.home_bias = acc["ip_exp"] > 1.0
        self.weekday0 = dt.datetime.fromtimestamp(t0 / US_PER_S, dt.timezone.utc).weekday()

    def chunk(self, index: int, days: range) -> RequestChunk:
        """All requests of `days` (window-relative day numbers), sorted by timestamp."""
        rng = np.random.default_rng([self.seed, 0x5EC, index])
        parts = [self._day(d, rng) for d in days]
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        order = np.argsort(cols["ts"], kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
        n = len(order)
        cap = int(np.ceil(self.sample_cap * len(days) / max(self.days, 1)))
        sample = np.flatnonzero(rng.random(n) < self.sample_rate)[:cap]
        tpl = cols.pop("tpl")
        return RequestChunk(sample=sample, sample_tpl=tpl[sample], **cols)

    def _day(self, d: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        a = self.a
        live = np.flatnonzero((a["start_day"] <= d) & (d < a["end_day"]) & (a["rate"] > 0))
        dow = (self.weekday0 + d) % 7
        lam = a["rate"][live] * WEEK_TABLE[a["profile"][live], dow]
        on = rng.random(len(live)) < a["p_active"][live]
        k = a["burst"][live]
        lam = lam * rng.gamma(k, 1.0 / k) * on
        cnt = rng.poisson(lam)
        acc = np.repeat(live, cnt)
        n = len(acc)
        u = rng.random((8, n), dtype=np.float32)
        # Time of day: local-hour profile shifted to UTC, wrapped within the UTC day.
        hour = HOUR_Q[a["profile"][acc], (u[0] * QUANT).astype(np.int64)] + u[1]
        sec = np.mod(hour - a["tz"][acc], 24.0) * 3600.0
        sy = a["sync"][acc]
        synced = np.flatnonzero(sy >= 0)
        if len(synced):
            g = sy[synced]
            slots = np.random.default_rng([self.seed, 0x51C, d]).random((len(self.sync_slots), 512))
            j = (u[2][synced] * self.sync_slots[g]).astype(np.int64)
            base = slots[g, j] * 86400.0
            sec[synced] = np.mod(base + np.abs(rng.normal(0, 1, len(synced))) * self.sync_jitter[g], 86400.0)
        ts = self.t0 + d * US_PER_DAY + (sec * US_PER_S).astype(np.int64)
        # Key in use that day (accounts rotating keys have several).
        key = self.key_off[acc].copy()
        multi = np.flatnonzero(self.key_n[acc] > 1)
        if len(multi):
            ka = acc[multi]
            kb = self.key_off[ka]
            for j in range(1, int(self.key_n[ka].max())):
                has = (j < self.key_n[ka])
                nxt = np.where(has, kb + j, kb)
                key[multi] += (has & (self.key_start[nxt] <= d)).astype(np.int64)
        # Templated or organic prompt.
        tg = a["tgroup"][acc]
        is_tpl = (tg >= 0) & (u[3] < a["p_tpl"][acc])
        ti = np.flatnonzero(is_tpl)
        tpl = np.full(n, -1, np.int64)
        g = tg[ti]
        tpl[ti] = self.tg_vals[self.tg_off[g] + (u[4][ti] * self.tg_len[g]).astype(np.int64)]
        h = rng.bit_generator.random_raw(n).astype(np.uint64, copy=False)
        if len(ti):
            nflip = rng.integers(0, 5, len(ti))
            pos = rng.integers(0, 64, (4, len(ti))).astype(np.uint64)
            mask = np.zeros(len(ti), np.uint64)
            for i in range(4):
                mask |= np.where(nflip > i, np.left_shift(np.uint64(1), pos[i]), np.uint64(0))
            h[ti] = self.tpl_hash[tpl[ti]] ^ mask
        p1, p2 = a["p1"][acc], a["p2"][acc]
        topic = np.where(u[3] < p1, a["t1"][acc],
                         np.where(u[3] < p1 + p2, a["t2"][acc], TOPIC_Q[(u[5] * QUANT).astype(np.int64)]))
        # u[3] was used for the template decision too: redraw the organic topic for template-group users.
        topic = np.where(tg >= 0, np.where(u[6] < p1, a["t1"][acc], TOPIC_Q[(u[5] * QUANT).astype(np.int64)]), topic)
        topic[ti] = self.tpl_topic[tpl[ti]]
        model = np.where(u[6] < a["p_model"][acc], a["model_pref"][acc],
                         MODEL_Q[topic, (u[7] * QUANT).astype(np.int64)])
        # Token lengths: per-topic lognormal quantile tables times the account's own factor.
        z = rng.random((4, n), dtype=np.float32)
        tin = self.tok_in[topic, (z[0] * QUANT).astype(np.int64)] * self.f_in[acc]
        tout = self.tok_out[topic, (z[1] * QUANT).astype(np.int64)] * self.f_out[acc]
        # Network and client: home-biased accounts mostly use their first IP.
        w = np.where(self.home_bias[acc], z[2] * z[2], z[2])
        ip_id = a["ip_vals"][self.ip_off[acc] + (w * a["ip_lens"][acc]).astype(np.int64)]
        ip = self.ip_unique[ip_id]
        ua = np.where(z[3] < a["p_ua1"][acc], a["ua1"][acc], a["ua2"][acc])
        return {
            "ts": ts, "account": acc, "key": key, "model": model.astype(np.int64),
            "input_tokens": np.clip(tin, 1, 200_000).astype(np.int32),
            "output_tokens": np.clip(tout, 1, 32_000).astype(np.int32),
            "ip": ip, "asn": self.ip_asn_number[ip], "ua": ua.astype(np.int64), "prompt_hash": h,
            "topic": topic.astype(np.int64), "tpl": tpl,
        }

"""Vectorised request emission: one chunk of days at a time, from per-account behaviour profiles.

No per-row Python: counts come from Poisson draws per account-day, every column from numpy index
arrays into small tables. Each chunk has its own RNG stream (seed, chunk), so chunks can be made in
any order (or ahead, in a thread) and the output is identical for the same config and seed.

A chunk is made in two passes: first who sends a request and when (per day), then the rows are put
in time order and every other column is drawn directly in that order, so no column has to be
permuted afterwards. The time order is a plain sort of unique 64-bit keys (time, then row number),
i.e. exactly the stable order by time, without a stable argsort.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from synth.behaviour import HOUR_Q, MODEL_Q, QUANT, TOKENS_IN, TOKENS_OUT, TOPIC_Q, WEEK_TABLE
from synth.world import US_PER_DAY, US_PER_H, US_PER_S

_LANE = 1 << 16          # random lanes are uint16: probabilities become thresholds out of 65,536
_QSHIFT = 16 - QUANT.bit_length() + 1  # lane >> _QSHIFT is a quantile-table column (QUANT = 4096: 12 bits)
assert 1 << (16 - _QSHIFT) == QUANT


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


def _threshold(p: np.ndarray) -> np.ndarray:
    """Per-account probability as a uint16-lane threshold: lane < threshold with probability p."""
    return np.round(np.clip(np.asarray(p, float), 0.0, 1.0) * _LANE).astype(np.int32)


def _exact_masks(want: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """64-bit masks with exactly `want[i]` distinct bits set (0 <= want <= 32): a random bit is added to
    every mask still short of its count until none is (collisions just take another round)."""
    mask = np.zeros(len(want), np.uint64)
    have = np.zeros(len(want), np.int64)
    todo = np.flatnonzero(have < want)
    while len(todo):
        bit = np.left_shift(np.uint64(1), rng.integers(0, 64, len(todo)).astype(np.uint64))
        fresh = (mask[todo] & bit) == 0
        mask[todo] |= bit
        have[todo] += fresh
        todo = todo[have[todo] < want[todo]]
    return mask


class RequestEmitter:
    """Holds the per-account behaviour arrays (signup order) and emits request chunks."""

    def __init__(self, *, seed: int, t0: int, days: int, acc: dict[str, np.ndarray], ip_unique: np.ndarray,
                 ip_asn_number: np.ndarray, key_off: np.ndarray, key_n: np.ndarray, key_start: np.ndarray,
                 tgroups: list[np.ndarray], tpl_hash: np.ndarray, tpl_topic: np.ndarray,
                 sync_slots: np.ndarray, sync_jitter: np.ndarray, sample_rate: float, sample_cap: int,
                 tg_flips: dict[int, tuple[int, int]] | None = None,
                 sync_window: dict[int, tuple[float, float]] | None = None,
                 acct_out: np.ndarray | None = None, stream_key: np.ndarray | None = None):
        self.seed, self.t0, self.days = seed, t0, days
        # rows beyond the accounts are second streams (leaked keys, takeovers): written as their host account
        self.acct_out = acct_out
        # paraphrase banks: template groups whose uses flip exactly lo..hi distinct bits of the template hash
        self.flip_lo = np.full(len(tgroups), -1, np.int8)
        self.flip_hi = np.full(len(tgroups), -1, np.int8)
        for g, (lo, hi) in (tg_flips or {}).items():
            self.flip_lo[g], self.flip_hi[g] = lo, hi
        self.has_flips = bool((self.flip_lo >= 0).any())
        # schedulers firing inside a daily window (nightly jobs): start and length in seconds
        self.win = np.zeros(len(sync_slots), bool)
        self.win_start = np.zeros(len(sync_slots))
        self.win_len = np.full(len(sync_slots), 86400.0)
        for s_, (h0, hl) in (sync_window or {}).items():
            self.win[s_], self.win_start[s_], self.win_len[s_] = True, h0 * 3600.0, hl * 3600.0
        self.has_window = bool(self.win.any())
        n_acc = len(acc["rate"])
        # when: activity and time of day
        self.start_day, self.end_day = acc["start_day"], acc["end_day"]
        self.rate, self.p_active, self.burst = acc["rate"], acc["p_active"], acc["burst"]
        self.profile = acc["profile"].astype(np.intp)
        self.hour_us = (HOUR_Q.astype(np.int64) * US_PER_H).ravel()  # (profile, column) -> local hour, in us
        self.tz_us = np.round(acc["tz"] * US_PER_H).astype(np.int64)
        self.sync = acc["sync"].astype(np.int32)
        self.sync_slots, self.sync_jitter = sync_slots, sync_jitter
        # what: prompts, topics, models, tokens, network, client (small dtypes: these are gathered per row)
        self.tgroup = acc["tgroup"].astype(np.int32)
        has_tg = self.tgroup >= 0
        self.thr_tpl = _threshold(np.where(has_tg, acc["p_tpl"], 0.0))
        self.thr_t1 = _threshold(acc["p1"])
        # template-group users' organic prompts: the first topic or the popularity mix (no second topic)
        self.thr_t12 = _threshold(np.where(has_tg, acc["p1"], acc["p1"] + acc["p2"]))
        self.t1, self.t2 = acc["t1"].astype(np.int8), acc["t2"].astype(np.int8)
        self.thr_model = _threshold(acc["p_model"])
        self.model_pref = acc["model_pref"].astype(np.int8)
        self.thr_ua1 = _threshold(acc["p_ua1"])
        self.ua1, self.ua2 = acc["ua1"].astype(np.int16), acc["ua2"].astype(np.int16)
        self.ip_off = np.concatenate([[0], np.cumsum(acc["ip_lens"])[:-1]]).astype(np.int32)
        self.ip_lens = acc["ip_lens"].astype(np.float32)
        self.ip_vals = ip_unique[acc["ip_vals"]].astype(np.int32)  # the account's IPs as unique-IP indices
        self.ip_asn_number = ip_asn_number.astype(np.int32)   # unique IP index -> ASN number
        self.home_bias = acc["ip_exp"] > 1.0
        lens = np.array([len(g) for g in tgroups], np.int64)
        self.tg_len = lens.astype(np.float32)
        self.tg_off = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.intp) if len(lens) else lens
        self.tg_vals = np.concatenate(tgroups).astype(np.intp) if tgroups else np.zeros(0, np.intp)
        self.tpl_hash, self.tpl_topic = tpl_hash.astype(np.uint64), tpl_topic.astype(np.int8)
        self.sample_rate, self.sample_cap = sample_rate, sample_cap
        q = (np.arange(QUANT) + 0.5) / QUANT
        from statistics import NormalDist
        zq = np.array([NormalDist().inv_cdf(x) for x in q])
        self.tok_in = np.exp(TOKENS_IN[:, :1] + TOKENS_IN[:, 1:] * zq).astype(np.float32).ravel()
        self.tok_out = np.exp(TOKENS_OUT[:, :1] + TOKENS_OUT[:, 1:] * zq).astype(np.float32).ravel()
        self.model_q = MODEL_Q.astype(np.int8).ravel()
        self.topic_q = TOPIC_Q.astype(np.int8)
        self.f_in = np.exp(acc["in_shift"]).astype(np.float32)
        self.f_out = np.exp(acc["out_shift"]).astype(np.float32)
        # keys: an account uses its first key until each later one takes over (rotation day)
        # second streams (rows after the accounts) use one fixed key each: the host's or a new one
        self.stream_key = None if stream_key is None else stream_key.astype(np.int32)
        kacct = np.repeat(np.arange(len(key_n)), key_n)
        later = np.arange(len(kacct)) > np.repeat(key_off, key_n)
        order = np.argsort(key_start[later], kind="stable")
        self.rot_day, self.rot_acct = key_start[later][order], kacct[later][order]
        self.key_off = key_off.astype(np.int32)
        self.weekday0 = dt.datetime.fromtimestamp(t0 / US_PER_S, dt.timezone.utc).weekday()

    def chunk(self, index: int, days: range) -> RequestChunk:
        """All requests of `days` (window-relative day numbers), sorted by timestamp."""
        rng = np.random.default_rng([self.seed, 0x5EC, index])
        d0 = days[0]
        parts = [self._when(d, d0, rng) for d in days]
        acc = np.concatenate([p[0] for p in parts])
        rel = np.concatenate([p[1] for p in parts])  # us since the chunk's first midnight
        n = len(acc)
        shift = max(1, int(n - 1).bit_length())
        if n and int(rel.max()) >= 1 << (63 - shift):  # cannot happen for chunks of up to ~1,000 days
            raise ValueError("chunk too large for 64-bit sort keys; use a smaller chunk_days")
        key = np.sort((rel << shift) | np.arange(n, dtype=np.int64))
        acc = acc[key & ((1 << shift) - 1)]
        ts = self.t0 + d0 * US_PER_DAY + (key >> shift)
        # the day of each row: rows are in time order, so every day is one slice
        bounds = np.searchsorted(ts, self.t0 + np.arange(d0, days[-1] + 2) * US_PER_DAY)
        return self._what(rng, ts, acc, days, bounds, index)

    def _when(self, d: int, d0: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Accounts sending a request on day `d` (one entry per request) and each request's time,
        in us since the midnight of day `d0`."""
        live = np.flatnonzero((self.start_day <= d) & (d < self.end_day) & (self.rate > 0))
        live = live[rng.random(len(live)) < self.p_active[live]]  # accounts active that day
        dow = (self.weekday0 + d) % 7
        prof = self.profile[live]
        k = self.burst[live]
        cnt = rng.poisson(self.rate[live] * WEEK_TABLE[prof, dow] * rng.gamma(k, 1.0 / k))
        acc = np.repeat(live, cnt)
        n = len(acc)
        # one 64-bit draw per request: 12 bits pick the local hour (the profile's quantile table),
        # 32 bits the instant within that hour, 20 bits the scheduler slot of synchronised accounts
        r = rng.bit_generator.random_raw(n)
        col = (r >> np.uint64(52)).astype(np.intp)
        within = ((r & np.uint64(0xFFFFFFFF)) * np.uint64(US_PER_H) >> np.uint64(32)).view(np.int64)
        local = self.hour_us[np.repeat(prof * QUANT, cnt) + col] + within
        utc = np.mod(local - np.repeat(self.tz_us[live], cnt), US_PER_DAY)
        sy = np.repeat(self.sync[live], cnt)
        synced = np.flatnonzero(sy >= 0)
        if len(synced):
            g = sy[synced]
            slots = np.random.default_rng([self.seed, 0x51C, d]).random((len(self.sync_slots), 512))
            lane = ((r[synced] >> np.uint64(32)) & np.uint64(0xFFFFF)).astype(np.int64)
            j = (lane * self.sync_slots[g]) >> 20
            at = slots[g, j] * 86400.0
            if self.has_window:
                at = np.where(self.win[g], self.win_start[g] + slots[g, j] * self.win_len[g], at)
            sec = np.mod(at + np.abs(rng.normal(0, 1, len(synced))) * self.sync_jitter[g], 86400.0)
            utc[synced] = (sec * US_PER_S).astype(np.int64)
        if d != d0:
            utc += (d - d0) * US_PER_DAY
        return acc, utc

    def _what(self, rng: np.random.Generator, ts: np.ndarray, acc: np.ndarray, days: range,
              bounds: np.ndarray, index: int = 0) -> RequestChunk:
        """Every other column of the time-ordered rows `acc`."""
        n = len(acc)
        # twelve independent uint16 lanes per row (three 64-bit draws)
        lanes = rng.bit_generator.random_raw(3 * n).view(np.uint16).reshape(12, n)
        # Key in use that day (accounts rotating keys have several).
        key = np.empty(n, np.int32)
        for i, d in enumerate(days):
            cur = self.key_off.copy()
            np.add.at(cur, self.rot_acct[:np.searchsorted(self.rot_day, d, side="right")], 1)
            if self.stream_key is not None:
                cur = np.concatenate([cur, self.stream_key])
            key[bounds[i]:bounds[i + 1]] = cur[acc[bounds[i]:bounds[i + 1]]]
        # Templated or organic prompt.
        ti = np.flatnonzero(lanes[0] < self.thr_tpl[acc])
        tpl = np.full(n, -1, np.intp)
        g = self.tgroup[acc[ti]]
        pick = (lanes[1][ti] * (1.0 / _LANE) * self.tg_len[g]).astype(np.intp)
        tpl[ti] = self.tg_vals[self.tg_off[g] + pick]
        h = rng.bit_generator.random_raw(n)
        if len(ti):
            # near duplicates: the template's hash with 0-4 bits flipped (6 bits of `r` per position)
            r = rng.bit_generator.random_raw(len(ti))
            masks = [np.zeros(len(ti), np.uint64)]
            for i in range(4):
                masks.append(masks[-1] | np.left_shift(np.uint64(1), (r >> np.uint64(6 * i)) & np.uint64(63)))
            nflip = (lanes[10][ti].astype(np.uint32) * 5) >> 16
            h[ti] = self.tpl_hash[tpl[ti]] ^ np.choose(nflip, masks)
            if self.has_flips:
                para = np.flatnonzero(self.flip_lo[g] >= 0)
                if len(para):
                    gp = g[para]
                    prng = np.random.default_rng([self.seed, 0xF11B, index])
                    lo, hi = self.flip_lo[gp].astype(np.int64), self.flip_hi[gp].astype(np.int64)
                    want = lo + (prng.random(len(para)) * (hi - lo + 1)).astype(np.int64)
                    h[ti[para]] = self.tpl_hash[tpl[ti[para]]] ^ _exact_masks(want, prng)
        # Topic: the account's first or second favourite, else the popularity mix; templates fix it.
        u = lanes[2]
        topic = np.where(u < self.thr_t1[acc], self.t1[acc],
                         np.where(u < self.thr_t12[acc], self.t2[acc], self.topic_q[lanes[3] >> _QSHIFT]))
        topic[ti] = self.tpl_topic[tpl[ti]]
        tq = topic.astype(np.intp) * QUANT
        model = np.where(lanes[4] < self.thr_model[acc], self.model_pref[acc],
                         self.model_q[tq + (lanes[5] >> _QSHIFT)])
        # Token lengths: per-topic lognormal quantile tables times the account's own factor.
        tin = self.tok_in[tq + (lanes[6] >> _QSHIFT)] * self.f_in[acc]
        tout = self.tok_out[tq + (lanes[7] >> _QSHIFT)] * self.f_out[acc]
        # Network and client: home-biased accounts mostly use their first IP.
        w = lanes[8] * np.float32(1.0 / _LANE)
        w = np.where(self.home_bias[acc], w * w, w)
        ip = self.ip_vals[self.ip_off[acc] + (w * self.ip_lens[acc]).astype(np.int32)]
        ua = np.where(lanes[9] < self.thr_ua1[acc], self.ua1[acc], self.ua2[acc])
        k = rng.binomial(n, self.sample_rate) if n else 0
        cap = int(np.ceil(self.sample_cap * len(days) / max(self.days, 1)))
        sample = np.sort(rng.choice(n, k, replace=False))[:cap] if k else np.zeros(0, np.intp)
        return RequestChunk(
            ts=ts, account=acc if self.acct_out is None else self.acct_out[acc], key=key, model=model,
            input_tokens=np.clip(tin, 1, 200_000).astype(np.int32),
            output_tokens=np.clip(tout, 1, 32_000).astype(np.int32),
            ip=ip, asn=self.ip_asn_number[ip], ua=ua, prompt_hash=h,
            topic=topic, sample=sample, sample_tpl=tpl[sample])

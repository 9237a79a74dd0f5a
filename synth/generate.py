"""Orchestrator: config -> account-level tables -> requests streamed day by day -> manifest.

Size (~430 lines): one orchestrator; its steps (ids, account tables, requests day by day, manifest)
share the id maps and the day loop, so they stay together.

Ids are issued as a provider would, independently of rings: accounts are ordered by signup time and
get random-looking ids; key, payment, device and card identifiers are random-looking too. Nothing in
an id, a row position or a dictionary order tells which group an account came from.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from farmhunt.core import interrupt
from farmhunt.core.atomic import atomic_dir, check_out
from farmhunt.core.contract import ACCOUNTS, API_KEYS, ASN_KINDS, ASNS, BENIGN_KIND, CARD_FUNDING, LABELS, PAYMENT_STATUS, PAYMENTS, PLANS, PROMPTS, TOPICS
from farmhunt.core.errors import ConfigError
from synth import GENERATOR_VERSION
from synth.behaviour import MODELS
from synth.config import WorldConfig, config_to_dict, ring_params
from synth.identity import COUNTRY_CODES
from synth.population import generate_population
from synth.requests import RequestChunk, RequestEmitter
from synth.rings import KINDS
from synth.rings.base import RingContext
from synth.world import US_PER_DAY, US_PER_H, US_PER_S, AccountBlock, Builder, concat_blocks
from synth.writer import COMPACT_COLUMNS, RequestWriter, compact_codes, write_manifest, write_table

Progress = Callable[[str, int, int], None]


# byte -> its two lower-case hex digits, as one little-endian uint16 (first digit in the low byte)
_HEX2 = np.array([ord(f"{b:02x}"[0]) | ord(f"{b:02x}"[1]) << 8 for b in range(256)], np.uint16)


def hex_ids(rng: np.random.Generator, n: int, prefix: str, nbytes: int) -> pl.Series:
    """n random-looking ids `prefix` + 2*nbytes hex chars (unique with overwhelming probability)."""
    if n == 0:
        return pl.Series([], dtype=pl.String)
    raw = np.frombuffer(rng.bytes(n * nbytes), np.uint8).reshape(n, nbytes)
    head = np.zeros((n, 8), np.uint8)  # distinct first 8 bytes: distinct ids (else compare whole ids)
    head[:, :min(8, nbytes)] = raw[:, :8]
    h = np.sort(head.view(np.uint64).ravel())
    if (h[1:] == h[:-1]).any() and len(np.unique(raw.view(np.dtype((np.void, nbytes))).ravel())) != n:
        return hex_ids(rng, n, prefix, nbytes + 1)  # astronomically unlikely; keep ids unique anyway
    # fixed-width strings written straight into an Arrow buffer: prefix, then two hex digits per byte
    p = np.frombuffer(prefix.encode(), np.uint8)
    w = len(p) + 2 * nbytes
    buf = np.empty((n, w), np.uint8)
    buf[:, :len(p)] = p
    buf[:, len(p):] = _HEX2[raw].view(np.uint8)
    return _string_series(np.arange(0, (n + 1) * w, w, dtype=np.int64), buf)


def _string_series(offsets: np.ndarray, data: np.ndarray) -> pl.Series:
    """A String series over int64 `offsets` into the utf-8 bytes `data` (zero-copy, via Arrow)."""
    arr = pa.Array.from_buffers(pa.large_string(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    return pl.Series(_CArray(arr))


class _CArray:
    """Hands an Arrow array to polars through the Arrow C data interface only (zero-copy): polars'
    pyarrow path (`pl.from_arrow`) first imports pyarrow.compute, a tenth of a second per run."""

    def __init__(self, array: pa.Array):
        self.array = array

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
        return self.array.__arrow_c_array__(requested_schema)


_OCTET_LEN = np.array([len(str(v)) for v in range(256)])
_OCTET_DIGITS = np.array([[ord(c) for c in f"{v:<3}"] for v in range(256)], np.uint8)  # left-aligned


def ip_strings(ips: np.ndarray) -> pl.Series:
    """Dotted-quad strings of IPv4 addresses (ints), written straight into an Arrow string buffer."""
    ips = np.asarray(ips, np.int64)
    n = len(ips)
    octets = np.stack([(ips >> sh) & 255 for sh in (24, 16, 8, 0)], axis=1)
    lens = _OCTET_LEN[octets]
    off = np.zeros(n + 1, np.int64)
    np.cumsum(lens.sum(axis=1) + 3, out=off[1:])
    data = np.empty(int(off[-1]), np.uint8)
    pos = off[:-1].copy()
    for k in range(4):
        if k:
            data[pos] = ord(".")
            pos += 1
        for j in range(3):
            m = lens[:, k] > j
            data[pos[m] + j] = _OCTET_DIGITS[octets[m, k], j]
        pos += lens[:, k]
    return _string_series(off, data)


def build_blocks(b: Builder, cfg: WorldConfig) -> tuple[list[AccountBlock], list[dict]]:
    """The benign population and every ring, with ring metadata for the manifest."""
    blocks = [generate_population(b, cfg.benign)]
    rings: list[dict] = []
    per_kind: dict[str, int] = {}
    for i, spec in enumerate(cfg.rings):
        kind = KINDS[spec.kind]
        params = ring_params(spec, i)
        label = spec.design or spec.kind   # the design name is the label's ring_kind
        for j in range(spec.count):
            rng = b.rng("ring", i, j)
            size = spec.size if spec.size is not None else int(rng.integers(spec.size_min, spec.size_max + 1))
            per_kind[label] = per_kind.get(label, 0) + 1
            ring_id = f"{label}-{per_kind[label]:03d}"
            blk = kind.generate(b, RingContext(size, spec.camouflage, params, ring_id, rng))
            if blk.n != size:
                raise RuntimeError(f"{spec.kind} produced {blk.n} accounts, expected {size}")
            blk.ring_id, blk.ring_kind, blk.is_fraud = ring_id, label, kind.is_fraud
            blocks.append(blk)
            ring = {"ring_id": ring_id, "kind": spec.kind, "is_fraud": kind.is_fraud, "size": size,
                    "camouflage": spec.camouflage, "config_index": i}
            if spec.design is not None:   # scenario worlds: the design and every knob value it used
                ring["design"] = spec.design
                ring["params"] = dataclasses.asdict(params)
                if blk.streams is not None:
                    ring["streams"] = int(blk.streams.n)
            rings.append(ring)
    return blocks, rings


def _streams(blocks: list[AccountBlock], inv: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray,
                                                                    np.ndarray, np.ndarray] | None:
    """Second traffic streams of all blocks: their per-row arrays, host account (signup order), whether
    each uses a new key of the host, and that key's creation instant. None when there are none."""
    offs = np.concatenate([[0], np.cumsum([bl.n for bl in blocks])[:-1]]).astype(np.int64)
    sb = [(bl.streams, o) for bl, o in zip(blocks, offs) if bl.streams is not None and bl.streams.n]
    if not sb:
        return None
    s_acc, _ = concat_blocks([x for x, _ in sb])
    s_acc["ip_vals"] = np.concatenate([x.ip_vals for x, _ in sb])
    host = inv[np.concatenate([np.asarray(x.host, np.int64) + o for x, o in sb])]
    new_key = np.concatenate([np.asarray(x.new_key, bool) for x, _ in sb])
    key_at = np.concatenate([np.asarray(x.key_at, np.int64) for x, _ in sb])
    return s_acc, host, new_key, key_at


# Chunks made ahead of the writer: enough that the emitter thread keeps working while the main
# thread builds and writes the account-level tables, bounded in rows so big worlds stay within memory.
_AHEAD_ROWS = 2_000_000
_AHEAD_MAX = 16
_WORKERS = 1


def generate(config: WorldConfig, out: str | Path, fmt: str = "parquet",
             progress: Progress | None = None, *, force: bool = False,
             inputs: tuple[str | Path | None, ...] = ()) -> dict[str, Any]:
    """Generate the world of `config` into directory `out` (atomically); return a summary dict.

    `out` follows the output rule of `farmhunt.core.atomic` (absent, empty or an earlier world;
    `force` replaces a foreign directory); `inputs` are paths it must not overwrite."""
    if fmt not in ("parquet", "csv"):
        raise ConfigError(f"'format': 'parquet' or 'csv', got {fmt!r}")
    config.validate()
    check_out(out, "world", inputs=inputs, force=force)
    step = progress or (lambda stage, done, total: None)
    step("accounts", 0, 1)
    b = Builder(config)
    blocks, rings = build_blocks(b, config)
    acc, which = concat_blocks(blocks)
    n = len(which)

    # ---- signup order: sort every per-account array by creation time
    rng = b.rng("ids")
    order = np.lexsort((rng.random(n), acc["created"]))
    inv = np.empty(n, np.int64)
    inv[order] = np.arange(n)
    ip_off = np.concatenate([[0], np.cumsum(acc["ip_lens"])[:-1]])
    lens = acc["ip_lens"][order]
    src = np.repeat(ip_off[order], lens) + (np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens))
    acc["ip_vals"] = acc["ip_vals"][src]
    acc["ip_lens"] = lens
    for k in list(acc):
        if k not in ("ip_vals", "ip_lens"):
            acc[k] = acc[k][order]
    which = which[order]
    acc["created"] = np.minimum(acc["created"], b.t_end - US_PER_S)
    acc["start_day"] = np.maximum(acc["start_day"], np.maximum(b.day_of(acc["created"]) + 1, 0))

    ip_int, ip_asn_idx = b.ip_table()
    uniq, ip_unique = np.unique(ip_int, return_inverse=True)
    ip_asn_number = np.zeros(len(uniq), np.int32)
    ip_asn_number[ip_unique] = b.asn_number[ip_asn_idx]

    # ---- api keys: a first key after signup, rotations at day boundaries, revoked at bans
    krng = b.rng("keys")
    rot = acc["rotation_days"]
    span = np.maximum(acc["end_day"] - acc["start_day"], 0)
    n_rot = np.where(np.isfinite(rot), np.floor(span / np.where(np.isfinite(rot), rot, 1.0)), 0).astype(np.int64)
    n_rot = np.minimum(n_rot, np.maximum(span - 1, 0))
    key_n = 1 + n_rot
    key_acct = np.repeat(np.arange(n), key_n)
    key_off = np.concatenate([[0], np.cumsum(key_n)[:-1]]).astype(np.int64)
    kj = np.arange(len(key_acct)) - key_off[key_acct]
    rot_k = np.where(np.isfinite(rot), rot, 1.0)[key_acct]
    key_start = np.where(kj == 0, -10**6, acc["start_day"][key_acct] + np.maximum(1, np.round(kj * rot_k))).astype(np.int64)
    # keep starts strictly increasing per account
    key_start = np.where(kj == 0, key_start, np.maximum(key_start, acc["start_day"][key_acct] + kj))

    # ---- second streams (leaked keys, takeovers): extra emitter rows written as their host account;
    # a takeover's stream uses a new key of the host (appended after every account's own keys)
    streams = _streams(blocks, inv)
    emit_acc, acct_out, stream_key = acc, None, None
    ext_acct = np.zeros(0, np.int64)
    ext_at = np.zeros(0, np.int64)
    if streams is not None:
        s_acc, host, new_key, key_at = streams
        leak_host = host[~new_key]
        if np.isfinite(acc["rotation_days"][leak_host]).any():
            raise RuntimeError("a leaked-key stream's host account must not rotate keys")
        emit_acc = {k: np.concatenate([acc[k], s_acc[k]]) for k in acc}
        acct_out = np.concatenate([np.arange(n), host])
        ext_acct = host[new_key]
        ext_at = np.maximum(key_at[new_key], acc["created"][ext_acct] + US_PER_S)
        stream_key = key_off[host].copy()
        stream_key[new_key] = len(key_acct) + np.arange(int(new_key.sum()))

    # ---- requests are made in a worker thread from here on (numpy releases the GIL), while this
    # thread builds the account-level tables and then writes chunk after chunk
    emitter = RequestEmitter(
        seed=config.seed, t0=b.t0, days=b.days, acc=emit_acc, ip_unique=ip_unique, ip_asn_number=ip_asn_number,
        key_off=key_off, key_n=key_n, key_start=key_start, tgroups=b.tgroups,
        tpl_hash=np.array(b.tpl_hash, np.uint64), tpl_topic=np.array(b.tpl_topic, np.int64),
        sync_slots=np.array(b.sync_slots, np.int64), sync_jitter=np.array(b.sync_jitter, float),
        sample_rate=config.prompt_sample_rate, sample_cap=config.prompt_sample_cap,
        tg_flips=b.tg_flips, sync_window=b.sync_window, acct_out=acct_out, stream_key=stream_key)
    chunks = [range(d, min(d + config.chunk_days, b.days)) for d in range(0, b.days, config.chunk_days)]
    live_days = np.clip(np.minimum(emit_acc["end_day"], b.days) - np.maximum(emit_acc["start_day"], 0), 0, None)
    per_chunk = max(float(emit_acc["rate"] @ (emit_acc["p_active"] * live_days)) / len(chunks), 1.0)
    ahead = int(np.clip(_AHEAD_ROWS / per_chunk, 2, _AHEAD_MAX))
    n_values = {"account_id": n, "key_id": len(key_acct) + len(ext_acct), "ip": len(uniq), "user_agent": len(b.ua)}

    def make(i: int) -> tuple[RequestChunk, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Chunk i and its per-row-group dictionary codes (made in the worker, to spare the writer)."""
        ch = emitter.chunk(i, chunks[i])
        return ch, {col: compact_codes(getattr(ch, attr), n_values[col]) for col, attr in COMPACT_COLUMNS.items()}

    with cf.ThreadPoolExecutor(_WORKERS, thread_name_prefix="synth-requests") as pool:
        futures: deque[cf.Future] = deque()
        submitted = 0

        def submit_ahead() -> None:
            nonlocal submitted
            while submitted < len(chunks) and len(futures) < ahead:
                futures.append(pool.submit(make, submitted))
                submitted += 1

        submit_ahead()
        try:
            # ids first: the request writer needs the dictionaries of account, key and IP strings
            account_id = hex_ids(rng, n, "acct_", 8)  # the stream that drew the signup-order tie-breaks
            key_ids = hex_ids(b.rng("key-ids"), len(key_acct) + len(ext_acct), "key_", 12)  # key index -> id
            ip_str = ip_strings(uniq)
            dicts = {
                "account_id": account_id.to_arrow(), "key_id": key_ids.to_arrow(), "model": pa.array(list(MODELS)),
                "ip": ip_str.to_arrow(), "user_agent": pa.array(list(b.ua)), "topic": pa.array(list(TOPICS)),
            }
            out = Path(out)
            rows: dict[str, int] = {}
            samples: list[dict[str, np.ndarray]] = []
            with atomic_dir(out, kind="world", inputs=inputs, force=force) as tmp:
                writer = RequestWriter(tmp, fmt, dicts)

                def write_requests() -> int:
                    """Write chunk after chunk as they come (in a thread: pyarrow releases the GIL)."""
                    step("requests", 0, len(chunks))
                    for i in range(len(chunks)):
                        interrupt.check()  # a signal stops the writer at the next chunk, not at the end
                        ch, compacted = futures.popleft().result()
                        submit_ahead()
                        writer.write(ch, compacted)
                        samples.append({"ts": ch.ts[ch.sample], "account": ch.account[ch.sample],
                                        "hash": ch.prompt_hash[ch.sample], "tpl": ch.sample_tpl,
                                        "topic": ch.topic[ch.sample]})
                        step("requests", i + 1, len(chunks))
                    writer.close()
                    return writer.rows

                with cf.ThreadPoolExecutor(1, thread_name_prefix="synth-writer") as wpool:
                    written = wpool.submit(write_requests)
                    tables = _account_tables(b, blocks, acc, which, inv, account_id, key_ids, ip_str, ip_unique,
                                             key_acct, key_n, key_start, kj, krng, ext_acct, ext_at)
                    for name in ("accounts", "payments", "api_keys", "asns", "labels"):
                        write_table(tables[name], tmp, name, fmt)
                        rows[name] = tables[name].height
                    rows["requests"] = written.result()
                prompts = _prompts(b, samples, account_id, acc)
                write_table(prompts, tmp, "prompts", fmt)
                rows["prompts"] = prompts.height
                manifest = write_manifest(tmp, version=GENERATOR_VERSION, config=config_to_dict(config),
                                          seed=config.seed, rows=rows, rings=rings, fmt=fmt,
                                          scenario=config.scenario)
        finally:
            for f in futures:
                f.cancel()
    step("done", 1, 1)
    labels = tables["labels"]
    assert (labels["ring_kind"] == BENIGN_KIND).sum() == config.benign.accounts
    per_kind = labels.group_by("ring_kind").agg(pl.len().alias("accounts"), pl.col("ring_id").n_unique().alias("rings"))
    return {"out": str(out), "rows": rows, "rings": rings, "manifest": manifest,
            "accounts_per_kind": {r["ring_kind"]: r["accounts"] for r in per_kind.iter_rows(named=True)}}


def _account_tables(b: Builder, blocks: list[AccountBlock], acc: dict[str, np.ndarray], which: np.ndarray,
                    inv: np.ndarray, account_id: pl.Series, key_ids: pl.Series, ip_str: pl.Series,
                    ip_unique: np.ndarray, key_acct: np.ndarray, key_n: np.ndarray, key_start: np.ndarray,
                    kj: np.ndarray, krng: np.random.Generator, ext_acct: np.ndarray | None = None,
                    ext_at: np.ndarray | None = None) -> dict[str, pl.DataFrame]:
    """The accounts, payments, api_keys, labels and asns tables."""
    n = len(which)

    # ---- accounts
    dev_ids = hex_ids(b.rng("devices"), b.n_devices, "", 16)
    org_ids = hex_ids(b.rng("orgs"), max(b.n_orgs, 1), "org_", 6)
    pools = b.pools
    name = pools.first[acc["first"]] + " " + pools.last[acc["last"]]
    email = pl.Series("email", acc["email"], dtype=pl.String)
    dup = pl.select(pl.int_range(pl.len()).over(email)).to_series()
    if dup.max():
        parts = email.str.split_exact("@", 1).struct.unnest()
        email = pl.select(pl.when(dup > 0).then(parts["field_0"] + dup.cast(pl.String) + "@" + parts["field_1"])
                          .otherwise(email)).to_series()
    org = acc["org"]
    accounts = pl.DataFrame({
        "account_id": account_id,
        "created_at": pl.Series(acc["created"]).cast(pl.Datetime("us", "UTC")),
        "email": email, "name": pl.Series(name, dtype=pl.String),
        "country": pl.Series(np.array(COUNTRY_CODES, dtype=object)[acc["country"]], dtype=pl.String),
        "signup_ip": ip_str.gather(ip_unique[acc["signup_ip"]]),
        "device_id": dev_ids.gather(acc["device"]),
        "phone": pl.Series(acc["phone"].tolist(), dtype=pl.String),
        "org_id": org_ids.gather(np.maximum(org, 0)).set(pl.Series(org < 0), None) if (org >= 0).any()
        else pl.Series([None] * n, dtype=pl.String),
        "plan": pl.Series(np.array(PLANS, dtype=object)[acc["plan"]], dtype=pl.String),
    }, schema=ACCOUNTS.schema)

    # ---- payments
    offs = np.concatenate([[0], np.cumsum([bl.n for bl in blocks])[:-1]])
    pay_acct = inv[np.concatenate([bl.pay_acct + o for bl, o in zip(blocks, offs)])]
    pay_ts = np.concatenate([bl.pay_ts for bl in blocks])
    pay_ts = np.clip(pay_ts, acc["created"][pay_acct] + 30 * US_PER_S, b.t_end - US_PER_S)
    porder = np.lexsort((pay_acct, pay_ts))
    pay_acct, pay_ts = pay_acct[porder], pay_ts[porder]
    pay_card = np.concatenate([bl.pay_card for bl in blocks])[porder]
    card_bin, card_country, card_funding = b.card_table()
    card_fp = hex_ids(b.rng("cards"), max(b.n_cards, 1), "", 8)
    payments = pl.DataFrame({
        "payment_id": hex_ids(b.rng("payments"), len(porder), "pay_", 10),
        "account_id": account_id.gather(pay_acct),
        "ts": pl.Series(pay_ts).cast(pl.Datetime("us", "UTC")),
        "amount_usd": np.concatenate([bl.pay_amount for bl in blocks])[porder],
        "card_fingerprint": card_fp.gather(pay_card),
        "card_bin": pl.Series(card_bin[pay_card]).cast(pl.String),
        "card_country": pl.Series(np.array(COUNTRY_CODES, dtype=object)[card_country[pay_card]], dtype=pl.String),
        "card_funding": pl.Series(np.array(CARD_FUNDING, dtype=object)[card_funding[pay_card]], dtype=pl.String),
        "status": pl.Series(np.array(PAYMENT_STATUS, dtype=object)[
            np.concatenate([bl.pay_status for bl in blocks])[porder]], dtype=pl.String),
    }, schema=PAYMENTS.schema)

    # ---- api keys (their schedule was drawn with the emitter's inputs)
    created_first = acc["created"][key_acct] + (krng.uniform(60, 2 * 3600, len(key_acct)) * US_PER_S).astype(np.int64)
    created_first = np.minimum(created_first, np.maximum(b.t0 + acc["start_day"][key_acct] * US_PER_DAY - US_PER_S,
                                                         acc["created"][key_acct] + US_PER_S))
    day_start = b.t0 + key_start * US_PER_DAY
    key_created = np.where(kj == 0, created_first, day_start - (krng.uniform(0, 3, len(key_acct)) * US_PER_H).astype(np.int64))
    nxt = np.arange(len(key_acct)) + 1
    has_next = kj < key_n[key_acct] - 1
    revoked = np.full(len(key_acct), -1, np.int64)
    nx = np.minimum(nxt, len(key_acct) - 1)
    revoked[has_next] = (day_start[nx] + (krng.uniform(0, 2, len(key_acct)) * US_PER_H).astype(np.int64))[has_next]
    ban = acc["ban"][key_acct]
    last = ~has_next & (ban >= 0)
    revoked[last] = ban[last]
    if ext_acct is not None and len(ext_acct):  # takeovers' new keys, never revoked in the window
        key_acct = np.concatenate([key_acct, ext_acct])
        key_created = np.concatenate([key_created, ext_at])
        revoked = np.concatenate([revoked, np.full(len(ext_acct), -1, np.int64)])
    korder = np.lexsort((key_acct, key_created))
    api_keys = pl.DataFrame({
        "key_id": key_ids.gather(korder),
        "account_id": account_id.gather(key_acct[korder]),
        "created_at": pl.Series(key_created[korder]).cast(pl.Datetime("us", "UTC")),
        "revoked_at": pl.Series(np.where(revoked[korder] >= 0, revoked[korder], 0)).cast(pl.Datetime("us", "UTC"))
        .set(pl.Series(revoked[korder] < 0), None),
    }, schema=API_KEYS.schema)

    # ---- labels and asns
    kinds = np.array([bl.ring_kind for bl in blocks], dtype=object)
    rids = np.array([bl.ring_id for bl in blocks], dtype=object)
    fraud = np.array([bl.is_fraud for bl in blocks])
    labels = pl.DataFrame({
        "account_id": account_id, "ring_id": pl.Series(rids[which].tolist(), dtype=pl.String),
        "ring_kind": pl.Series(kinds[which], dtype=pl.String), "is_fraud": fraud[which],
    }, schema=LABELS.schema).sort("account_id")
    asns = pl.DataFrame({
        "asn": b.asn_number, "org": b.asn_org,
        "kind": pl.Series(np.array(ASN_KINDS, dtype=object)[b.asn_kind], dtype=pl.String),
    }, schema=ASNS.schema).sort("asn")
    return {"accounts": accounts, "payments": payments, "api_keys": api_keys, "asns": asns, "labels": labels}


def _prompts(b: Builder, samples: list[dict[str, np.ndarray]], account_id: pl.Series,
             acc: dict[str, np.ndarray]) -> pl.DataFrame:
    """Readable text for the sampled requests: template text + filler words, or organic sentences."""
    s = {k: np.concatenate([x[k] for x in samples]) for k in samples[0]}
    m = len(s["ts"])
    rng = b.rng("prompt-text")
    pools = b.pools
    used = np.flatnonzero(np.bincount(s["tpl"][s["tpl"] >= 0], minlength=len(b.tpl_hash)))
    tpl_text = np.full(len(b.tpl_hash) + 1, "", dtype=object)  # index -1 (organic) -> ""
    tpl_text[used] = b.template_text(used)
    words = pools.words
    filler = words[rng.integers(0, len(words), m)] + " " + words[rng.integers(0, len(words), m)]
    sent = pools.sentences
    organic = sent[rng.integers(0, len(sent), m)] + " " + sent[rng.integers(0, len(sent), m)]
    text = np.where(s["tpl"] >= 0, tpl_text[s["tpl"]] + " " + filler, organic)
    return pl.DataFrame({
        "ts": pl.Series(s["ts"]).cast(pl.Datetime("us", "UTC")),
        "account_id": account_id.gather(s["account"]),
        "prompt_hash": pl.Series(s["hash"], dtype=pl.UInt64),
        "text": pl.Series(text, dtype=pl.String),
    }, schema=PROMPTS.schema)

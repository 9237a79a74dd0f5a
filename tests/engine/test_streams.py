"""Second traffic streams (leaked keys, takeovers): detection, linkage between victims, look-alikes.

The world is the tiny fixture with 20 leaked keys, 10 takeovers of one operator and 30 benign
look-alikes (travellers, moves to a cloud, nightly batch jobs): see `tests.engine.stream_worlds`.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from farmhunt.core.validate import ContractError
from farmhunt.core.world import load_world
from farmhunt.engine.pipeline import detect_path
from farmhunt.engine.polars.features import account_utc_offset
from farmhunt.engine.polars.request_store import build_store
from farmhunt.engine.polars.streams import STREAM_VALUES_FILE, STREAMS_FILE, compute_streams
from farmhunt.engine.polars.templates import find_templates
from farmhunt.engine.settings import FeatureSettings, StreamSettings, TemplateSettings
from tests.engine.stream_worlds import CHANGE_DAY, T0, StreamWorld, build
from tests.paths import TINY


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> StreamWorld:
    return build(tmp_path_factory.mktemp("streams") / "world")


@pytest.fixture(scope="module")
def results(world: StreamWorld, tmp_path_factory: pytest.TempPathFactory):
    return detect_path(world.path, tmp_path_factory.mktemp("streams-out") / "res")


def _streams(path, settings: FeatureSettings | None = None, tmp=None):
    w = load_world(path)
    store = build_store(w, tmp, 3_000_000)
    ts = TemplateSettings()
    t = find_templates(store.parts, ts)
    st, va = compute_streams(w, store, t, settings or FeatureSettings(), ts, account_utc_offset(w["accounts"]))
    st = store.with_account_id(st.lazy()).collect().sort("account_id", "key_id")
    return st, store.with_account_id(va.lazy()).collect().sort("account_id", "signal", "value")


def test_victims_have_second_streams_and_lookalikes_do_not(results, world: StreamWorld) -> None:
    acc = results.accounts
    second = set(acc.filter(pl.col("second_stream") == 1)["account_id"])
    found = len(second & set(world.victims))
    assert found >= 0.9 * len(world.victims), f"{found} of {len(world.victims)} victims have a second stream"
    assert not second & set(world.lookalikes), (
        f"look-alikes with a second stream: {sorted(second & set(world.lookalikes))}"
    )
    # The tiny world's own benign accounts (not touched): well under 0.5% with a second stream.
    labels = pl.read_parquet(TINY / "labels.parquet")
    benign = (
        set(labels.filter(pl.col("ring_kind") == "benign")["account_id"]) - set(world.victims) - set(world.lookalikes)
    )
    assert len(second & benign) <= 0.005 * len(benign)


def test_second_stream_since_and_share(results, world: StreamWorld) -> None:
    v = results.accounts.filter(pl.col("account_id").is_in(world.victims), pl.col("second_stream") == 1)
    change = T0 + timedelta(days=CHANGE_DAY)
    since = v["second_stream_since"]
    assert since.min() >= change and since.max() <= change + timedelta(days=1), (since.min(), since.max())
    # About 260 stream requests beside a few dozen of the owner's: the stream is most of the traffic.
    assert v["second_stream_share"].median() > 0.5
    # The operator's two hosting ASNs (one of them is already the owner's own network for a few victims).
    assert v["second_stream_asns"].is_between(1, 2).all() and (v["second_stream_asns"] == 2).mean() >= 0.9
    assert (v["second_stream_keys"] == 1).all()
    assert v["second_stream_hosting_share"].min() == 1.0


def test_victims_flagged_as_key_abuse_lookalikes_not(results, world: StreamWorld) -> None:
    acc = results.accounts
    v = acc.filter(pl.col("account_id").is_in(world.victims))
    assert v["flagged"].mean() >= 0.9, v.select("account_id", "flagged", "risk", "predicted_kind")
    assert (v.filter("flagged")["predicted_kind"] == "key_abuse").mean() >= 0.9
    look = acc.filter(pl.col("account_id").is_in(world.lookalikes))
    assert not look["flagged"].any(), look.filter("flagged").select("account_id", "risk", "predicted_kind")


def test_victims_linked_by_stream_relays_only(results, world: StreamWorld) -> None:
    edges = results.edges.explode("reasons").filter(pl.col("reasons").is_in(["stream_relay", "stream_template"]))
    victims = set(world.victims)
    ends = set(edges["src"]) | set(edges["dst"])
    assert ends, "no stream_relay / stream_template edges"
    assert ends <= victims, f"stream edges touch non-victims: {sorted(ends - victims)[:5]}"
    assert len(ends) >= 0.9 * len(victims)
    # Victims end up together: the largest cluster of victims holds most of them.
    cl = results.accounts.filter(pl.col("account_id").is_in(world.victims)).group_by("cluster_id").len()
    assert cl.drop_nulls("cluster_id")["len"].max() >= 0.6 * len(victims)


def test_evidence_reads_like_an_investigator_note(results, world: StreamWorld) -> None:
    v = results.accounts.filter(pl.col("account_id").is_in(world.takeover), pl.col("second_stream") == 1)
    text = v["second_stream_evidence"].to_list()
    assert text and all(t.startswith("key key_stolen_") for t in text), text[:2]
    assert all("shows a second stream since 2026-01-10" in t for t in text)
    assert all("new networks: hosting AS" in t for t in text)
    n = results.accounts.filter(pl.col("account_id").is_in(world.victims))["second_stream"].sum()
    assert all(f"shared with {n - 1} other accounts" in t for t in text), text[0]


def test_streams_kept_beside_the_store(results) -> None:
    store = results.path / "requests"
    st = pl.read_parquet(store / STREAMS_FILE)
    va = pl.read_parquet(store / STREAM_VALUES_FILE)
    assert st.filter("second").height == int(results.accounts["second_stream"].sum())
    assert set(va["signal"]) == {"stream_relay", "stream_template"}


def test_stricter_settings_find_fewer_and_runs_are_identical(world: StreamWorld, tmp_path) -> None:
    a, va = _streams(world.path, tmp=tmp_path / "a")
    b, vb = _streams(world.path, tmp=tmp_path / "b")
    assert a.equals(b) and va.equals(vb)
    strict = FeatureSettings(streams=StreamSettings(min_criteria=6))
    c, _ = _streams(world.path, strict, tmp=tmp_path / "c")
    assert 0 < c["second"].sum() < a["second"].sum()
    # Relay values come from the abusive streams only: every one is one of the operator's relay IPs.
    relay_codes = va.filter(pl.col("signal") == "stream_relay")["value"].unique().len()
    assert relay_codes == len(world.relay_ips)


def test_unchanged_world_has_no_second_streams_on_hard_negatives(tmp_path) -> None:
    st, va = _streams(TINY, tmp=tmp_path / "s")
    labels = pl.read_parquet(TINY / "labels.parquet")
    flagged = st.filter("second").join(labels, on="account_id")
    assert flagged.filter(~pl.col("is_fraud")).height == 0, flagged


def test_asns_country_finds_relays_on_residential_proxies(tmp_path) -> None:
    """Relays on residential ASNs abroad: without GeoIP only the other differences show; with the optional
    `asns.country` column the foreign networks count too, and look-alikes stay clear either way."""
    found = {}
    for geo in (False, True):
        w = build(tmp_path / f"w{geo}", relay="residential", geo=geo)
        st, _ = _streams(w.path, tmp=tmp_path / f"s{geo}")
        found[geo] = st.filter("second", pl.col("account_id").is_in(w.victims))["account_id"].n_unique()
        assert st.filter("second", pl.col("account_id").is_in(w.lookalikes)).is_empty()
        if geo:
            assert st.filter(pl.col("account_id").is_in(w.victims))["foreign_share"].median() == 1.0
        else:
            assert st["foreign_share"].is_null().all()
    assert found[True] >= 0.9 * 30 and found[True] >= found[False] + 5, found


def test_asns_country_is_optional_and_typed(tmp_path) -> None:
    w = build(tmp_path / "w", geo=True)
    assert load_world(w.path)["asns"].collect_schema()["country"] == pl.String
    assert "country" not in load_world(TINY)["asns"].collect_schema()
    asns = pl.read_parquet(w.path / "asns.parquet").with_columns(pl.lit(1.5).alias("country"))
    asns.write_parquet(w.path / "asns.parquet")
    with pytest.raises(ContractError, match="country"):
        load_world(w.path)


def test_key_abuse_member_without_its_own_second_stream_is_judged_alone() -> None:
    """Victims' namesakes and NAT neighbours end up in the victims' cluster (email, IP cliques: degree > 1);
    only members with a second stream of their own are the operator's victims."""
    from farmhunt.engine.scoring.model import SIGNALS, peripheral_members
    from farmhunt.engine.settings import ScoringSettings

    ids = ["v0", "v1", "v2", "namesake"]
    behaviour = {s.column: [0.0] * 4 for s in SIGNALS if not s.column.startswith("tie_")}
    features = pl.DataFrame({**behaviour, "account_id": ids, "second_stream": [1, 1, 1, 0], "n_keys_revoked": [0] * 4})
    membership = pl.DataFrame({"account_id": ids, "cluster_id": [3] * 4})
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]  # a clique: everyone has degree 3
    edges = pl.DataFrame(
        {"src": [a for a, _ in pairs], "dst": [b for _, b in pairs], "weight": [1.0] * 6, "reasons": [["card"]] * 6}
    )
    clusters = pl.DataFrame(
        {**{c: [0.0] for c in behaviour}, "cluster_id": [3], "flagged": [True], "predicted_kind": ["key_abuse"]}
    ).with_columns(pl.lit(0.75).alias("second_stream"))
    out = dict(peripheral_members(features, membership, clusters, {}, ScoringSettings(), edges=edges).iter_rows())
    assert out == {"v0": False, "v1": False, "v2": False, "namesake": True}
    # A member whose stream went unseen but who sends traffic through the operator's relay IP stays a victim.
    relayed = edges.with_columns(
        pl.when(pl.col("dst") == "namesake").then(pl.lit(["request_ip"])).otherwise(pl.col("reasons")).alias("reasons")
    )
    out = dict(peripheral_members(features, membership, clusters, {}, ScoringSettings(), edges=relayed).iter_rows())
    assert out["namesake"] is False

"""Peripheral members: a member of a flagged cluster is flagged with it only if it shows the abuse itself."""

from __future__ import annotations

import polars as pl

from farmhunt.engine.scoring.model import peripheral_members
from farmhunt.engine.settings import ScoringSettings

FARM = {"templated_share": 0.9, "night_share": 0.25, "output_input_ratio": 6.0, "capability_share": 0.95,
        "top_model_share": 1.0, "template_breadth": 60.0, "family_breadth": 30.0, "family_depth": 30.0}
HUMAN = {"templated_share": 0.0, "night_share": 0.02, "output_input_ratio": 0.4, "capability_share": 0.1,
         "top_model_share": 0.6, "template_breadth": 0.0, "family_breadth": 0.0, "family_depth": 0.0}
ZEROS = {"hosting_share": 0.0, "requests_per_active_day": 5.0, "topic_entropy": 0.2, "chargeback_rate": 0.0,
         "n_keys_revoked": 0, "decline_rate": 0.0, "micro_payment_share": 0.0, "second_stream": 0,
         "declined_small_auth": 0.0, "tested_card_spent": 0.0, "multi_country_cards": 0.0,
         "foreign_chargeback_rate": 0.0, "n_requests": 500}


def _cluster(kind_flagged: bool = True) -> pl.DataFrame:
    return pl.DataFrame([{"cluster_id": 7, "flagged": kind_flagged, "predicted_kind": "distillation_farm", **FARM,
                          **{k: v for k, v in ZEROS.items() if k != "n_keys_revoked"}, "key_rotation": 0.0}])


def test_namesake_clique_of_humans_is_peripheral_whatever_its_degree() -> None:
    # Five farm accounts plus three humans who share one name-only email address with each other and
    # with a farm account: the humans have degree 3 inside the cluster but none of its behaviour.
    ids = [f"f{i}" for i in range(5)] + ["h0", "h1", "h2"]
    rows = [FARM] * 5 + [HUMAN] * 3
    features = pl.DataFrame([{"account_id": a, **r, **ZEROS} for a, r in zip(ids, rows)])
    membership = pl.DataFrame({"account_id": ids, "cluster_id": [7] * len(ids)})
    out = dict(peripheral_members(features, membership, _cluster(), {}, ScoringSettings()).iter_rows())
    assert out == {"f0": False, "f1": False, "f2": False, "f3": False, "f4": False,
                   "h0": True, "h1": True, "h2": True}


def test_member_with_a_quarter_of_the_behaviour_stays_with_the_cluster() -> None:
    # A quiet farm member: templated and output-heavy like the farm, but with a day/night rhythm and
    # a human topic mix. Its farm score is above peripheral_share of the cluster's, so it stays flagged.
    quiet = {**HUMAN, "templated_share": 0.9, "output_input_ratio": 6.0}
    features = pl.DataFrame([{"account_id": a, **r, **ZEROS} for a, r in [("f0", FARM), ("q", quiet)]])
    membership = pl.DataFrame({"account_id": ["f0", "q"], "cluster_id": [7, 7]})
    out = dict(peripheral_members(features, membership, _cluster(), {}, ScoringSettings()).iter_rows())
    assert out == {"f0": False, "q": False}
    # ... and the bar is the setting: at peripheral_share 0.9 the same member is judged alone.
    out = dict(peripheral_members(features, membership, _cluster(), {}, ScoringSettings(peripheral_share=0.9))
               .iter_rows())
    assert out == {"f0": False, "q": True}


def test_members_own_expensive_benign_evidence_counts_against_its_own_behaviour() -> None:
    # A lab's eval runner inside a farm's cluster looks like the farm (templated, output-heavy capability
    # prompts from a bank; batches in office hours on several models), but it is an established account
    # billed on a clean shared card: judged alone. A farm member with the same behaviour and no such payer
    # stays with the cluster; so does a victim of key abuse whatever it pays.
    from farmhunt.engine.scoring.model import DEFAULT_TABLE

    runner = {**FARM, "night_share": 0.02, "top_model_share": 0.3}
    lab = {**runner, "established_payer": 1.0}
    farm = {**runner, "established_payer": 0.0}
    features = pl.DataFrame([{"account_id": a, **r, **ZEROS} for a, r in [("f0", farm), ("f1", farm), ("lab", lab)]])
    membership = pl.DataFrame({"account_id": ["f0", "f1", "lab"], "cluster_id": [7, 7, 7]})
    assert any(s.name == "established_payer" and not s.cheap for s in DEFAULT_TABLE.signals)
    out = dict(peripheral_members(features, membership, _cluster(), {}, ScoringSettings()).iter_rows())
    assert out == {"f0": False, "f1": False, "lab": True}
    abuse = _cluster().with_columns(pl.lit("key_abuse").alias("predicted_kind"), pl.lit(1.0).alias("second_stream"))
    victims = features.with_columns(pl.lit(1).alias("second_stream"))
    out = dict(peripheral_members(victims, membership, abuse, {}, ScoringSettings()).iter_rows())
    assert out == {"f0": False, "f1": False, "lab": False}


def test_few_requests_are_weak_evidence_of_the_clusters_behaviour() -> None:
    # A human who shares a residential relay IP with a farm: 11 requests, 3 of them at night and 6 on
    # capability topics. Measured on so few requests the shares look a little like the farm's; shrunk
    # toward the population baseline by n / (n + member_prior_requests) they do not, and the account is
    # judged alone. The same shares over 300 requests are real behaviour and keep the member flagged.
    noisy = {**HUMAN, "night_share": 0.27, "capability_share": 0.55, "output_input_ratio": 3.5,
             "top_model_share": 0.9, "family_breadth": 8.0, "family_depth": 8.0}
    rows = [("f0", FARM, 500), ("few", noisy, 11), ("many", noisy, 300)]
    features = pl.DataFrame([{"account_id": a, **r, **ZEROS, "n_requests": n} for a, r, n in rows])
    membership = pl.DataFrame({"account_id": ["f0", "few", "many"], "cluster_id": [7, 7, 7]})
    out = dict(peripheral_members(features, membership, _cluster(), {}, ScoringSettings()).iter_rows())
    assert out == {"f0": False, "few": True, "many": False}
    # Without the shrinkage (prior 0) the few requests count in full, as they did before.
    out = dict(peripheral_members(features, membership, _cluster(), {}, ScoringSettings(member_prior_requests=0))
               .iter_rows())
    assert out == {"f0": False, "few": False, "many": False}


def test_few_requests_tied_in_by_the_farms_prompt_content_count_in_full() -> None:
    # The same 11-request member, tied to the farm by paraphrases of its prompt bank: those few requests
    # are the operator's own, so they are not shrunk and the member stays flagged. Tied only by a
    # residential relay IP it is judged alone.
    noisy = {**HUMAN, "night_share": 0.27, "capability_share": 0.55, "output_input_ratio": 3.5,
             "top_model_share": 0.9, "family_breadth": 8.0, "family_depth": 8.0}
    features = pl.DataFrame([{"account_id": a, **r, **ZEROS, "n_requests": n}
                             for a, r, n in [("f0", FARM, 500), ("few", noisy, 11)]])
    membership = pl.DataFrame({"account_id": ["f0", "few"], "cluster_id": [7, 7]})

    def judged(reasons: list[str]) -> dict:
        edges = pl.DataFrame({"src": ["f0"], "dst": ["few"], "weight": [1.0], "reasons": [reasons]})
        return dict(peripheral_members(features, membership, _cluster(), {}, ScoringSettings(), edges=edges)
                    .iter_rows())

    assert judged(["prompt_family"]) == {"f0": False, "few": False}
    assert judged(["family_bank", "request_ip"]) == {"f0": False, "few": False}
    assert judged(["request_ip"]) == {"f0": False, "few": True}


def test_member_showing_another_fraud_familys_behaviour_stays_flagged() -> None:
    # A reseller account inside a distillation operator's cluster (it relays the operator's prompts, so
    # it shares its prompt families) shows little of the farm's behaviour but a reseller's on its own:
    # relay volume from hosting networks, many end users' topics, rotated keys and disputed stolen cards
    # over a dozen payments. It stays flagged with the cluster. A human with one disputed payment on a
    # foreign card shows the same rates on a single payment: shrunk by its payment count, that is weak
    # evidence and it is judged alone (without the shrinkage it would not be).
    reseller = {**HUMAN, **ZEROS, "requests_per_active_day": 300.0, "hosting_share": 0.8, "topic_entropy": 0.95,
                "chargeback_rate": 0.3, "foreign_chargeback_rate": 0.3, "n_keys_revoked": 4, "n_payments": 12}
    disputed = {**HUMAN, **ZEROS, "chargeback_rate": 1.0, "foreign_chargeback_rate": 1.0, "n_payments": 1}
    farm = {**FARM, **ZEROS, "n_payments": 3}
    features = pl.DataFrame([{"account_id": a, **r} for a, r in [("f0", farm), ("r", reseller), ("h", disputed)]])
    membership = pl.DataFrame({"account_id": ["f0", "r", "h"], "cluster_id": [7, 7, 7]})

    def judged(**kw: float) -> dict:
        return dict(peripheral_members(features, membership, _cluster(), {}, ScoringSettings(**kw)).iter_rows())

    assert judged() == {"f0": False, "r": False, "h": True}
    assert judged(member_prior_payments=0) == {"f0": False, "r": False, "h": False}
    # The rule is the setting: off (1e9), the reseller is judged against the farm's behaviour and alone.
    assert judged(member_other_family_score=1e9) == {"f0": False, "r": True, "h": True}


def test_member_paying_with_a_card_another_member_tested_stays_with_a_card_testing_cluster() -> None:
    # Spread card testing: testers try cards with small authorisations, other accounts of the ring spend
    # the cards that worked. A spender shows none of the testers' declines; tied to a tester by the card
    # itself it stays flagged, tied by a shared device only it is judged alone (the cards are the abuse).
    tester = {**HUMAN, **ZEROS, "decline_rate": 0.8, "micro_payment_share": 0.8, "declined_small_auth": 1.0,
              "n_payments": 5}
    spender = {**HUMAN, **ZEROS, "n_payments": 2}
    features = pl.DataFrame([{"account_id": a, **r} for a, r in [("t0", tester), ("t1", tester), ("s", spender)]])
    membership = pl.DataFrame({"account_id": ["t0", "t1", "s"], "cluster_id": [7, 7, 7]})
    carding = _cluster().with_columns(
        pl.lit("card_testing").alias("predicted_kind"), pl.lit(0.8).alias("decline_rate"),
        pl.lit(0.8).alias("micro_payment_share"), pl.lit(1.0).alias("declined_small_auth"),
    )

    def judged(reasons: list[str]) -> dict:
        edges = pl.DataFrame({"src": ["s", "t0"], "dst": ["t0", "t1"], "weight": [1.0, 1.0],
                              "reasons": [reasons, ["device"]]})
        return dict(peripheral_members(features, membership, carding, {}, ScoringSettings(), edges=edges).iter_rows())

    assert judged(["card"]) == {"t0": False, "t1": False, "s": False}
    assert judged(["device"]) == {"t0": False, "t1": False, "s": True}

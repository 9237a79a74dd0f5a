"""Peripheral members: a member of a flagged cluster is flagged with it only if it shows the abuse itself."""

from __future__ import annotations

import polars as pl

from farmhunt.engine.scoring.model import peripheral_members
from farmhunt.engine.settings import ScoringSettings

FARM = {"templated_share": 0.9, "night_share": 0.25, "output_input_ratio": 6.0, "capability_share": 0.95,
        "top_model_share": 1.0, "template_breadth": 60.0, "family_breadth": 30.0}
HUMAN = {"templated_share": 0.0, "night_share": 0.02, "output_input_ratio": 0.4, "capability_share": 0.1,
         "top_model_share": 0.6, "template_breadth": 0.0, "family_breadth": 0.0}
ZEROS = {"hosting_share": 0.0, "requests_per_active_day": 5.0, "topic_entropy": 0.2, "chargeback_rate": 0.0,
         "n_keys_revoked": 0, "decline_rate": 0.0, "micro_payment_share": 0.0, "second_stream": 0,
         "declined_small_auth": 0.0, "tested_card_spent": 0.0, "multi_country_cards": 0.0,
         "foreign_chargeback_rate": 0.0}


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

"""The signal table as data: the shipped signals.toml loads, and bad tables are rejected naming the key."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from farmhunt.core.errors import ConfigError
from farmhunt.engine.scoring import model
from farmhunt.engine.scoring.signals import default_table, load_signal_table, parse_signal_table


def _shipped() -> dict:
    text = resources.files("farmhunt.engine.scoring").joinpath("signals.toml").read_text()
    return tomllib.loads(text)


def test_shipped_table_values() -> None:
    t = default_table()
    names = [s.name for s in t.signals]
    assert len(names) == 37 and names[0] == "synchronized" and names[28] == "shared_stream_templates"
    assert names[29:33] == ["declined_small_auths", "tested_cards_spent", "multi_country_cards", "foreign_chargebacks"]
    assert names[33:] == ["established_payer", "batch_window", "everyday_topics", "bank_paraphrases"]
    assert t.bias == -4.2 and t.account.bias == -5.2688 and t.account.anomaly_weight == 0.0
    by = {s.name: s for s in t.signals}
    assert by["declined_payments"].weight == 3.0 and by["declined_payments"].low == "decline_rate_hi"
    assert by["declared_organisation"].weight == -3.0 and by["declared_organisation"].low == 0.2
    # Fixed ramps: a percentile of a population holding the ring would hide it.
    assert (by["declined_small_auths"].low, by["declined_small_auths"].high) == (0.05, 0.5)
    assert by["declined_small_auths"].family == "card_testing" and by["declined_small_auths"].weight == 3.0
    assert by["tested_cards_spent"].column == "tested_card_spent" and by["tested_cards_spent"].high == 0.4
    assert by["foreign_chargebacks"].family == "reseller_pool" and not by["foreign_chargebacks"].cheap
    # Benign cohorts: the expensive evidence is not capped, the batch window (a time shape) is.
    assert (by["established_payer"].weight, by["established_payer"].cheap) == (-6.0, False)
    assert (by["batch_window"].weight, by["batch_window"].cheap) == (-2.5, True)
    assert (by["everyday_topics"].weight, by["everyday_topics"].cheap) == (-1.2, False)
    acc = {s.name: s.weight for s in t.account_signals}
    # The account level is the fit's (signals.toml header), but for the second stream, kept at 6.5 so a
    # victim flags alone; the fit gives output_heavy, office_hours and the anomaly term no weight.
    assert acc == {
        "output_heavy": 0.0,
        "prepaid_virtual_cards": 1.2931,
        "hosting_networks": 0.8269,
        "relay_volume": 1.1051,
        "topic_diversity": 5.5969,
        "chargebacks": 1.0819,
        "key_rotation": 1.7072,
        "declined_payments": 1.3574,
        "micro_payments": 2.9287,
        "office_hours": 0.0,
        "second_stream": 6.5,
        "declined_small_auths": 2.8401,
        "tested_cards_spent": 5.3342,
        "foreign_chargebacks": 1.679,
    }
    assert model.SIGNALS == t.signals and model.BIAS == t.bias


def test_file_round_trip(tmp_path: Path) -> None:
    src = resources.files("farmhunt.engine.scoring").joinpath("signals.toml").read_text()
    p = tmp_path / "s.toml"
    p.write_text(src)
    assert load_signal_table(p) == default_table()


def _bad(mutate, match: str) -> None:
    data = copy.deepcopy(_shipped())
    mutate(data)
    with pytest.raises(ConfigError, match=match):
        parse_signal_table(data)


def test_unknown_column_names_the_signal() -> None:
    def m(d):
        d["signal"][2]["column"] = "night_shares"

    _bad(m, r"'signal\[2\] \(flat_24_7\)\.column': unknown column 'night_shares'")


def test_unknown_family() -> None:
    def m(d):
        d["signal"][0]["family"] = "farm"

    _bad(m, r"'signal\[0\] \(synchronized\)\.family': unknown family 'farm'")


def test_bad_ramp() -> None:
    def m(d):
        d["signal"][0]["high"] = 0.0

    _bad(m, r"'signal\[0\] \(synchronized\)': bad ramp, high \(0.0\) must be above low \(0.0\)")


def test_unknown_baseline_and_keys() -> None:
    def m1(d):
        d["signal"][1]["low"] = "templated"

    _bad(m1, r"'signal\[1\] \(templated_prompts\)\.low': unknown baseline 'templated'")

    def m2(d):
        d["signal"][1]["wieght"] = 1.0

    _bad(m2, r"unknown key 'signal\[1\] \(templated_prompts\)\.wieght'")

    def m3(d):
        d["account"]["weights"]["synchronized"] = 1.0

    _bad(m3, r"'account.weights.synchronized': reads 'tie_sync', which one account cannot show alone")

    def m4(d):
        d["aggregates"]["ties"].append("telepathy")

    _bad(m4, r"'aggregates.ties': unknown linkage reason 'telepathy'")

    def m5(d):
        d["signal"][3]["weight"] = "high"

    _bad(m5, r"'signal\[3\] \(output_heavy\)\.weight': expected a finite number")


def test_file_error_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text('bias = -1.0\n[aggregates]\nmedian = []\nmean = []\nties = []\n')
    with pytest.raises(ConfigError, match=r"s\.toml: missing key 'account'"):
        load_signal_table(p)


def test_request_shares_must_be_active_baselines() -> None:
    t = default_table()
    assert "night_share" in t.request_shares and "family_depth" not in t.request_shares
    assert set(t.request_shares) <= set(t.baseline_active)
    _bad(lambda d: d["baselines"].__setitem__("shares", ["chargeback_rate"]),
         r"'baselines.shares': 'chargeback_rate' is not listed in 'baselines.active'")
    _bad(lambda d: d["baselines"].__setitem__("shares", ["night_share", "night_share"]), r"'baselines.shares'")
    # optional: a table without the key shrinks nothing
    data = copy.deepcopy(_shipped())
    del data["baselines"]["shares"]
    assert parse_signal_table(data).request_shares == ()


def test_family_share_ramp_is_checked() -> None:
    from farmhunt.engine.settings import FeatureSettings

    with pytest.raises(ConfigError, match=r"'features.family_share_high' must be above"):
        FeatureSettings(family_share_low=0.4, family_share_high=0.3).validate()
    FeatureSettings().validate()


def test_payment_shares_must_be_mean_aggregates() -> None:
    t = default_table()
    assert "chargeback_rate" in t.payment_shares and "declined_small_auth" not in t.payment_shares
    assert set(t.payment_shares) <= set(t.mean)
    _bad(lambda d: d["baselines"].__setitem__("payment_shares", ["night_share"]),
         r"'baselines.payment_shares': 'night_share' is not listed in 'aggregates.mean'")
    _bad(lambda d: d["baselines"].__setitem__("payment_shares", "decline_rate"), r"'baselines.payment_shares'")
    data = copy.deepcopy(_shipped())
    del data["baselines"]["payment_shares"]
    assert parse_signal_table(data).payment_shares == ()

"""Chance collisions in linkage: identity values that unrelated people share by chance only corroborate."""

from __future__ import annotations

import polars as pl
import pytest

from farmhunt.engine.polars.linkage import combine_edges, email_identities, value_edges
from farmhunt.engine.settings import LinkageSettings


def _accounts(emails: list[str]) -> pl.LazyFrame:
    return pl.LazyFrame({"account_id": [f"a{i:03d}" for i in range(len(emails))], "email": emails})


def _population() -> list[str]:
    # A common name at three providers, a rare handle twice at one, and 60 one-off addresses that set
    # the providers' shares (outlook.com a quarter of all accounts).
    common = ["kofi.rossi@gmail.com", "kofirossi@gmail.com", "kofi_rossi@yahoo.com", "kofirossi@yahoo.com",
              "kofi-rossi@icloud.com", "kofirossi@icloud.com", "kofi.rossi2@gmail.com", "kofirossi@outlook.com",
              "kofirossi@outlook.com", "kofirossi@outlook.com"]
    rare = ["xq7k.vz@outlook.com", "xq7k.vz@outlook.com"]
    filler = [f"user{i}x{chr(97 + i % 26)}@{['gmail.com', 'outlook.com', 'yahoo.com', 'icloud.com'][i % 4]}"
              for i in range(60)]
    return common + rare + filler


def test_common_name_is_a_namesake_and_a_rare_handle_is_not() -> None:
    emails = _population()
    out = email_identities(_accounts(emails), LinkageSettings()).collect()
    by_value = dict(out.select("value", "signal").unique().iter_rows())
    assert by_value["kofirossi@outlook.com"] == "email_namesake"
    assert by_value["xq7k.vz@outlook.com"] == "email_canonical"
    # Gmail ignores dots: kofi.rossi@ and kofirossi@ are one mailbox, and the name is common elsewhere.
    assert by_value["kofirossi@gmail.com"] == "email_namesake"
    assert out.height == len(emails)  # one identity per account


def test_a_crowded_mailbox_beyond_the_names_popularity_stays_strong() -> None:
    # The same common name, but 12 accounts on one outlook address: far more than chance predicts.
    emails = _population() + ["kofirossi@outlook.com"] * 9
    out = email_identities(_accounts(emails), LinkageSettings()).collect()
    assert dict(out.select("value", "signal").unique().iter_rows())["kofirossi@outlook.com"] == "email_canonical"


def test_namesakes_alone_make_no_edge_but_corroborate() -> None:
    s = LinkageSettings(min_weight=0.0)
    ids = email_identities(_accounts(_population()), s)
    names = ids.filter(pl.col("value") == "kofirossi@outlook.com").collect()["account_id"].to_list()
    assert len(names) == 3
    alone = combine_edges(value_edges(ids, s), s).collect()
    assert alone.filter(pl.col("src").is_in(names) | pl.col("dst").is_in(names)).height == 0
    assert alone.filter(pl.col("reasons").list.contains("email_canonical")).height == 1  # the rare handle
    # A card shared by two of the namesakes links them, and the namesake adds its weight.
    card = pl.LazyFrame({"account_id": names[:2], "signal": ["card", "card"], "value": ["c1", "c1"]})
    both = combine_edges(value_edges(pl.concat([ids, card]), s), s).collect()
    pair = both.filter(pl.col("src") == min(names[:2]), pl.col("dst") == max(names[:2]))
    assert pair["reasons"].to_list() == [["card", "email_namesake"]]
    assert pair["weight"].item() == pytest.approx(1.0 + 0.3 / 1.584962500721156)

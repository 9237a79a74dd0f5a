"""Declared country -> representative UTC offset: the local-time rule detection and the console share."""

from __future__ import annotations

import polars as pl

#: Representative UTC offset (hours) of a country, for local-time activity features. Countries not
#: listed count as UTC: local-time features then degrade gracefully rather than fail.
COUNTRY_UTC_OFFSET: dict[str, int] = {
    "US": -6,
    "CA": -6,
    "MX": -6,
    "BR": -3,
    "AR": -3,
    "CL": -4,
    "CO": -5,
    "PE": -5,
    "VE": -4,
    "GB": 0,
    "IE": 0,
    "PT": 0,
    "ES": 1,
    "FR": 1,
    "DE": 1,
    "IT": 1,
    "NL": 1,
    "BE": 1,
    "CH": 1,
    "AT": 1,
    "SE": 1,
    "NO": 1,
    "DK": 1,
    "PL": 1,
    "CZ": 1,
    "HU": 1,
    "FI": 2,
    "GR": 2,
    "RO": 2,
    "BG": 2,
    "UA": 2,
    "IL": 2,
    "EG": 2,
    "ZA": 2,
    "TR": 3,
    "RU": 3,
    "SA": 3,
    "KE": 3,
    "NG": 1,
    "AE": 4,
    "IR": 3,
    "PK": 5,
    "IN": 5,
    "BD": 6,
    "TH": 7,
    "VN": 7,
    "ID": 7,
    "MY": 8,
    "SG": 8,
    "PH": 8,
    "CN": 8,
    "HK": 8,
    "TW": 8,
    "KR": 9,
    "JP": 9,
    "AU": 10,
    "NZ": 12,
}


def utc_offset(country: pl.Expr) -> pl.Expr:
    """Offset in hours of a declared country (upper-cased; countries not listed count as UTC)."""
    return country.str.to_uppercase().replace_strict(COUNTRY_UTC_OFFSET, default=0, return_dtype=pl.Int64)

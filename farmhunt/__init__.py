"""farmhunt: find account farms and token-reseller pools in AI-provider logs."""

__version__ = "0.1.0"

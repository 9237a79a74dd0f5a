"""Widgets of the console: formatted tables and charts."""

"""Screens of the console: case queue, cluster, account, help and dialogs."""

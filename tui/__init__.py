"""tui: the Textual investigator console over farmhunt results."""

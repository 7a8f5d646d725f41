"""AI jobs. ``local`` works with no network and no provider configured; providers over
OpenAI-compatible endpoints arrive with the AI issue."""

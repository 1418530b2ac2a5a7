"""``python -m zone_explorer.cli``: the same as the ``zone-explorer`` command."""

from zone_explorer.cli.app import app

app()

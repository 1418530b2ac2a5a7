"""The ``zone-explorer`` command line: engine verbs (:mod:`.app`), service verbs (:mod:`.service`), REST client."""

from zone_explorer.cli.app import app

__all__ = ["app"]

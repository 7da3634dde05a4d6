"""pluggy markers for the ``drumbeat`` project."""

import pluggy

PROJECT = "drumbeat"
ENTRY_POINT_GROUP = "drumbeat.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

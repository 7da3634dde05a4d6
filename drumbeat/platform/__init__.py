"""Drumbeat's core domain: tables, services, plugins, templating and the event bus."""

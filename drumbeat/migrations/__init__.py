"""Piccolo migrations of Drumbeat's core app (run them with ``drumbeat migrate``)."""

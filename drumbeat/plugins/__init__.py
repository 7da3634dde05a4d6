"""Built-in action plugins. Each is registered through the ``drumbeat.plugins`` entry-point
group and uses only the public API in ``drumbeat/__init__.py`` — exactly like a partner's."""

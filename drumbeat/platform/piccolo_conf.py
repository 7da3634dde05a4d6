"""Piccolo's configuration module (``PICCOLO_CONF=drumbeat.platform.piccolo_conf``).

``DB`` is set by :func:`drumbeat.platform.database.connect`. When Piccolo's own tools ask
for it before that (``piccolo migrations …``), it is built from the environment.
"""

from piccolo.conf.apps import AppRegistry

APP_REGISTRY = AppRegistry(apps=["drumbeat.platform.piccolo_app"])


def __getattr__(name: str):
    if name == "DB":
        from drumbeat.platform.database import bind_tables, make_engine
        from drumbeat.settings import Settings

        engine = make_engine(Settings.from_env())
        bind_tables(engine)  # also stores it as this module's DB
        return engine
    raise AttributeError(name)

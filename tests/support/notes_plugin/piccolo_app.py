"""The test plugin's Piccolo app: one table and its migration."""

from pathlib import Path

from piccolo.columns import Integer, Text
from piccolo.conf.apps import AppConfig
from piccolo.table import Table


class PluginNote(Table, tablename="test_plugin_note"):
    delivery = Integer(unique=True)
    campaign = Integer()
    text = Text()


APP_CONFIG = AppConfig(
    app_name="test_notes_plugin",
    migrations_folder_path=str(Path(__file__).resolve().parent / "migrations"),
    table_classes=[PluginNote],
    migration_dependencies=["drumbeat.platform.piccolo_app"],
    commands=[],
)

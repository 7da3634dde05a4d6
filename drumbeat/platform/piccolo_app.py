"""The Piccolo app of Drumbeat's core: its tables and the migrations that create them."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from drumbeat.platform.tables import ALL_TABLES

MIGRATIONS_FOLDER = Path(__file__).resolve().parent.parent / "migrations"

APP_CONFIG = AppConfig(
    app_name="drumbeat",
    migrations_folder_path=str(MIGRATIONS_FOLDER),
    table_classes=list(ALL_TABLES),
    migration_dependencies=[],
    commands=[],
)

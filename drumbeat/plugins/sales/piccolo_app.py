"""The sales plugin's Piccolo app: its tables and the migrations that create them."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from drumbeat.plugins.sales.tables import TABLES

APP_CONFIG = AppConfig(
    app_name="drumbeat_sales",
    migrations_folder_path=str(Path(__file__).resolve().parent / "migrations"),
    table_classes=list(TABLES),
    migration_dependencies=["drumbeat.platform.piccolo_app"],
    commands=[],
)

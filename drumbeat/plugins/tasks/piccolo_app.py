"""The tasks plugin's Piccolo app: the ``drumbeat_task`` table and its migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from drumbeat.plugins.tasks.tables import Task

APP_CONFIG = AppConfig(
    app_name="drumbeat_tasks",
    migrations_folder_path=str(Path(__file__).resolve().parent / "migrations"),
    table_classes=[Task],
    migration_dependencies=["drumbeat.platform.piccolo_app"],
    commands=[],
)

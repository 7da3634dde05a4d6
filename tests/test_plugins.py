"""The plugin system: entry-point discovery, the registry's duplicate check, `drumbeat plugins`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from drumbeat import ActionType, hookimpl
from drumbeat.platform.plugins import PluginError, build_plugins


class _Echo(ActionType):
    key = "echo"
    label = "Echo"


class _EmailTwin(ActionType):
    key = "email"
    label = "Another email"


class _EchoPlugin:
    @hookimpl
    def drumbeat_action_types(self):
        return [_Echo()]


class _TwinPlugin:
    @hookimpl
    def drumbeat_action_types(self):
        return [_EmailTwin()]


def test_the_builtin_email_action_comes_from_the_entry_point():
    plugins = build_plugins()
    assert "email" in plugins.action_types
    info = {i.name: i for i in plugins.infos}["email"]
    assert info.source.startswith("entry point drumbeat.plugins (drumbeat ")
    assert info.action_types == ("email",)


def test_a_code_registered_plugin_adds_its_action_type():
    plugins = build_plugins(extra=[_EchoPlugin()])
    assert set(plugins.action_types) >= {"email", "echo"}
    assert plugins.action_type("echo").label == "Echo"
    with pytest.raises(PluginError, match="unknown action type 'nope'"):
        plugins.action_type("nope")


def test_two_plugins_with_the_same_action_type_key_stop_start_up():
    with pytest.raises(PluginError, match="'email' is registered twice"):
        build_plugins(extra=[_TwinPlugin()])


def test_the_block_list_removes_a_plugin():
    plugins = build_plugins(block=["email"])
    assert "email" not in plugins.action_types
    assert build_plugins(allow=["email"]).action_types.keys() == {"email"}


def test_a_hook_implementation_without_a_spec_is_refused():
    class Typo:
        @hookimpl
        def drumbeat_action_typez(self):
            return []

    with pytest.raises(PluginError, match="drumbeat_action_typez"):
        build_plugins(extra=[Typo()])


def test_the_plugins_command_lists_email_from_its_entry_point(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRUMBEAT_")}
    env["COLUMNS"] = "200"
    result = subprocess.run([sys.executable, "-m", "drumbeat", "plugins"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if " email " in line)
    assert "entry point drumbeat.plugins" in line
    assert line.rstrip(" │|").endswith("email")

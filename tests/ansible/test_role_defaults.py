"""The lma and mag roles' defaults agree with the agent's own (its config schema).

The agent's schema (pmip6d.config, whose protocol defaults live in pmip6d.defaults)
is the one source. The roles repeat each default twice, in defaults/main.yml and in
meta/argument_specs.yml, because Ansible needs them there; this test fails, naming the
variable, when either drifts. Which role variable feeds which agent setting is read
from the role's configuration template (``key: {{ role_var }}`` lines), so a new
setting is checked as soon as the template passes it on.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Any

import pytest
import yaml
from pmipv6_test_helpers import ROOT
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from pmip6d.config import LmaConfig, MagConfig
from pmip6d.lma.machine import LmaSettings
from pmip6d.mag.machine import MagSettings

ROLES = {"lma": LmaConfig, "mag": MagConfig}

# `key: {{ var }}` or `key: "{{ var | filter }}"`; and `key:` opening a section.
_VALUE = re.compile(r'^(?P<indent> *)(?P<key>\w+): "?\{\{ (?P<var>\w+)[^}]*\}\}"?\s*$')
_SECTION = re.compile(r"^(?P<indent> *)(?P<key>\w+):\s*$")
_DEFAULT = re.compile(r"\|\s*default\((?P<value>.*)\)\s*\}\}\s*$")
_NOT_SET = object()


def template_fields(role: str) -> dict[str, tuple[str, ...]]:
    """Role variable -> the agent setting it becomes (a path through the config file)."""
    out: dict[str, tuple[str, ...]] = {}
    parents: list[tuple[int, str]] = []
    for line in (ROOT / "roles" / role / "templates" / f"{role}.yml.j2").read_text().splitlines():
        match = _VALUE.match(line) or _SECTION.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        parents = [(i, k) for i, k in parents if i < indent]
        if match.re is _SECTION:
            parents.append((indent, match["key"]))
        else:
            out[match["var"]] = (*(k for _i, k in parents), match["key"])
    return out


def schema_default(model: type[BaseModel], path: tuple[str, ...]) -> Any:
    """The schema's default for ``path``, or _NOT_SET (required, or not a model field)."""
    *sections, name = path
    for section in sections:
        field = model.model_fields.get(section)
        if field is None:
            return _NOT_SET
        nested = [
            t
            for t in typing.get_args(field.annotation) or (field.annotation,)
            if isinstance(t, type) and issubclass(t, BaseModel)
        ]
        if not nested:
            return _NOT_SET
        model = nested[0]
    field = model.model_fields.get(name)
    if field is None or field.default is PydanticUndefined:
        return _NOT_SET
    return field.default


def role_default(role: str, var: str) -> Any:
    """The literal default of defaults/main.yml, also through ``{{ x | default(...) }}``."""
    value = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()).get(
        var, _NOT_SET
    )
    if isinstance(value, str) and "{{" in value:
        match = _DEFAULT.search(value)
        return _NOT_SET if match is None else yaml.safe_load(match["value"])
    return value


def spec_default(role: str, var: str) -> Any:
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"].get(var, {}).get("default", _NOT_SET)


def compared(role: str) -> dict[str, tuple[tuple[str, ...], Any]]:
    """Role variable -> (agent setting, the schema's default), where the schema has one."""
    model = ROLES[role]
    out = {}
    for var, path in template_fields(role).items():
        default = schema_default(model, path)
        if default is not _NOT_SET:
            out[var] = (path, default)
    return out


def test_the_template_reading_finds_the_protocol_settings():
    # Not vacuous: the RFC defaults and a nested one are among those compared.
    assert {
        "lma_timestamp_validity_window_ms",
        "lma_min_delay_before_bce_delete_ms",
        "lma_max_delay_before_new_bce_assign_ms",
        "lma_max_binding_lifetime",
        "lma_hnp_length",
    } <= set(compared("lma"))
    assert {
        "mag_requested_lifetime",
        "mag_initial_bindack_timeout_first_reg_ms",
        "mag_initial_bindack_timeout_ms",
        "mag_max_bindack_timeout_ms",
        "mag_keep_registering",
        "mag_link_local",
        "mag_mac",
        "mag_tunnel_linger",
    } <= set(compared("mag"))
    assert compared("lma")["lma_hnp_length"][0] == ("prefix_pool", "length")
    # the ESP block (rendered only with ESP on) is read too
    assert compared("lma")["lma_signaling_replay_window"][0] == (
        "signaling_security",
        "replay_window",
    )
    assert {"mag_signaling_implementation", "mag_signaling_replay_window"} <= set(compared("mag"))


@pytest.mark.parametrize("role", sorted(ROLES))
def test_role_defaults_equal_the_agent_schema(role):
    drift = []
    for var, (path, default) in sorted(compared(role).items()):
        setting = ".".join(path)
        for where, value in (
            ("defaults/main.yml", role_default(role, var)),
            ("meta/argument_specs.yml", spec_default(role, var)),
        ):
            if value is not _NOT_SET and value != default:
                drift.append(f"{where}: {var} is {value!r}, the agent's {setting} is {default!r}")
    assert not drift, f"roles/{role} drifted from the agent's defaults:\n" + "\n".join(drift)


@pytest.mark.parametrize(
    ("model", "settings"), [(LmaConfig, LmaSettings), (MagConfig, MagSettings)]
)
def test_machines_take_the_schema_defaults(model, settings):
    # The sans-IO machines' settings (built from the config by the daemon, and
    # directly by tests and benchmarks) default to the same values.
    fields = {f.name: f.default for f in dataclasses.fields(settings)}
    shared = set(fields) & set(model.model_fields)
    assert len(shared) >= 5
    for name in shared:
        assert fields[name] == model.model_fields[name].default, name

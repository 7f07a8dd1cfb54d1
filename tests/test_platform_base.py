"""What every plug-in shares: the auth headers from `auth:`, and option defaults from its schema."""

from __future__ import annotations

import base64
import sys

import pytest
from trigger_schedule import platforms
from trigger_schedule.clock import FakeClock
from trigger_schedule.platforms.base import PlatformConfig, auth_headers, masked
from trigger_schedule.secrets import MASK


def config(auth_type: str, **fields: str | None) -> PlatformConfig:
    return PlatformConfig(name="p", type="generic", url="http://127.0.0.1:9", auth_type=auth_type, **fields)  # type: ignore[arg-type]


def test_auth_headers_for_each_auth_type() -> None:
    basic = base64.b64encode(b"ci:pa55").decode()
    assert auth_headers(config("none", token="t")) == {}
    assert auth_headers(config("bearer", token="t")) == {"Authorization": "Bearer t"}
    assert auth_headers(config("bearer")) == {}  # a server with no auth of its own
    assert auth_headers(config("header", token="t", auth_header="X-Api-Key")) == {"X-Api-Key": "t"}
    assert auth_headers(config("basic", username="ci", password="pa55")) == {"Authorization": f"Basic {basic}"}
    bare = auth_headers(config("bearer", token="t"), bearer_header="X-Cloud-Token", scheme="")
    assert bare == {"X-Cloud-Token": "t"}
    assert auth_headers(config("bearer", token="Bearer t"), "t") == {"Authorization": "Bearer t"}
    assert masked({"Authorization": "Bearer t"}) == {"Authorization": MASK}


@pytest.mark.parametrize("name", platforms.available())
def test_option_defaults_come_from_the_schema_alone(name: str) -> None:
    plugin = platforms.load(name)
    module = sys.modules[plugin.__module__]
    assert not hasattr(module, "DEFAULTS"), f"{module.__name__}: put each default in options_schema"
    defaults = plugin.option_defaults()
    assert set(defaults) <= set(plugin.options_schema.get("properties", {}))


def test_plan_options_override_the_schema_defaults() -> None:
    plugin = platforms.load("generic")
    cfg = PlatformConfig(name="p", type="generic", url="http://127.0.0.1:9", options={"status-pointer": "/state"})
    instance = plugin(cfg, None, FakeClock())  # type: ignore[arg-type]
    assert instance.opts["status-pointer"] == "/state"
    assert instance.opts["trigger-url"] == "{url}/v1/jobs/trigger"

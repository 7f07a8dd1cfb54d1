"""One schema, every face: each plan option is reachable as a CLI flag (and so as a TRIGGER_SCHEDULE_*
variable, which every face maps its inputs to; the faces' own tests check their side against ALL_FLAGS)."""

from __future__ import annotations

from trigger_schedule.cli import ALL_FLAGS, TRIGGER_FLAGS
from trigger_schedule.plan_schema import base_schema
from trigger_schedule.secrets import credential_envs

# Plan keys that have no flag, and why.
PLAN_ONLY = {
    ("trigger", "needs"): "a single trigger from flags has nothing to need",
    ("trigger", "platform"): "names an entry of platforms:; with flags, --platform gives the type directly",
    ("platform", "type"): "given by --platform",
    ("platform", "headers"): "given by the repeatable --header NAME:VALUE",
    ("auth", "token-env"): "given by --token-env, which also applies to plan platforms",
    ("trigger", "force-new"): "given by --force-new, which applies to every trigger of the run",
}


def _schema_keys() -> set[tuple[str, str]]:
    defs = base_schema()["$defs"]
    keys = {("trigger", k) for k in (*defs["trigger"]["properties"], *defs["trigger-options"]["properties"])}
    keys |= {("platform", k) for k in defs["platform"]["properties"] if k not in ("auth", "tls")}
    keys |= {(section, k) for section in ("auth", "tls") for k in defs[section]["properties"]}
    return keys


def test_every_plan_option_has_a_flag() -> None:
    flagged = {(f.section, f.key) for f in TRIGGER_FLAGS if f.key}
    missing = sorted(k for k in _schema_keys() - flagged if k not in PLAN_ONLY)
    assert missing == [], f"plan options without a flag: {missing}"


def test_no_flag_maps_to_an_option_the_schema_lacks() -> None:
    flagged = {(f.section, f.key) for f in TRIGGER_FLAGS if f.key}
    assert sorted(flagged - _schema_keys()) == []


def test_flag_names_and_variables_follow_the_convention() -> None:
    for flag in ALL_FLAGS:
        long = flag.flags[0]
        assert long.startswith("--") and long == long.lower()
        assert flag.env == "TRIGGER_SCHEDULE_" + long[2:].replace("-", "_").upper()
        if flag.key:
            assert long[2:] == flag.key or flag.section in ("auth", "tls") or long[2:].endswith(flag.key)
    assert len({f.env for f in ALL_FLAGS}) == len(ALL_FLAGS)


def test_documented_credential_defaults_are_the_ones_read() -> None:
    auth = base_schema()["$defs"]["auth"]["properties"]
    documented = tuple(auth[key]["default"] for key in ("token-env", "username-env", "password-env"))
    assert credential_envs({}) == documented
    assert credential_envs({"token-env": "MY_TOKEN"}, "FLAG_TOKEN")[0] == "MY_TOKEN"
    assert credential_envs({}, "FLAG_TOKEN")[0] == "FLAG_TOKEN"

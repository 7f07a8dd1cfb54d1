"""The Jenkins step with keyless auth: the OpenID Connect Provider credential (an ID token, as a "string" binding)
bound by `oidcCredentialsId`, then `authType: 'oidc'` or `'oidc-exchange'`; no stored scheduler token. Run in the
Groovy harness (tests/faces/jenkins) against the generic server, which accepts only the test issuer's tokens."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from groovy_runner import groovy_command, groovy_env
from servers.harness import GenericScheduler
from servers.oidc_parts import EXCHANGE_AUDIENCE, EXCHANGE_CLIENT, EXCHANGE_FROM, CiIssuer

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "jenkins-shared-lib"
CLI = Path(sys.executable).with_name("trigger-schedule")
OIDC_CREDENTIAL = "ci-oidc-id-token"


def _run_groovy(tmp_path: Path, scenarios: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    for scenario in scenarios:
        scenario["workspace"] = str(tmp_path / f"ws-{scenario['name']}")
        # A commit of each scenario's own, so none adopts another's run.
        commit = hashlib.sha1(scenario["name"].encode()).hexdigest()
        scenario.setdefault("env", {}).update(GIT_URL="https://git.example/acme/app.git", GIT_COMMIT=commit)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"lib": str(LIB), "scenarios": scenarios, "parse": {}}), encoding="utf-8")
    done = subprocess.run(
        groovy_command(spec, tmp_path / "out.json"),
        env=groovy_env(),
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    spec.unlink()  # it holds the credential's value
    assert done.returncode == 0, done.stdout + done.stderr
    output = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    return {s["name"]: s for s in output["scenarios"]}


@pytest.mark.skipif(subprocess.run(["which", "groovy"], capture_output=True).returncode != 0, reason="no groovy")
def test_jenkins_step_binds_the_oidc_credential(
    generic_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path
) -> None:
    generic_server.configure(oidc={"issuers": [issuer.url], "audience": EXCHANGE_AUDIENCE})
    common = {"platform": "generic", "url": generic_server.url, "cliPath": str(CLI), "job": "instant"}
    common.update(pollInterval="100ms", oidcCredentialsId=OIDC_CREDENTIAL)
    exchange = {"token-url": f"{issuer.url}/token", "client-id-env": "EX_ID", "client-secret-env": "EX_SECRET"}
    scenarios: list[dict[str, Any]] = [
        {
            "name": "oidc",
            "config": {**common, "authType": "oidc", "oidcAudience": EXCHANGE_AUDIENCE},
            "credentials": {OIDC_CREDENTIAL: issuer.mint(EXCHANGE_AUDIENCE)},
        },
        {
            "name": "oidc-exchange",
            "config": {**common, "authType": "oidc-exchange", "oidcAudience": EXCHANGE_FROM, "oidcExchange": exchange},
            "credentials": {OIDC_CREDENTIAL: issuer.mint(EXCHANGE_FROM)},
            "env": {"EX_ID": EXCHANGE_CLIENT[0], "EX_SECRET": EXCHANGE_CLIENT[1]},
        },
    ]
    ran = _run_groovy(tmp_path, scenarios)
    for name in ("oidc", "oidc-exchange"):
        scenario = ran[name]
        assert "error" not in scenario, (name, scenario.get("error"), scenario["log"][-3000:])
        assert scenario["returned"]["status"] == "succeeded"
        [binding] = next(c for c in scenario["calls"] if c["step"] == "withCredentials")["bindings"]
        assert binding == {"type": "string", "credentialsId": OIDC_CREDENTIAL, "variable": "TRIGGER_SCHEDULE_ID_TOKEN"}
    assert len(generic_server.requests("trigger")) == 2
    assert generic_server.oidc_rejections() == []

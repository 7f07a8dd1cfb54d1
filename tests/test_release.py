"""The release: one version source, hash locks that match pyproject.toml, the reproducible core wheel the faces
install, LICENSE in the wheel and the sdist, the release scripts, and the GitLab pipelines' schema."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.version import Version
from trigger_schedule import __version__

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "python" / "pyproject.toml"
LOCK = ROOT / "python" / "src" / "trigger_schedule" / "requirements.lock"
LOCKS = [LOCK, ROOT / "python" / "locks" / "build.txt", ROOT / "python" / "locks" / "uv.txt"]
RESOURCES = ROOT / "jenkins-shared-lib" / "resources" / "trigger-schedule"
CORE_WHEEL = RESOURCES / f"trigger_schedule-{__version__}-py3-none-any.whl"
UV = ROOT / ".tools" / "uv" / "bin" / "uv"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
TIMEOUT_S = 300


def pins(lock: Path) -> dict[str, tuple[Version, list[str]]]:
    """name -> (pinned version, its hashes), from a `uv pip compile --generate-hashes` file."""
    text = lock.read_text(encoding="utf-8")
    found: dict[str, tuple[Version, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = re.match(r"([A-Za-z0-9_.-]+)==([^ ;\\]+)", block)
        if head:
            name = re.sub(r"[-_.]+", "-", head.group(1)).lower()
            found[name] = (Version(head.group(2)), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return found


def _run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL
    )


def test_the_version_has_one_source() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    assert project["dynamic"] == ["version"]
    assert "version" not in project
    installer = (RESOURCES / "install.sh").read_text(encoding="utf-8")
    assert f"\nVERSION={__version__}\n" in installer
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(__version__)}\] - \d{{4}}-\d\d-\d\d$", changelog, re.M)


def test_every_dependency_is_pinned_with_hashes_in_the_lock() -> None:
    """Offline: each requirement of pyproject.toml is pinned at a version it allows, and every pin has hashes."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    locked = pins(LOCK)
    for requirement in map(Requirement, project["dependencies"]):
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in locked, f"{name} is not in {LOCK.name}: run bash scripts/lock.sh"
        assert requirement.specifier.contains(locked[name][0], prereleases=True), (name, locked[name][0])
    for lock in LOCKS:
        for name, (_, hashes) in pins(lock).items():
            assert hashes, f"{lock.name}: {name} has no --hash"


def test_the_locks_match_their_inputs() -> None:
    """uv resolves each input again, keeping the locked pins: any difference means an input changed."""
    if not UV.exists():
        pytest.fail(f"{UV} is missing: run bash scripts/tools/github.sh first (scripts/test.sh does)")
    done = _run("bash", "scripts/lock.sh", "--check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_lock_fails_its_check_when_pyproject_changes(tmp_path: Path) -> None:
    """The check above can fail: a dependency the lock lacks is reported."""
    if not UV.exists():
        pytest.fail(f"{UV} is missing: run bash scripts/tools/github.sh first (scripts/test.sh does)")
    copy = tmp_path / "repo"
    for relative in (
        "scripts/lock.sh",
        "python/pyproject.toml",
        "python/locks",
        *(str(p.relative_to(ROOT)) for p in LOCKS),
    ):
        source = ROOT / relative
        target = copy / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    pyproject = copy / "python" / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace('"pyyaml>=6.0",', '"pyyaml>=6.0",\n  "idna<3",'), encoding="utf-8"
    )
    done = subprocess.run(
        ["bash", "scripts/lock.sh", "--check"],
        cwd=copy,
        env={**os.environ, "UV": str(UV)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "requirements.lock does not match python/pyproject.toml" in done.stderr


def test_the_committed_wheel_is_what_python_builds() -> None:
    done = _run("bash", "scripts/build_core.sh", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    digest = hashlib.sha256(CORE_WHEEL.read_bytes()).hexdigest()
    assert f"\nSHA256={digest}\n" in (RESOURCES / "install.sh").read_text(encoding="utf-8")
    assert [p.name for p in RESOURCES.glob("*.whl")] == [CORE_WHEEL.name]


def test_license_ships_in_the_wheel_and_the_sdist(tmp_path: Path) -> None:
    license_text = (ROOT / "LICENSE").read_bytes()
    assert b"Apache License" in license_text and b"Version 2.0, January 2004" in license_text
    assert (ROOT / "python" / "LICENSE").read_bytes() == license_text, "python/LICENSE must be a copy of LICENSE"
    done = _run("bash", "scripts/build_core.sh", "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / CORE_WHEEL.name) as wheel:
        assert wheel.read(f"trigger_schedule-{__version__}.dist-info/licenses/LICENSE") == license_text
        metadata = wheel.read(f"trigger_schedule-{__version__}.dist-info/METADATA").decode()
        assert wheel.read("trigger_schedule/requirements.lock") == LOCK.read_bytes()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Classifier: Programming Language :: Python :: 3.11" in metadata
    assert "Project-URL: Changelog," in metadata
    with tarfile.open(tmp_path / f"trigger_schedule-{__version__}.tar.gz") as sdist:
        member = sdist.extractfile(f"trigger_schedule-{__version__}/LICENSE")
        assert member is not None and member.read() == license_text


def test_the_release_refuses_a_tag_that_is_not_the_version() -> None:
    assert _run("bash", "scripts/release/check_version.sh", f"v{__version__}").returncode == 0
    wrong = _run("bash", "scripts/release/check_version.sh", "v0.0.1")
    assert wrong.returncode == 1
    assert "::error::the tag v0.0.1 is not" in wrong.stdout
    notes = _run("bash", "scripts/release/changelog_section.sh", __version__)
    assert "### Added" in notes.stdout and "## [" not in notes.stdout


def test_every_face_installs_by_hash_or_offline() -> None:
    """Each pip or uv install in a face's installer pins by hash, or reads no index at all."""
    installers = [ROOT / "actions" / "trigger-schedule" / "setup.sh", RESOURCES / "install.sh"]
    for path in installers:
        text = path.read_text(encoding="utf-8").replace("\\\n", " ")
        # A pip or uv install, the option arrays setup.sh passes to one, or a call of install.sh's base command.
        invocation = re.compile(r"pip install|\(install |\$\{pip\[@\]\}")
        lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
        commands = [line for line in lines if invocation.search(line) and not line.startswith("pip=(")]
        assert commands, path
        for line in commands:
            assert "--require-hashes" in line or "--no-index" in line, f"{path.name}: {line.strip()}"
    for template in (ROOT / "gitlab-templates").rglob("trigger-schedule.yml"):
        text = template.read_text(encoding="utf-8")
        assert "trigger-schedule==" not in text.replace("trigger-schedule==%s", ""), template


@pytest.mark.parametrize("path", [".gitlab-ci.yml", "gitlab-templates/component-project.gitlab-ci.yml"])
def test_the_gitlab_pipelines_pass_gitlab_ci_schema(path: str) -> None:
    done = _run(CHECK_JSONSCHEMA, "--builtin-schema", "vendor.gitlab-ci", ROOT / path)
    assert done.returncode == 0, done.stdout + done.stderr

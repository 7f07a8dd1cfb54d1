"""Write the Jenkins step's metadata from the option model: resources/trigger-schedule/options.json.

    .venv/bin/python jenkins-shared-lib/generate.py          rewrite it
    .venv/bin/python jenkins-shared-lib/generate.py --check  exit 1 if it is out of date (a test runs this)

The step (vars/triggerSchedule.groovy) reads it with libraryResource: for each key, the CLI variable it sets,
whether a Map or List goes as JSON, and the separator of a repeatable key's entries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from trigger_schedule.options import jenkins_metadata

METADATA = Path(__file__).resolve().parent / "resources" / "trigger-schedule" / "options.json"


def main(argv: list[str]) -> int:
    text = json.dumps(jenkins_metadata(), indent=1) + "\n"
    current = METADATA.read_text(encoding="utf-8") if METADATA.exists() else ""
    if "--check" in argv:
        if current != text:
            print(f"{METADATA} is out of date: run .venv/bin/python jenkins-shared-lib/generate.py")
            return 1
        return 0
    if current != text:
        METADATA.write_text(text, encoding="utf-8")
        print(f"wrote {METADATA}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

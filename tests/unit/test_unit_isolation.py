"""A unit run loads none of the code that starts the real services.

The harness's fixtures reach the integration tests through ``tests/integration/conftest.py``
only. Checked in a separate interpreter that collects the whole unit suite (every conftest,
every test module, every plugin of pyproject's ``addopts``): then the check does not depend
on which tests ran before it, and a module-level import anywhere in the unit suite counts.
``zwservices``'s pure pieces (image tars, the node's layout and env file) have unit tests of
their own, so the package itself may be imported; what starts a stack may not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

COLLECT = """
import contextlib, io, json, sys
import pytest
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "tests/unit"])
loaded = sorted(m for m in sys.modules
                if m == "harness" or m.startswith("harness.") or m == "zwservices.stack")
print(json.dumps({"code": int(code), "loaded": loaded, "out": out.getvalue()[-2000:]}))
"""


def test_collecting_the_unit_suite_imports_no_harness_and_no_stack_starter() -> None:
    result = subprocess.run([sys.executable, "-c", COLLECT], cwd=ROOT, capture_output=True,
                            text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["code"] == 0, report["out"]
    assert "test_collecting_the_unit_suite_imports_no_harness" in report["out"]
    assert report["loaded"] == []

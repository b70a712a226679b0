"""`make test` on a fresh machine: an embedded PostgreSQL when none answers, and never a green run
without tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import bootstrap

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = [sys.executable, "-m", "tests.support.bootstrap"]


def run(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    # The outer run's own database settings must not leak into the inner one.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PT_TEST_PG", "PYTEST_"))}
    return subprocess.run(argv, cwd=REPO, env={**base, **env}, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_an_embedded_postgres_runs_the_suite_when_none_answers() -> None:
    """With the usual server pretended away, the catalog tests run on an embedded one."""
    done = run([*BOOTSTRAP, "tests/common/test_db.py", "-q", "-p", "no:cacheprovider", "-k", "postgresql"],
               PT_TEST_PG_EMBEDDED="1")  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "started an embedded PostgreSQL on 127.0.0.1:" in done.stderr
    assert re.search(r"\b[1-9]\d* passed", done.stdout) and "skipped" not in done.stdout
    # It is gone afterwards: its port answers no more.
    port = int(re.search(r"embedded PostgreSQL on 127\.0\.0\.1:(\d+)", done.stderr).group(1))  # type: ignore[union-attr]
    assert not bootstrap.answers("127.0.0.1", port) or port == bootstrap.PG_PORT


def test_a_run_that_selects_no_test_fails() -> None:
    done = run(
        [*BOOTSTRAP, "tests/common/test_permissions.py", "-q", "-p", "no:cacheprovider", "-k", "no_such"]
    )
    assert done.returncode == 5, done.stdout
    made = run(
        ["make", "test", "PYTEST_ARGS=tests/common/test_permissions.py -q -p no:cacheprovider -k no_such"]
    )
    assert made.returncode != 0, made.stdout


@pytest.mark.slow
def test_a_whole_suite_run_that_lost_tests_fails() -> None:
    done = run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
               PT_TEST_MIN_COLLECTED="100000")  # fmt: skip
    assert done.returncode == 5
    assert "fewer than 100000" in done.stdout + done.stderr


def test_without_a_browser_the_browser_tests_are_skipped_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installs: list[tuple[str, ...]] = []
    monkeypatch.setattr(bootstrap, "CHROMIUM", Path("/nonexistent/chromium"))
    bootstrap.ensure_browser(lambda *packages: bool(installs.append(packages)))
    assert installs == [("chromium",)]  # tried, as root with apt-get would
    done = run([sys.executable, "-m", "pytest", "tests/gateway/keys/test_browser.py", "-q", "-rs",
                "-p", "no:cacheprovider"], PT_TEST_CHROMIUM="/nonexistent/chromium")  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert "passed" not in done.stdout and "skipped" in done.stdout
    assert "no browser: /nonexistent/chromium is missing" in done.stdout

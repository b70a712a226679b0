"""Browser tests fail on what the page's console reports: CSP violations, script errors, resources
that did not load."""

from __future__ import annotations

from typing import Any

# Chromium logs CSP violations to the console; the event catches those it might not.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => console.error(
  "Content Security Policy violation: " + event.violatedDirective + " " + event.blockedURI), true);
"""


def watch_console(target: Any, *, allow: tuple[str, ...] = ()) -> list[str]:
    """Every console error and script error of a Playwright page or context, as they happen (a
    message containing one of `allow` is an expected one, e.g. a refused upload's 4xx)."""
    problems: list[str] = []
    target.add_init_script(REPORT_VIOLATIONS)

    def on_console(message: Any) -> None:
        if message.type == "error" and not any(text in message.text for text in allow):
            where = message.location.get("url", "")
            problems.append(f"{message.text} ({where})" if where else message.text)

    target.on("console", on_console)
    target.on("pageerror", lambda error: problems.append(str(error)))
    return problems

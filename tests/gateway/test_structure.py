"""The gateway's shape, as CONTRIBUTING.md describes it, checked on its source.

Every domain is a folder of modules named from one small set; endpoints hold no SQL; a domain uses
another only through its service, schemas and errors; owner scoping goes through `scoping.py`; only
the request's session dependency commits.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import picturetime_gateway

PACKAGE = Path(picturetime_gateway.__file__).parent
SHAPE = {"__init__", "endpoints", "consumer", "service", "repository", "schemas", "errors"}
# Domains whose work has steps of their own: a module per step.
STEPS = {
    "ingest": {
        "multipart",
        "plan",
        "sink",
        "inspect",
        "record",
        "request",
        "formats",
        "jpeg",
        "metadata",
        "reconcile",
    },
    "backup": {"catalog", "manifest", "objects"},
}
PUBLIC = {"service", "schemas", "errors"}  # what a domain shows the others
DOMAINS = sorted(
    p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name != "web"
)
MODULES = sorted(p for domain in DOMAINS for p in (PACKAGE / domain).glob("*.py"))


def imports(path: Path) -> list[str]:
    """Every module a source file imports (`from a.b import c` counts as a.b and a.b.c)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def test_the_gateway_has_its_domains() -> None:
    assert {"ingest", "uploads", "photos", "piwigo", "photolog", "sync", "timelapse"} <= set(DOMAINS)
    assert len(MODULES) > 50


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_domains_modules_are_named_from_the_shape(domain: str) -> None:
    names = {p.stem for p in (PACKAGE / domain).glob("*.py")}
    odd = names - SHAPE - STEPS.get(domain, set())
    assert not odd, f"{domain}/: name these after the shape {sorted(SHAPE)}, or list them as its STEPS: {odd}"


def test_endpoints_build_no_queries() -> None:
    offenders = [
        relative(p)
        for p in MODULES
        if p.stem == "endpoints" and any(m.split(".")[0] == "sqlalchemy" for m in imports(p))
    ]
    assert not offenders, f"SQL belongs in repository.py; these import sqlalchemy: {offenders}"


def test_a_domain_uses_another_only_through_its_service_schemas_and_errors() -> None:
    offenders = []
    for path in MODULES:
        domain = path.parent.name
        for module in imports(path):
            parts = module.split(".")
            if parts[0] != "picturetime_gateway" or len(parts) < 3 or parts[1] not in DOMAINS:
                continue
            if parts[1] != domain and parts[2] not in PUBLIC:
                offenders.append(f"{relative(path)} imports {module}")
    assert not offenders, "\n".join(sorted(set(offenders)))


def test_other_domains_reach_the_upload_path_only_through_its_service_and_errors() -> None:
    outside = [p for p in PACKAGE.rglob("*.py") if p.parent.name != "ingest"]
    reached = {m for p in outside for m in imports(p) if m.startswith("picturetime_gateway.ingest.")}
    assert {m.split(".")[2] for m in reached} <= {"service", "errors"}, sorted(reached)


def test_owner_scoping_is_written_once() -> None:
    """`Photo.owner_id == …` and friends live in scoping.py; a query uses its predicates."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "scoping.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                offenders += [
                    f"{relative(path)}:{node.lineno}"
                    for side in (node.left, *node.comparators)
                    if isinstance(side, ast.Attribute)
                    and side.attr in ("owner_id", "user_id")
                    and isinstance(side.value, ast.Name)
                    and side.value.id[:1].isupper()  # a model's column, not a loaded row's value
                ]
    assert not offenders, f"use picturetime_gateway.scoping: {offenders}"


def test_only_the_request_edge_commits() -> None:
    """Services never commit: the request's session dependency does (a worker, one per message)."""
    committing = sorted(
        relative(p) for p in PACKAGE.rglob("*.py") if ".commit()" in p.read_text() and p.name != "deps.py"
    )
    assert committing == [], committing

"""deploy/Dockerfile: installs Ferry as the Makefile does (less the dev extra), multi-stage,
pinned, non-root. The image is not built here: that needs a Docker engine and a registry."""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path

import pytest

from tests.helpers import REPO

DOCKERFILE = REPO / "deploy" / "Dockerfile"
MAKEFILE = REPO / "Makefile"
DOCKERIGNORE = REPO / ".dockerignore"
# A Makefile extra the image leaves out: the test and lint tools.
DEV_EXTRAS = {"dev"}

Step = tuple[str, frozenset[str], frozenset[str]]
"""Step is one pip install: what (a path), which extras, which flags (--quiet and -e aside)."""


def _pip_steps(commands: list[str], where: str) -> list[Step]:
    steps = []
    for command in commands:
        words = shlex.split(command)
        if "pip" not in " ".join(words) or "install" not in words:
            continue
        args = words[words.index("install") + 1 :]
        flags = frozenset(a for a in args if a.startswith("-") and a not in ("-q", "--quiet", "-e"))
        targets = [a for a in args if not a.startswith("-")]
        if len(targets) != 1:
            raise AssertionError(f"{where}: one target per pip install, got {targets}: {command}")
        match = re.fullmatch(r"(.*?)(?:\[([^\]]*)\])?", targets[0])
        assert match
        path = match.group(1).rstrip("/") or "."
        extras = frozenset(e.strip() for e in (match.group(2) or "").split(",") if e.strip())
        steps.append((path, extras, flags))
    return steps


def makefile_steps(text: str) -> list[Step]:
    """makefile_steps are the pip installs of the Makefile's install recipe ($(STAMP))."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("$(STAMP):"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return _pip_steps(recipe, "Makefile")


def dockerfile_steps(text: str) -> list[Step]:
    """dockerfile_steps are the pip installs of the Dockerfile's RUN instructions."""
    joined = re.sub(r"\\\n", " ", text)
    commands = []
    for line in joined.splitlines():
        if line.strip().upper().startswith("RUN "):
            commands += line.strip()[4:].split("&&")
    return _pip_steps(commands, "Dockerfile")


def divergence(makefile: str, dockerfile: str) -> list[str]:
    """divergence says how the Dockerfile's installs differ from the Makefile's, the dev
    extra aside (the Dockerfile must not install it)."""
    wanted = [(p, e - DEV_EXTRAS, f) for p, e, f in makefile_steps(makefile)]
    got = dockerfile_steps(dockerfile)
    problems = []
    if not wanted:
        problems.append("the Makefile's install recipe has no pip install")
    for path, extras, _ in got:
        if extras & DEV_EXTRAS:
            problems.append(f"the image installs {path} with the dev extra")
    if [(p, e - DEV_EXTRAS, f) for p, e, f in got] != wanted:
        problems.append(f"Makefile installs {wanted}, the Dockerfile {got}")
    return problems


def test_the_image_installs_what_the_makefile_installs() -> None:
    assert divergence(MAKEFILE.read_text(), DOCKERFILE.read_text()) == []
    assert [p for p, _, _ in dockerfile_steps(DOCKERFILE.read_text())] == [
        ".",
        "examples/ferry-git-connector",
    ]


MAKE = MAKEFILE.read_text()
DOCKER = DOCKERFILE.read_text()


@pytest.mark.parametrize(
    ("makefile", "dockerfile"),
    [
        # The Makefile installs one more plugin.
        (MAKE.replace("\ttouch $(STAMP)", "\t$(BIN)/pip install -e examples/x\n\ttouch $(STAMP)"),
         DOCKER),
        # The Dockerfile forgets the git connector.
        (MAKE, DOCKER.replace("pip install --quiet --no-deps examples/ferry-git-connector", "")),
        # The Dockerfile installs the plugin with its dependencies.
        (MAKE, DOCKER.replace("--no-deps examples", "examples")),
        # The project gains an extra in the Makefile only.
        (MAKE.replace("'.[dev]'", "'.[dev,postgres]'"), DOCKER),
        # The image installs the dev extra.
        (MAKE, DOCKER.replace("pip install --quiet .", "pip install --quiet '.[dev]'")),
    ],
    ids=["makefile-adds", "docker-drops", "docker-deps", "extra", "dev-in-image"],
)  # fmt: skip
def test_a_divergence_is_caught(makefile: str, dockerfile: str) -> None:
    assert makefile != MAKE or dockerfile != DOCKER, "the mutation did not apply"
    assert divergence(makefile, dockerfile)


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_stages_are_pinned_and_the_runtime_is_non_root() -> None:
    steps = _instructions(DOCKER)
    base = dict(a.split("=", 1) for i, a in steps if i == "ARG" and "=" in a)
    assert re.fullmatch(
        r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base["PYTHON_IMAGE"]
    )
    froms = [a for i, a in steps if i == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]
    runtime = steps[[i for i, _ in steps].index("FROM", 1) :]
    assert ("COPY", "--from=build /opt/ferry/venv /opt/ferry/venv") in runtime
    assert [a for i, a in runtime if i == "USER"] == ["10001:10001"]
    assert [a for i, a in runtime if i == "ENTRYPOINT"] == ['["ferry"]']
    assert [a for i, a in runtime if i == "VOLUME"] == ['["/var/lib/ferry"]']
    labels = " ".join(a for i, a in runtime if i == "LABEL")
    assert "org.opencontainers.image.title" in labels
    assert "org.opencontainers.image.version" in labels
    env = " ".join(a for i, a in runtime if i == "ENV")
    assert "HOME=/tmp" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert version and base["VERSION"] == version.group(1)


def test_everything_copied_exists_and_is_not_ignored() -> None:
    ignored = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = []
    for instruction, args in _instructions(DOCKER):
        if instruction == "COPY" and not args.startswith("--from"):
            sources += args.split()[:-1]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        for pattern in ignored:
            assert not fnmatch.fnmatch(source, pattern.removeprefix("**/")), (source, pattern)
    # What pip installs is copied in.
    for path, _, _ in dockerfile_steps(DOCKER):
        assert path == "." or path in sources, path
    assert {"pyproject.toml", "README.md", "ferry", "services"} <= set(sources)


def test_the_health_probe_copied_into_the_image_exists() -> None:
    copies = [a for i, a in _instructions(DOCKER) if i == "COPY" and "grpc_health_probe" in a]
    assert copies == ["deploy/grpc_health_probe.py /opt/ferry/grpc_health_probe.py"]
    assert Path(REPO / "deploy" / "grpc_health_probe.py").is_file()

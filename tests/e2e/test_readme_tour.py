"""The README's five-minute tour, run for real against ``ferry up`` (what ``make run`` starts).

Every line that starts with ``$ `` inside a ```` ```console ```` block of README.md
is a command. They run in order, each as its own process without a shell:

- ``ferry`` runs as ``python -m ferry.cli.main``; ``grpcurl`` is the real binary
  (the ``grpcurl`` fixture). Any other program fails the test.
- ``127.0.0.1:50051`` and ``127.0.0.1:50053`` (where ``make run``'s coordinator
  and replicator listen) become the addresses of this test's.
- ``export NAME=VALUE`` sets NAME for the commands after it. Until the tour
  exports FERRY_COORDINATOR, it points at a closed port, so a command can never
  reach a developer's own ``make run`` by accident.
- A command that ends with the comment ``# exits N`` must exit with status N;
  every other command must exit 0. Output lines are not compared: ids,
  addresses, revisions and times differ from run to run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ferry.etcd import free_port
from tests.helpers import REPO, SERVING, health_status, wait_until

README = REPO / "README.md"
MAKE_RUN_ADDRESS = "127.0.0.1:50051"
MAKE_RUN_REPLICATOR = "127.0.0.1:50053"
FERRY = [sys.executable, "-m", "ferry.cli.main"]
EXPECTED_EXIT = re.compile(r"\s+#\s*exits\s+(\d+)\s*$")


@dataclass(frozen=True)
class TourCommand:
    """TourCommand is one ``$ `` line of the README and the exit status it promises."""

    line: int
    text: str
    exit_code: int


def tour_commands(readme: Path = README) -> list[TourCommand]:
    """tour_commands are the ``$ `` lines of the README's console blocks, in order."""
    commands: list[TourCommand] = []
    in_console = False
    for number, line in enumerate(readme.read_text().splitlines(), start=1):
        fence = line.strip()
        if not in_console and fence == "```console":
            in_console = True
        elif in_console and fence == "```":
            in_console = False
        elif in_console and line.startswith("$ "):
            text = line[2:]
            match = EXPECTED_EXIT.search(text)
            code = int(match.group(1)) if match else 0
            commands.append(TourCommand(number, text[: match.start()] if match else text, code))
    return commands


def _ferry(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FERRY, *args, "--coordinator", address],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )


def _clean_env() -> dict[str, str]:
    """_clean_env is this process's environment without FERRY_* settings that could leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}


def test_readme_tour_covers_the_basics() -> None:
    texts = [c.text for c in tour_commands()]
    tour = "\n".join(texts)
    for needed in (
        "ferry cluster status",
        "ferry connectors list",
        "ferry connectors get",
        "ferry connectors types",
        "ferry sync pgbench-accounts --watch",
        "ferry sync docs --watch",
        "ferry index count docs --match",
        "ferry connectors create -f examples/",
        "ferry connectors pause",
        "ferry connectors resume",
        "-o json",
        f"grpcurl -plaintext {MAKE_RUN_ADDRESS} list",
        f"grpcurl -plaintext {MAKE_RUN_ADDRESS} describe ferry.v1.ConnectorSpec",
        "ferry.v1.Connectors/Get",
        "grpc.health.v1.Health/Check",
    ):
        assert needed in tour, f"the README tour no longer shows {needed!r}"
    assert any(c.exit_code != 0 for c in tour_commands()), "the tour shows no validation error"


def test_readme_tour_runs_against_ferry_up(tmp_path: Path, grpcurl: str) -> None:
    commands = tour_commands()
    address = f"127.0.0.1:{free_port()}"
    replicator = f"127.0.0.1:{free_port()}"
    out = tmp_path / "up.out"
    # As `make run` does. The data dir is outside pytest's tmp_path: as root the demo
    # PostgreSQL runs as another user, which must reach it (see embedded_postgres).
    data_dir = Path(tempfile.mkdtemp(prefix="ferry-tour-"))
    up_env = {**_clean_env(), "FERRY_DEMO_DOCS": str(REPO / "docs")}
    with open(out, "w") as sink:
        up = subprocess.Popen(
            [*FERRY, "up", "--data-dir", str(data_dir), "--listen", address,
             "--replicator-listen", replicator,
             "--connectors-file", "examples/demo-connectors.yaml", "--lease-ttl", "3",
             "--demo-postgres"],
            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=REPO, env=up_env,
        )  # fmt: skip
    try:
        wait_until(
            lambda: health_status(address) == SERVING, timeout=120, what="coordinator SERVING"
        )

        def leader_and_agent() -> bool:
            result = _ferry(address, "cluster", "status", "-o", "json")
            assert result.returncode == 0, result.stderr
            status = json.loads(result.stdout)
            return bool(status.get("leader", {}).get("id") and status.get("agents"))

        wait_until(leader_and_agent, timeout=30, what="a leader and an agent registered")

        env = {**_clean_env(), "FERRY_COORDINATOR": f"127.0.0.1:{free_port()}"}
        programs = {"ferry": FERRY, "grpcurl": [grpcurl]}
        for command in commands:
            text = command.text.replace(MAKE_RUN_ADDRESS, address)
            argv = shlex.split(text.replace(MAKE_RUN_REPLICATOR, replicator), comments=True)
            where = f"README.md:{command.line}: $ {command.text}"
            if argv[0] == "export":
                for assignment in argv[1:]:
                    name, sep, value = assignment.partition("=")
                    assert sep, f"{where}: export needs NAME=VALUE"
                    env[name] = value
                continue
            assert argv[0] in programs, f"{where}: the test cannot run {argv[0]!r}"
            result = subprocess.run(
                [*programs[argv[0]], *argv[1:]],
                capture_output=True,
                text=True,
                timeout=30,
                cwd=REPO,
                env=env,
            )
            assert result.returncode == command.exit_code, (
                f"{where}\nexited {result.returncode}, README says {command.exit_code}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
    finally:
        up.send_signal(signal.SIGTERM)
        code = up.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)
    assert code == 0, out.read_text()[-3000:]

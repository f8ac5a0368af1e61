"""Generate the ferry.v1 Python stubs from protos/ferry/v1, or check they are fresh.

``python -m ferry.protogen --out .`` (``make proto``) regenerates ``ferry/v1``
under the output root; ``python -m ferry.protogen --check`` (``make
verify-proto``) regenerates into a temporary directory and fails listing every
stale, missing or extra file. Both run protoc in-process through grpc_tools
with ``protos/`` as the include root, so generated modules import each other
as ``from ferry.v1 import common_pb2``.
"""

from __future__ import annotations

import argparse
import importlib.resources
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]

REPO_ROOT = Path(__file__).resolve().parent.parent
"""REPO_ROOT is the checkout this module lives in."""

PROTO_ROOT = REPO_ROOT / "protos"
"""PROTO_ROOT is the include root: ``ferry/v1/x.proto`` lives under it."""

PACKAGE_DIR = Path("ferry", "v1")
"""PACKAGE_DIR is where protos and stubs live, relative to their roots."""

INIT_SOURCE = '"""Generated from protos/ferry/v1 by `make proto`; do not edit."""\n'
"""INIT_SOURCE is the content of the generated package's ``__init__.py``."""

_GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
_MYPY_GRPC_PLUGIN = "protoc-gen-mypy_grpc"


class ProtogenError(Exception):
    """ProtogenError says why no stubs were generated: no protos, no plugin, protoc error."""


def proto_files(proto_root: Path = PROTO_ROOT) -> list[str]:
    """Return every ``ferry/v1/*.proto`` under proto_root, relative to it, sorted.

    Raises ProtogenError when there is none, since an empty contract is
    always a mistake (a wrong root), never an intent.
    """
    files = sorted(
        p.relative_to(proto_root).as_posix() for p in (proto_root / PACKAGE_DIR).glob("*.proto")
    )
    if not files:
        raise ProtogenError(f"protogen: no .proto files under {proto_root / PACKAGE_DIR}")
    return files


def _mypy_grpc_plugin() -> str:
    """Return the path of mypy-protobuf's gRPC plugin installed beside Python."""
    # protoc spawns plugins by path; the venv's bin directory need not be on PATH.
    bin_dir = Path(sys.executable).parent
    found = shutil.which(_MYPY_GRPC_PLUGIN, path=str(bin_dir)) or shutil.which(_MYPY_GRPC_PLUGIN)
    if found is None:
        raise ProtogenError(
            f"protogen: {_MYPY_GRPC_PLUGIN} not found in {bin_dir} or on PATH; "
            "install the dev extras (mypy-protobuf) with `make install`"
        )
    return found


def generate(out_root: Path, proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Generate the stubs of every proto under proto_root into out_root/ferry/v1.

    Writes ``*_pb2.py``, ``*_pb2.pyi``, ``*_pb2_grpc.py``, ``*_pb2_grpc.pyi``
    and ``__init__.py``, overwriting files of the same name but removing
    nothing (see write_stubs). Returns the generated files, sorted.
    Raises ProtogenError when protoc fails.
    """
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    package_dir = out_root / PACKAGE_DIR
    package_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"--proto_path={proto_root}",
        f"--proto_path={well_known}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--plugin={_MYPY_GRPC_PLUGIN}={_mypy_grpc_plugin()}",
        "--mypy_grpc_opt=quiet",
        f"--mypy_grpc_out={out_root}",
        *proto_files(proto_root),
    ]
    if protoc.main(args) != 0:
        raise ProtogenError("protogen: protoc failed (its errors are printed above)")
    (package_dir / "__init__.py").write_text(INIT_SOURCE)
    return sorted(_stub_files(package_dir))


def _stub_files(package_dir: Path) -> list[Path]:
    """Return the generated files present in package_dir (stubs and __init__.py)."""
    if not package_dir.is_dir():
        return []
    return [
        p
        for p in package_dir.iterdir()
        if p.is_file() and (p.name == "__init__.py" or p.name.endswith(_GENERATED_SUFFIXES))
    ]


def diff_stubs(out_root: Path = REPO_ROOT, proto_root: Path = PROTO_ROOT) -> list[str]:
    """Return how the stubs under out_root/ferry/v1 differ from fresh ones.

    Each entry reads ``stale: ferry/v1/x_pb2.py``, ``missing: ...`` or
    ``extra: ...``; an empty list means the stubs are fresh. Generation
    happens in a temporary directory, so out_root is never touched.
    """
    with tempfile.TemporaryDirectory(prefix="ferry-protogen-") as tmp:
        fresh = {p.name: p for p in generate(Path(tmp), proto_root)}
        current = {p.name: p for p in _stub_files(out_root / PACKAGE_DIR)}
        problems = []
        for name in sorted(fresh.keys() | current.keys()):
            rel = (PACKAGE_DIR / name).as_posix()
            if name not in current:
                problems.append(f"missing: {rel}")
            elif name not in fresh:
                problems.append(f"extra: {rel}")
            elif fresh[name].read_bytes() != current[name].read_bytes():
                problems.append(f"stale: {rel}")
        return problems


def write_stubs(out_root: Path = REPO_ROOT, proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Regenerate out_root/ferry/v1 and remove stubs whose proto is gone.

    Generates into a temporary directory first, so a protoc error leaves the
    existing stubs untouched. Returns the written files, sorted.
    """
    package_dir = out_root / PACKAGE_DIR
    with tempfile.TemporaryDirectory(prefix="ferry-protogen-") as tmp:
        fresh = generate(Path(tmp), proto_root)
        package_dir.mkdir(parents=True, exist_ok=True)
        names = {p.name for p in fresh}
        for old in _stub_files(package_dir):
            if old.name not in names:
                old.unlink()
        for path in fresh:
            shutil.copyfile(path, package_dir / path.name)
    return sorted(package_dir / name for name in names)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m ferry.protogen",
        description="Generate ferry/v1 from protos/ferry/v1, or check it is fresh.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT,
        help="root the stubs go under, as OUT/ferry/v1 (default: the repository root)",
    )
    parser.add_argument(
        "--protos", type=Path, default=PROTO_ROOT, help="proto include root (default: %(default)s)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="generate into a temporary directory and fail if OUT/ferry/v1 differs",
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = diff_stubs(args.out, args.protos)
            if problems:
                print("protogen: stubs differ from protos; run `make proto`:", file=sys.stderr)
                for problem in problems:
                    print(f"  {problem}", file=sys.stderr)
                return 1
            print("protogen: stubs are fresh")
            return 0
        written = write_stubs(args.out, args.protos)
    except ProtogenError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"protogen: wrote {len(written)} files to {args.out / PACKAGE_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

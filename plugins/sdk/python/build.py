#!/usr/bin/env python3
"""Builds a Python UDF into a wafer plugin (a Wasm component).

    python3 build.py APP_DIR OUT.wasm [--wit WIT_DIR]

APP_DIR holds `app.py`, whose `WitWorld` is usually `wafer_udf.udf(...)`;
`wafer_udf.py` is found in APP_DIR or beside this script. WIT_DIR defaults
to the repository's `wit/` (or APP_DIR/wit in a `wafer plugin new` project).

componentize-py (pinned below) is fetched from PyPI once, as a wheel, into
the tool cache: $WAFER_TOOL_CACHE, else $XDG_CACHE_HOME/wafer/tools, else
~/.cache/wafer/tools. A wheel is unpacked rather than pip-installed so this
needs no virtualenv and works beside a system Python that refuses installs.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

COMPONENTIZE_PY = "0.25.1"
HERE = pathlib.Path(__file__).resolve().parent


def tool_cache():
    if os.environ.get("WAFER_TOOL_CACHE"):
        return pathlib.Path(os.environ["WAFER_TOOL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "wafer" / "tools"


def componentize_py():
    """The folder to put on sys.path for componentize-py; fetched if missing."""
    cache = tool_cache()
    home = cache / f"componentize-py-{COMPONENTIZE_PY}"
    if (home / "componentize_py").is_dir():
        return home
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", f"componentize-py=={COMPONENTIZE_PY}", "-d", tmp],
            check=True,
        )
        wheel = next(pathlib.Path(tmp).glob("componentize_py-*.whl"))
        staging = pathlib.Path(tmp) / "unpacked"
        zipfile.ZipFile(wheel).extractall(staging)
        try:
            os.rename(staging, home)
        except OSError:
            # Another build installed it first; theirs is as good as ours.
            if not (home / "componentize_py").is_dir():
                raise
    return home


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("app_dir", type=pathlib.Path)
    p.add_argument("out", type=pathlib.Path)
    p.add_argument("--wit", type=pathlib.Path)
    args = p.parse_args()
    wit = args.wit or next(
        (d for d in (args.app_dir / "wit", HERE.parents[2] / "wit") if d.is_dir()), None
    )
    if wit is None:
        sys.exit("no WIT folder: pass --wit")
    if not (args.app_dir / "app.py").is_file():
        sys.exit(f"{args.app_dir / 'app.py'}: not found")
    sdk = args.app_dir if (args.app_dir / "wafer_udf.py").is_file() else HERE
    tool = componentize_py()
    env = dict(os.environ, PYTHONPATH=str(tool))
    cmd = [
        sys.executable, "-c",
        "import sys; sys.argv[0] = 'componentize-py'; import componentize_py; componentize_py.script()",
        "-d", str(wit), "-w", "transformer", "componentize", "app",
        "-p", str(args.app_dir), "-p", str(sdk), "-o", str(args.out),
    ]
    sys.exit(subprocess.run(cmd, env=env).returncode)


if __name__ == "__main__":
    main()

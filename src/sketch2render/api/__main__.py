"""`python -m sketch2render.api [--host H] [--port N]`: the API with settings from `S2R_*`."""

from __future__ import annotations

import argparse
import sys

from ..config import Settings
from ..errors import S2RError
from .server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sketch2render.api", description=__doc__)
    parser.add_argument("--host", default=None, help="default: S2R_HOST (127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="default: S2R_PORT (8000)")
    args = parser.parse_args(argv)
    try:
        serve(Settings(), host=args.host, port=args.port)
    except S2RError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

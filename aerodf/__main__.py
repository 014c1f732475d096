"""``python -m aerodf demo`` (the README's first command) and ``python -m aerodf server``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m aerodf {demo,server} [options]\n\n"
              "  demo    load a sample feature set and read it back into pandas and polars\n"
              "  server  run aerodf's wire-compatible Aerospike test server")
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "demo":
        from .demo import main as demo

        return demo(rest)
    if cmd == "server":
        from .testing.server import main as server

        return server(rest)
    print(f"unknown command {cmd!r}; try: python -m aerodf demo", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""`picturetime-archive`: serve the public portfolio site."""

from __future__ import annotations

import argparse
import logging
import sys

from picturetime_archive.settings import ArchiveSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="picturetime-archive", description="Picture Time public site")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the site")
    serve.add_argument("--host", help="bind address (default from PT_ARCHIVE__HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default from PT_ARCHIVE__PORT, 8080)")
    args = parser.parse_args(argv)
    settings = ArchiveSettings.load()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    import uvicorn

    from picturetime_archive.app import create_app
    from picturetime_common.localservers import PortInUseError, require_free

    port = args.port or settings.archive.port
    try:
        require_free(port, "archive")
    except PortInUseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    uvicorn.run(create_app(settings), host=args.host or settings.archive.host, port=port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The single-report baseline: a bare Starlette endpoint that reads the body and answers 202.

Served by the server software `downradar run` uses, with the same options: granian embedded
(downradar.cli.main.granian_server, over ASGI, the bare app's own interface), or with `--server uvicorn`
uvicorn.run with its defaults (uvloop and httptools when installed, one process), no log config, no
access log, as `downradar run --server uvicorn` does.

    .venv/bin/python bench/bare_app.py --port 8001
    .venv/bin/python bench/bare_app.py --port 8001 --server uvicorn
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ACCEPTED = b'{"id":1,"duplicate":false}'


async def report(request: Request) -> Response:
    await request.body()
    return Response(ACCEPTED, status_code=202, media_type="application/json")


async def healthz(_request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(
    routes=[Route("/api/v1/reports", report, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--server", choices=("granian", "uvicorn"), default="granian")
    args = parser.parse_args()
    if args.server == "uvicorn":
        uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
        return
    import uvloop

    from downradar.cli.main import granian_server

    uvloop.run(granian_server(app, args.host, args.port, rsgi=False).serve())


if __name__ == "__main__":
    main()

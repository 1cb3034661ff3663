#!/usr/bin/env python3
"""Run a real Websim client (gpt4free's Websim provider or webscout's WebSim) against a running
websim mock, once per (status, body shape, endpoint), and record which exception reaches the caller.

Runs inside the client's own virtual environment (see install.sh); uses only the standard library
besides the client. The mock must have its admin API reachable (loopback, or --admin-token).

    python matrix.py --client g4f --mock http://127.0.0.1:8787 [--json out.json]

A cell is "ok" when the exception is the client's documented error class (for g4f: a class from
g4f.errors or g4f.requests.raise_for_status; for webscout: a class from webscout.exceptions), and
"CRASH" otherwise (AttributeError, NameError, TypeError, JSONDecodeError, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import traceback
import types
import urllib.request

STATUSES = [400, 401, 402, 403, 429, 500, 502, 503]

CF_CHALLENGE = (
    '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title></head>'
    '<body><div id="challenge-body-text">websim.ai needs to review the security of your '
    "connection before proceeding.</div><script>window._cf_chl_opt={cType: 'managed'};</script>"
    "</body></html>"
)
CF_ERROR = (
    '<!DOCTYPE html><html lang="en-US"><head><title>websim.ai | {status}: Error</title></head>'
    '<body><div id="cf-wrapper"><div id="cf-error-details"><h1>Error code {status}</h1>'
    "</div></div></body></html>"
)

# name -> function(status) returning the scripted "body" (None = the mock's built-in body).
SHAPES = {
    "builtin": lambda s: None,
    "error_obj": lambda s: {"error": {"message": "boom", "field": None}},  # replies.error_body
    "error_str": lambda s: {"error": "boom"},
    "message": lambda s: {"message": "boom"},
    "detail": lambda s: {"detail": "boom"},
    "error_obj+message": lambda s: {"error": {"message": "boom"}, "message": "boom"},
    "error_str+message": lambda s: {"error": "Boom", "message": "boom"},
    "text": lambda s: "boom",
    "html_challenge": lambda s: CF_CHALLENGE,
    "html_cf_error": lambda s: CF_ERROR.format(status=s),
    # the mock's own 400s with the offending field, without an "error" object
    "message+field": lambda s: {"message": "invalid prompt: must not be empty", "field": "prompt"},
    # the recommendation of docs/real-clients.md: HTML where the live service sends a
    # Cloudflare page, else JSON {"message": ...}
    "proposed": lambda s: proposed(s),
}

PHRASES = {
    400: "Bad Request",
    401: "Authentication required",
    402: "Payment required: your quota is used up",
    429: "Rate limit exceeded",
    500: "Internal server error",
    503: "Service temporarily unavailable",
}


def proposed(status: int) -> object:
    if status == 403:
        return CF_CHALLENGE
    if status in (502, 504, 520):
        return CF_ERROR.format(status=status)
    import http

    try:
        phrase = PHRASES.get(status) or http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {"message": phrase}


CHAT_MESSAGES = [{"role": "user", "content": "Hello, how are you?"}]
IMAGE_MESSAGES = [{"role": "user", "content": "A cat in space"}]
# Chat retries 429 (and any status error whose text says "Rate limit exceeded") up to 3 attempts.
STEPS_PER_CASE = 3


class Admin:
    def __init__(self, base: str, token: str | None) -> None:
        self.base = base.rstrip("/")
        self.token = token

    def _call(self, method: str, path: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        if self.token:
            req.add_header("authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def reset(self) -> None:
        self._call("POST", "/__admin/reset", {})

    def script(self, endpoint: str, step: object, times: int) -> None:
        self._call(
            "POST", "/__admin/scenarios", {"endpoint": endpoint, "responses": [step] * times}
        )

    def requests(self) -> list:
        got = self._call("GET", "/__admin/requests")
        return got["requests"] if isinstance(got, dict) and "requests" in got else got


# --- clients ------------------------------------------------------------------------------------


class G4F:
    name = "g4f"

    def __init__(self, mock: str, real_sleep: bool) -> None:
        import g4f
        import g4f.errors

        self.version = getattr(g4f, "version", None)
        self.version = getattr(self.version, "utils", None) and g4f.version.utils.current_version
        try:
            from importlib.metadata import version

            self.version = version("g4f")
        except Exception:
            pass
        import importlib
        import os

        self.note = ""
        try:
            import g4f.Provider
        except ImportError as e:
            # 0.5.5.4, 0.6.2.4: the released wheel lacks a module g4f/Provider/__init__.py
            # imports, so nothing under g4f.Provider imports; load the provider under an empty one.
            for mod in list(sys.modules):
                if mod.startswith("g4f.Provider"):
                    del sys.modules[mod]
            package = types.ModuleType("g4f.Provider")
            package.__path__ = [os.path.join(os.path.dirname(g4f.__file__), "Provider")]
            package.__file__ = os.path.join(package.__path__[0], "__init__.py")
            sys.modules["g4f.Provider"] = package
            g4f.Provider = package
            self.note = f"import g4f.Provider fails ({type(e).__name__}: {e}); "
        module = None
        for name in ("g4f.Provider.Websim", "g4f.Provider.not_working.Websim"):  # <0.5.6.5, later
            try:
                module = importlib.import_module(name)
                break
            except ImportError as e:
                folder = os.path.join(
                    os.path.dirname(g4f.Provider.__file__), *name.split(".")[2:-1]
                )
                if not os.path.exists(os.path.join(folder, "Websim.py")):
                    continue
                # 0.5.6.5 .. 6.7.1: not_working/__init__.py itself fails to import (a sibling
                # module's broken import), so load Websim.py under an empty package instead.
                for mod in list(sys.modules):
                    if mod.startswith("g4f.Provider.not_working"):
                        del sys.modules[mod]
                package = types.ModuleType("g4f.Provider.not_working")
                package.__path__ = [folder]
                sys.modules["g4f.Provider.not_working"] = package
                module = importlib.import_module(name)
                self.note += (
                    f"package import fails ({type(e).__name__}: {e}); Websim.py loaded alone"
                )
                break
        if module is None:
            raise SystemExit("this g4f has no Websim provider (it has one in 0.4.9.0 .. 6.7.1)")
        Websim = module.Websim
        self.provider = Websim
        self.source = module.__file__
        Websim.chat_api_endpoint = mock + "/api/v1/inference/run_chat_completion"
        Websim.image_api_endpoint = mock + "/api/v1/inference/run_image_generation"
        if not real_sleep:  # the provider sleeps 2 s then 4 s between 429 attempts

            async def no_sleep(*_a, **_k):
                return None

            module.asyncio = types.SimpleNamespace(sleep=no_sleep)
        documented = [g4f.errors]
        try:
            import g4f.requests.raise_for_status as rfs  # CloudflareError lived here before 0.5.7.4

            documented.append(rfs)
        except Exception:
            pass
        self.documented = tuple(
            obj
            for mod in documented
            for obj in vars(mod).values()
            if isinstance(obj, type)
            and issubclass(obj, BaseException)
            and obj.__module__.startswith("g4f")
        )

    def call(self, endpoint: str) -> object:
        model = (
            self.provider.default_image_model
            if endpoint == "image"
            else self.provider.default_model
        )
        # fresh copies: some helpers mutate the list they are given
        messages = [dict(m) for m in (IMAGE_MESSAGES if endpoint == "image" else CHAT_MESSAGES)]
        extra = {"prompt": IMAGE_MESSAGES[-1]["content"]} if endpoint == "image" else {}

        async def run():
            out = []
            gen = self.provider.create_async_generator(model=model, messages=messages, **extra)
            async for item in gen:
                out.append(item)
            return out

        return asyncio.run(run())


class Webscout:
    name = "webscout"

    def __init__(self, mock: str, real_sleep: bool) -> None:
        import importlib
        from importlib.metadata import version

        from webscout import exceptions

        module = importlib.import_module("webscout.Provider.WebSim")
        WebSim = module.WebSim

        self.version = version("webscout")
        self.provider = WebSim
        self.source = module.__file__
        WebSim.chat_api_endpoint = mock + "/api/v1/inference/run_chat_completion"
        WebSim.image_api_endpoint = mock + "/api/v1/inference/run_image_generation"
        self.documented = tuple(
            obj
            for obj in vars(exceptions).values()
            if isinstance(obj, type)
            and issubclass(obj, BaseException)
            and obj.__module__.startswith("webscout")
        )

    def call(self, endpoint: str) -> object:
        model = "flux" if endpoint == "image" else "gemini-1.5-pro"
        client = self.provider(model=model, timeout=10, is_conversation=False)
        return client.ask("A cat in space" if endpoint == "image" else "Hello, how are you?")


CLIENTS = {"g4f": G4F, "webscout": Webscout}


def classify(exc: BaseException | None, documented: tuple) -> str:
    if exc is None:
        return "no error"
    return "ok" if isinstance(exc, documented) else "CRASH"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--client", choices=sorted(CLIENTS), required=True)
    ap.add_argument("--mock", required=True, help="base URL of a running websim mock")
    ap.add_argument("--admin-token", default=None)
    ap.add_argument("--statuses", default=",".join(map(str, STATUSES)))
    ap.add_argument(
        "--shapes", default=",".join(SHAPES), help="comma list of: " + ", ".join(SHAPES)
    )
    ap.add_argument("--endpoints", default="chat,image")
    ap.add_argument("--real-sleep", action="store_true", help="keep g4f's 2 s + 4 s 429 back-off")
    ap.add_argument("--json", help="write the results here (a list of cells)")
    ap.add_argument("--traceback", action="store_true", help="print the crash tracebacks")
    args = ap.parse_args()

    mock = args.mock.rstrip("/")
    client = CLIENTS[args.client](mock, args.real_sleep)
    admin = Admin(mock, args.admin_token)
    print(f"# {client.name} {client.version}  ({client.source})", flush=True)
    if getattr(client, "note", ""):
        print(f"# note: {client.note}", flush=True)
    cells = []
    for status in [int(s) for s in args.statuses.split(",")]:
        for shape in args.shapes.split(","):
            body = SHAPES[shape](status)
            step = status if body is None else {"status": status, "body": body}
            for endpoint in args.endpoints.split(","):
                admin.reset()
                admin.script(endpoint, step, STEPS_PER_CASE)
                exc = None
                tb = ""
                try:
                    client.call(endpoint)
                except BaseException as e:
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    exc = e
                    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
                try:
                    sent = len(admin.requests())
                except Exception:
                    sent = -1
                cell = {
                    "client": client.name,
                    "version": client.version,
                    "status": status,
                    "shape": shape,
                    "endpoint": endpoint,
                    "verdict": classify(exc, client.documented),
                    "exception": None
                    if exc is None
                    else f"{type(exc).__module__}.{type(exc).__qualname__}",
                    "message": None if exc is None else str(exc)[:160],
                    "requests": sent,
                    "note": getattr(client, "note", ""),
                }
                if exc is not None and cell["verdict"] == "CRASH":
                    last = traceback.extract_tb(exc.__traceback__)[-1]
                    cell["where"] = f"{last.filename}:{last.lineno}"
                cells.append(cell)
                where = f"  @ {cell.get('where')}" if "where" in cell else ""
                print(
                    f"{status} {shape:18} {endpoint:5} {cell['verdict']:8} "
                    f"{(cell['exception'] or '-'):45} {cell['message']!r}{where}",
                    flush=True,
                )
                if args.traceback and cell["verdict"] == "CRASH":
                    print(tb, file=sys.stderr)
    admin.reset()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(cells, f, indent=1)
    crashes = sum(c["verdict"] != "ok" for c in cells)
    print(f"# {len(cells) - crashes} ok, {crashes} not ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

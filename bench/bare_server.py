"""The baseline: a bare aiohttp app answering the Websim endpoints with no mock machinery.

Each handler parses the JSON body (whatever the content type) and answers in the same shape
as the mock server: ``{"content": ...}``, an event stream of ``data: {"content": ...}`` events
ending in ``data: [DONE]``, or ``{"url": ...}``. No validation, no journal, no scenarios: the
mock server's throughput is measured against this.

With ``--quote`` the chat answer is built per request, as the mock builds its own: the body is
parsed, the last user message found and quoted into the answer, and the JSON written again
(equal work for the parsing and the answer; still no validation, journal or scenarios).

``python bench/bare_server.py --port 0 [--content TEXT] [--events N] [--quote]`` prints
``websim bare server listening on http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from aiohttp import web

DEFAULT_CONTENT = "Hello! I am a mock Websim model. How can I help you today?"


def split_even(text: str, parts: int) -> list[str]:
    """``text`` in ``parts`` consecutive pieces (the last ones may be empty if it is short)."""
    parts = max(1, parts)
    size, extra = divmod(len(text), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(text[start:end])
        start = end
    return out


def last_user_text(messages: list[object]) -> str:
    """The last user message's text (a string content, or its text parts joined)."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                parts = [p.get("text", "") for p in content if isinstance(p, dict)]
                return " ".join(str(p) for p in parts)
    return ""


def quoted(content: str, messages: list[object]) -> str:
    """``content`` with the last user message quoted into it, cut as the mock cuts its quote."""
    said = " ".join(last_user_text(messages).split())[:200]
    return f'{content} You wrote: "{said}"'


def make_app(
    content: str = DEFAULT_CONTENT, events: int = 8, quote: bool = False
) -> web.Application:
    chat_body = json.dumps({"content": content}).encode()
    frames = [
        f"data: {json.dumps({'content': piece}, ensure_ascii=False)}\n\n".encode()
        for piece in split_even(content, events)
    ]
    done = b"data: [DONE]\n\n"
    counter = 0

    async def chat(request: web.Request) -> web.StreamResponse:
        payload = json.loads(await request.read())
        if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
            return web.json_response({"error": "messages must be a list"}, status=400)
        answer_frames, answer_body = frames, chat_body
        stream = payload.get("stream") is True
        if quote:  # the answer's text, then only the form asked for
            text = quoted(content, payload["messages"])
            if stream:
                answer_frames = [
                    f"data: {json.dumps({'content': piece}, ensure_ascii=False)}\n\n".encode()
                    for piece in split_even(text, events)
                ]
            else:
                answer_body = json.dumps({"content": text}).encode()
        if stream:
            response = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            for frame in answer_frames:
                await response.write(frame)
            await response.write(done)
            await response.write_eof()
            return response
        return web.Response(body=answer_body, content_type="application/json")

    async def image(request: web.Request) -> web.Response:
        nonlocal counter
        payload = json.loads(await request.read())
        if not isinstance(payload, dict) or not isinstance(payload.get("prompt"), str):
            return web.json_response({"error": "prompt must be a string"}, status=400)
        counter += 1
        url = f"http://{request.host}/images/bare-{counter}.png"
        return web.json_response({"url": url})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/api/v1/inference/run_chat_completion", chat)
    app.router.add_post("/api/v1/inference/run_image_generation", image)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(host: str, port: int, content: str, events: int, quote: bool) -> None:
    runner = web.AppRunner(make_app(content, events, quote))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    print(f"websim bare server listening on http://{bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--content", default=DEFAULT_CONTENT, help="the chat answer's text")
    parser.add_argument("--events", type=int, default=8, help="content events per stream")
    parser.add_argument(
        "--quote", action="store_true", help="quote the last user message into each answer"
    )
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.content, args.events, args.quote))
    return 0


if __name__ == "__main__":
    sys.exit(main())

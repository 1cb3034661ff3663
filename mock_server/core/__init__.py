"""The mock's pure core: no asyncio, no aiohttp, no sockets (checked by import-linter).

Options (``config``), steps and their queue, the journal, state, chaos, rate limit, latency,
replies, status answers (``statuses``) and images, the error tree, and the one decision
(``decision``) that says what each inference request gets. ``mock_server.web`` plays what it
decides.
"""

__all__: list[str] = []

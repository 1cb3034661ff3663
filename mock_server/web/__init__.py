"""The mock's web shell over aiohttp: routes, handlers, fault playback, the admin API, the
OpenAPI document, the wire-level fixes, and aiohttp's internals (confined to ``internals``)."""

__all__: list[str] = []

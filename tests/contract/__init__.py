"""The contract suite: the rules of the Websim protocol, stated once, run against any backend.

``pytest tests/contract`` runs them against the mock server and the cassettes;
``--backend=live`` against ``$WEBSIM_BASE_URL`` (default https://websim.ai). See ``backends.py``.
"""

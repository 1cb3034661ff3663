# Websim cassettes for @pytest.mark.vcr tests; the websim_server fixture needs no line here.
pytest_plugins = ["websim_cassettes.pytest_plugin"]

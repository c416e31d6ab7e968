# Lets `pytest steps/1-socket/tests` work directly, with the course's fixtures.
pytest_plugins = ["checks.plugin"]

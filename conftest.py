import pytest

# Lets `pytest steps/1-socket/tests` work directly, with the course's fixtures.
pytest_plugins = ["checks.plugin"]


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    """Under pytest-xdist's --dist loadgroup (make test), the tests that use the built docs site run
    on one worker, so the site is built once."""
    for item in items:
        if "site" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("site"))

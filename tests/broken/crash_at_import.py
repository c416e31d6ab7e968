"""A learner file that imports a module that does not exist."""

import socket_helpers_that_do_not_exist  # noqa: F401

"""Code carried from one step to the next stays the same, unless the later step changes it on purpose.

A fix made to step 2's parser must reach steps 3, 4 and 5, which carry it over,
and every extension, which starts from step 5's reference. Each function or
method defined in two consecutive steps' solutions (or in step 5's and an
extension's) must have the same code (docstrings and comments aside), except
the ones listed in INTENDED_CHANGES: the places where a step grows its
predecessor's code.
"""

import ast

import pytest

from checks.course import all_extensions, all_steps

# (later step, file, function): changed on purpose by that step, and why.
INTENDED_CHANGES = {
    ("2-parser", "server.py", "HTTPServer.__init__"): "takes a handler and a body limit",
    ("2-parser", "server.py", "HTTPServer.handle_client"): "reads a whole request and answers errors",
    ("2-parser", "server.py", "main"): "configures logging",
    ("2-parser", "server.py", "HTTPServer.serve_forever"): "hands each client to dispatch(), which caps the connections",
    ("2-parser", "server.py", "HTTPServer.wait_until_idle"): "waits on the count of connections dispatch() keeps",
    ("3-router", "response.py", "HTTPResponse.to_bytes"): "send_body for HEAD; no Content-Length on 204",
    ("3-router", "server.py", "HTTPServer.__init__"): "the demo app is the default handler",
    ("3-router", "server.py", "HTTPServer.handle_client"): "leaves out the body of every HEAD answer",
    ("3-router", "server.py", "main"): "a new description",
    ("4-static", "app.py", "create_app"): "mounts the static folder",
    ("4-static", "response.py", "HTTPResponse.to_bytes"): "streams chunks; no Content-Length on 304",
    ("4-static", "server.py", "HTTPServer.__init__"): "takes create_app's options",
    ("4-static", "server.py", "HTTPServer.handle_client"): "sends with write_to, streaming",
    ("4-static", "server.py", "main"): "a new description",
    ("5-middleware", "app.py", "create_app"): "the finished site, wrapped in middleware",
    ("5-middleware", "server.py", "HTTPServer.handle_client"): "notes the client's address for the log",
    ("5-middleware", "response.py", "HTTPResponse.to_bytes"): "formats the Date once a second (make bench shows why)",
    ("5-middleware", "server.py", "main"): "a new description and stop message",
    ("keep-alive", "app.py", "create_app"): "adds /api/countdown, a body made as it is sent",
    ("keep-alive", "request.py", "parse_request"): "reads a chunked body",
    ("keep-alive", "request.py", "request_size"): "says CHUNKED when only the chunks know the size",
    ("keep-alive", "response.py", "HTTPResponse.to_bytes"): "frames the body to keep the connection open",
    ("keep-alive", "response.py", "HTTPResponse.write_to"): "sends chunks",
    ("keep-alive", "server.py", "ClientConnection.__init__"): "starts from bytes a previous request left",
    ("keep-alive", "server.py", "ClientConnection._take"): "finds the end of a chunked body",
    ("keep-alive", "server.py", "ClientConnection._recv_in_time"): "passes its wait to the TimedSocket's recv()",
    ("keep-alive", "server.py", "close_gracefully"): "waits with the TimedSocket's recv() instead of settimeout()",
    ("keep-alive", "server.py", "HTTPServer.__init__"): "takes the keep-alive timeout and request cap",
    ("keep-alive", "server.py", "HTTPServer.handle_client"): "serves request after request",
    ("keep-alive", "server.py", "main"): "a new description",
    ("keep-alive", "server.py", "read_request"): "works on the connection's buffer",
    ("compression", "app.py", "create_app"): "adds /api/users, and compression in the Pipeline",
    ("compression", "middleware.py", "LoggingMiddleware.after_request"): "logs - for a body of unknown size",
    ("compression", "response.py", "HTTPResponse.to_bytes"): "no Content-Length for a stream of unknown length",
    ("compression", "server.py", "main"): "a new description",
    ("rate-limit", "app.py", "create_app"): "adds /health, and a RateLimitMiddleware with quotas per policy",
    ("rate-limit", "server.py", "main"): "a new description",
    ("sessions", "app.py", "create_app"): "adds the login, account and logout pages, and a SessionMiddleware",
    ("sessions", "server.py", "main"): "a new description",
    ("templates", "app.py", "create_app"): "renders its pages from the templates in pages/, and adds /hello",
    ("templates", "server.py", "main"): "a new description",
    ("uploads", "app.py", "create_app"): "adds the /upload form and /uploads/<name>, kept in upload_dir",
    ("uploads", "request.py", "parse_request"): "leaves a multipart/form-data body for the handler to stream",
    ("uploads", "request.py", "request_size"): "counts the head alone when the handler streams the body",
    ("uploads", "server.py", "HTTPServer.handle_client"): "lingers when the handler left a streamed body unread",
    ("uploads", "server.py", "main"): "a new description",
    ("uploads", "server.py", "read_request"): "gives a multipart/form-data request a BodyStream to read",
    ("caching", "app.py", "create_app"): "puts CacheControlMiddleware in the pipeline; adds /api/time, with its own policy",
    ("caching", "server.py", "main"): "a new description",
    ("caching", "static.py", "StaticFiles.__call__"): "answers 412, 304, 416 or 206 in RFC 9110's order, with Accept-Ranges",
    ("caching", "static.py", "not_modified"): "reads its date with http_date_seconds(), shared with the new preconditions",
}

STEPS = all_steps()
# Each step with the one before it; each extension with the last step, which it starts from.
PAIRS = list(zip(STEPS, STEPS[1:])) + [(STEPS[-1], extension) for extension in all_extensions()]


def definitions(path):
    """{name: code without its docstring} for each top-level function and method in ``path``."""
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        members = [(f"{node.name}.{sub.name}", sub) for sub in node.body if isinstance(sub, ast.FunctionDef)] \
            if isinstance(node, ast.ClassDef) else [(node.name, node)] if isinstance(node, ast.FunctionDef) else []
        for name, function in members:
            body = function.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring may be reworded per step
            found[name] = ast.dump(ast.Module(body=body, type_ignores=[]))
    return found


@pytest.mark.parametrize("earlier, later", PAIRS, ids=[later.name for _, later in PAIRS])
def test_carried_over_code_is_unchanged(earlier, later):
    drifted = []
    for path in earlier.solution_files:
        carried = later.solution_dir / path.name
        if not carried.exists():
            continue
        before, after = definitions(path), definitions(carried)
        for name in sorted(set(before) & set(after)):
            if before[name] != after[name] and (later.name, path.name, name) not in INTENDED_CHANGES:
                drifted.append(f"{path.name}: {name}")
    assert not drifted, (
        f"{later.name} carries these over from {earlier.name}, but with different code: {drifted}. "
        "Apply the same change to both (and regenerate the starters), or list it in INTENDED_CHANGES."
    )


def test_every_intended_change_is_still_a_change():
    names = {step.name: step for _, step in PAIRS}
    earlier = {later.name: before for before, later in PAIRS}
    stale = []
    for step_name, file_name, function in INTENDED_CHANGES:
        later = names[step_name]
        before = definitions(earlier[step_name].solution_dir / file_name).get(function)
        after = definitions(later.solution_dir / file_name).get(function)
        if before is None or after is None or before == after:
            stale.append((step_name, file_name, function))
    assert not stale, f"INTENDED_CHANGES lists entries that no longer differ: {stale}"

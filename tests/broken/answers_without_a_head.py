"""A learner server that sends the page alone: no status line, no headers."""

from _solution import solution

PORT = solution.PORT


class HTTPServer(solution.HTTPServer):
    def handle_client(self, client, address):
        with client:
            solution.read_head(client)
            client.sendall(b"Hello, World!")

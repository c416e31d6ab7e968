"""A learner server that accepts a connection, then waits forever for bytes that never come."""

from _solution import solution

PORT = solution.PORT


class HTTPServer(solution.HTTPServer):
    def handle_client(self, client, address):
        while True:
            client.recv(4096)

"""A learner server whose accept loop ignores shutdown() and blocks in accept() with no timeout."""

from _solution import solution

PORT = solution.PORT


class HTTPServer(solution.HTTPServer):
    def serve_forever(self):
        self.socket.settimeout(None)
        while True:
            client, address = self.socket.accept()
            self.handle_client(client, address)

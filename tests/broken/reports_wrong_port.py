"""A learner server that binds one port but reports another."""

from _solution import solution

PORT = solution.PORT


class HTTPServer(solution.HTTPServer):
    def start(self):
        super().start()
        self.port += 1

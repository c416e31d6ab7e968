"""A learner server whose handle_client loops forever without waiting on anything."""

from _solution import solution

PORT = solution.PORT


class HTTPServer(solution.HTTPServer):
    def handle_client(self, client, address):
        answered = False
        while not answered:
            pass

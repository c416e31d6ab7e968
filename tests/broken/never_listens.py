"""A learner server whose start() binds but forgets listen(), and reports the port anyway."""

import socket

from _solution import solution

PORT = solution.PORT


class HTTPServer(solution.HTTPServer):
    def start(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind((self.host, self.port))
        self.port = self.socket.getsockname()[1]

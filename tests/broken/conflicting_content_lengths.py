"""A learner server whose response carries two different Content-Length headers."""

from _solution import solution

PORT = solution.PORT


class HTTPServer(solution.HTTPServer):
    def handle_client(self, client, address):
        with client:
            solution.read_head(client)
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nHi!")

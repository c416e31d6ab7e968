"""A learner file with a syntax error on line 5."""


class HTTPServer:
    def start(self)
        pass

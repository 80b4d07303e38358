"""A stand-in for a model service that sends a damaged model file (tests/serve/fleet_test.sh).

Usage: bad_model_server.py PORT FILE. Answers every GET with FILE's bytes (no ETag), so a
sensor's follower must find the damage itself (the file's CRC-32). Binds with SO_REUSEADDR and
SO_REUSEPORT, as cpp-httplib does: the real service it replaces leaves connections in TIME_WAIT
on the port.
"""
import http.server
import socket
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = open(sys.argv[2], "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    def server_bind(self):
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()

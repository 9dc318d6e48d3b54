#!/usr/bin/python3
# The rehearsal's package and git mirror: a static HTTPS server (apt's flat repository under /debian,
# bare git repositories under /git, served by git's "dumb" HTTP protocol) on the operator's address.
# Usage: mirror.py ADDRESS PORT ROOT CERT KEY
import http.server
import sys
from functools import partial

from tls_server import serve  # beside this file

address, port, root, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):  # one line per request on stderr, for the rehearsal's log
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


serve(address, port, partial(Handler, directory=root), cert, key)

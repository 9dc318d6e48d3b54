# HTTPS for the rehearsal's operator services (mirror.py, spaces-stand-in.py): a threading server whose
# TLS handshakes run in each request's thread, with a deep listen queue.
#
# Wrapping the listening socket the usual way makes accept() do every handshake in the one serving
# thread: a connection that stalls its handshake holds up every other client (measured: a GET waited
# out its 5 s timeout behind one idle connection), and http.server's listen queue holds 5 connections.
# With 15 hosts fetching packages and the app repository at once, a host's git clone failed after 134 s
# without a connection (rehearsal, 2026-12-02).
import http.server
import ssl
import sys


class TlsThreadingServer(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True

    def __init__(self, address, handler, cert, key):
        super().__init__(address, handler)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)

    def finish_request(self, request, client_address):
        # In the request's thread: a slow or stalled client delays only itself.
        request.settimeout(30)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            sys.stderr.write("%s TLS handshake failed: %s\n" % (client_address[0], e))
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            # wrap_socket took the plain socket's descriptor over (shutdown_request's close of the plain
            # one does nothing): close the TLS socket here.
            try:
                tls.close()
            except OSError:
                pass


def serve(address, port, handler, cert, key):
    server = TlsThreadingServer((address, port), handler, cert, key)
    print("listening", flush=True)
    server.serve_forever()

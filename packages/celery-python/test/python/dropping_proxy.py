"""A TCP proxy in front of a real server that can lose the answer to a chosen HTTP request: the
``drop`` fault of packages/proof, on one request instead of a whole connection at random.

A request the test chose is forwarded, its answer is read from the server (so the request has
landed), ``before_drop`` runs (another client's write can land in between), and the client's
connection is closed without the answer: the client sees a dropped connection and re-sends, as
it would under the proof's fault. Every other request and answer passes through unchanged.
"""

import socket
import threading
from typing import Callable, List, Optional, Tuple

Matcher = Callable[[bytes], bool]


def _read_headers(sock: socket.socket, buffer: bytes) -> Tuple[Optional[bytes], bytes]:
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None, buffer
        buffer += chunk
    end = buffer.index(b"\r\n\r\n") + 4
    return buffer[:end], buffer[end:]


def _read_exactly(sock: socket.socket, buffer: bytes, size: int) -> Tuple[bytes, bytes]:
    while len(buffer) < size:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the middle of a body")
        buffer += chunk
    return buffer[:size], buffer[size:]


def _read_message(sock: socket.socket, buffer: bytes, head_request: bool = False) -> Tuple[Optional[bytes], bytes]:
    """One HTTP/1.1 message (request or answer): Content-Length or chunked bodies."""
    head, buffer = _read_headers(sock, buffer)
    if head is None:
        return None, buffer
    lines = head.decode("latin-1").lower().split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines if line.startswith("content-length:")), 0)
    chunked = any(line.startswith("transfer-encoding:") and "chunked" in line for line in lines)
    if head_request:
        return head, buffer
    if chunked:
        body = b""
        while True:
            line, buffer = _read_line(sock, buffer)
            body += line
            size = int(line.split(b";")[0].strip() or b"0", 16)
            data, buffer = _read_exactly(sock, buffer, size + 2)
            body += data
            if size == 0:
                return head + body, buffer
    body, buffer = _read_exactly(sock, buffer, length)
    return head + body, buffer


def _read_line(sock: socket.socket, buffer: bytes) -> Tuple[bytes, bytes]:
    while b"\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the middle of a chunk")
        buffer += chunk
    end = buffer.index(b"\r\n") + 2
    return buffer[:end], buffer[end:]


class DroppingProxy:
    """Listens on 127.0.0.1:<port> and forwards to ``upstream`` (host, port)."""

    def __init__(self, upstream: Tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._rules: List[Tuple[Matcher, List[int], Callable[[], None]]] = []
        #: Requests answered by the server whose answers the proxy dropped.
        self.dropped: List[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def drop(self, matches: Matcher, times: int = 1, before_drop: Callable[[], None] = lambda: None) -> None:
        """Loses the answers to the next ``times`` requests ``matches`` accepts (raw bytes)."""
        with self._lock:
            self._rules.append((matches, [times], before_drop))

    def close(self) -> None:
        self._listener.close()

    def _take(self, request: bytes) -> Optional[Callable[[], None]]:
        with self._lock:
            for matches, left, before_drop in self._rules:
                if left[0] > 0 and matches(request):
                    left[0] -= 1
                    return before_drop
        return None

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        server = socket.create_connection(self.upstream)
        pending_client, pending_server = b"", b""
        try:
            while True:
                request, pending_client = _read_message(client, pending_client)
                if request is None:
                    return
                server.sendall(request)
                answer, pending_server = _read_message(server, pending_server, request.startswith(b"HEAD "))
                if answer is None:
                    return
                before_drop = self._take(request)
                if before_drop is not None:
                    self.dropped.append(request)
                    before_drop()
                    return  # closes the client's connection: the answer is lost
                client.sendall(answer)
        except OSError:
            return
        finally:
            client.close()
            server.close()

"""How worker.py records an outcome, against resultstore-celery's real backends and local sockets
(no database): a call that sent nothing is a definite failure, one that sent anything is
indeterminate, a refusal is seen in the package's log, and errors are typed or not as PROOF.md says.

    python -m unittest test_worker      (test/python.test.ts runs it in the Celery venv)
"""

import logging
import socket
import struct
import threading
import time
import unittest

from celery import Celery
from resultstore_celery._base import RulesMixin

import worker


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ResettingServer:
    """Accepts, reads what the client sends, then resets the connection without an answer."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                self.received += len(conn.recv(65536))
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            finally:
                conn.close()

    def close(self) -> None:
        self.sock.close()


def backend(url: str, **settings):
    app = Celery("proof-test", set_as_current=False)
    app.conf.update(result_backend=f"resultstore+{url}", **settings)
    return app.backend


def store(b) -> worker.Outcome:
    return worker.run_call(lambda: b.store_result("t1", 1, "SUCCESS", metadata={"k": 1}), 30)


class Outcomes(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        worker.watch_sends("cassandra")
        worker.watch_refusals()
        logging.getLogger("cassandra").setLevel(logging.CRITICAL)

    def test_a_refused_connection_sent_nothing(self) -> None:
        outcome = store(backend(f"consul://127.0.0.1:{closed_port()}/proof"))
        self.assertEqual(outcome.error["name"], "requests.exceptions.ConnectionError")
        self.assertTrue(outcome.error["typed"])
        self.assertTrue(outcome.error.get("definite"))

    def test_a_request_that_left_may_have_landed(self) -> None:
        server = ResettingServer()
        try:
            outcome = store(backend(f"consul://127.0.0.1:{server.port}/proof"))
        finally:
            server.close()
        self.assertGreater(server.received, 0)
        self.assertIn("ConnectionError", outcome.error["name"])
        self.assertNotIn("definite", outcome.error)

    def test_no_cassandra_host_sent_nothing(self) -> None:
        # The driver's I/O thread writes the socket; the call thread queues requests in send_msg.
        outcome = store(backend(f"cassandra://127.0.0.1:{closed_port()}/proof"))
        self.assertEqual(outcome.error["name"], "cassandra.cluster.NoHostAvailable")
        self.assertTrue(outcome.error.get("definite"))

    def test_a_refusal_is_seen_in_the_package_log(self) -> None:
        refused = worker.run_call(lambda: RulesMixin._refused(None, "t1", "STARTED", "SUCCESS"), 5)
        self.assertTrue(refused.refused)
        self.assertFalse(worker.run_call(lambda: None, 5).refused)

    def test_a_call_past_the_timeout_is_indeterminate(self) -> None:
        outcome = worker.run_call(lambda: time.sleep(0.5), 0.05)
        self.assertTrue(outcome.error["timeout"])
        self.assertNotIn("definite", outcome.error)


class Errors(unittest.TestCase):
    def test_typed_errors_are_the_clients_and_the_packages(self) -> None:
        from celery.exceptions import BackendStoreError
        from pymongo.errors import AutoReconnect
        from resultstore_celery import ResultStoreError

        for exc in (AutoReconnect("x"), ResultStoreError("mongodb", "x"), BackendStoreError("x"), OSError("x")):
            self.assertTrue(worker.describe(exc, [])["typed"], exc)
        for exc in (KeyError("x"), TypeError("x"), RuntimeError("lost 8 races")):
            self.assertFalse(worker.describe(exc, [])["typed"], exc)

    def test_the_text_keeps_causes_attributes_and_a_secret_past_the_cut(self) -> None:
        try:
            try:
                raise ValueError("inner")
            except ValueError as inner:
                error = ConnectionError("outer " + "x" * 9000 + " s3cr3t-t0ken")
                error.status = 503
                raise error from inner
        except ConnectionError as exc:
            text = worker.describe(exc, ["s3cr3t-t0ken"])["text"]
        self.assertIn("status=503", text)
        self.assertIn("s3cr3t-t0ken", text)
        self.assertLess(len(text), worker.TEXT_LIMIT + 400)
        full = worker.describe(ValueError("a"), [])["text"]
        self.assertEqual(full, "ValueError: a")


if __name__ == "__main__":
    unittest.main()

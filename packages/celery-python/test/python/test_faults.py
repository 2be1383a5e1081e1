"""What resultstore-celery answers when a connection drops, and what it sets up for outages, on the
real servers (PROOF.md, "Found with `drop`"): run by test/faults.test.ts as
``python -m unittest test_faults``, with the servers' RESULTSTORE_<NAME>_URL in the environment.

A ``DroppingProxy`` loses the answer to one chosen request after the server applied it, so the
client re-sends it, exactly as under the proof's ``drop`` fault.
"""

import logging
import os
import unittest
import uuid
import warnings
from typing import Any, List
from urllib.parse import urlsplit

from celery import Celery, states

from dropping_proxy import DroppingProxy

DYNAMODB = os.environ.get("RESULTSTORE_DYNAMODB_URL")
ELASTICSEARCH = os.environ.get("RESULTSTORE_ELASTICSEARCH_URL")
CASSANDRA = os.environ.get("RESULTSTORE_CASSANDRA_URL")
FERRETDB = os.environ.get("RESULTSTORE_MONGO_URL")
MONGO_JAVA = os.environ.get("RESULTSTORE_MONGO_JAVA_URL")


def backend_for(url: str, **settings: Any) -> Any:
    app = Celery(f"faults-{uuid.uuid4().hex[:8]}", set_as_current=False)
    app.conf.update(result_backend=f"resultstore+{url}", **settings)
    return app.backend


def via(proxy: DroppingProxy, url: str) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return parts._replace(netloc=f"{credentials}127.0.0.1:{proxy.port}").geturl()


def upstream(url: str) -> Any:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def request_for(*parts: str) -> Any:
    """Matches a request whose bytes hold every one of ``parts``."""
    return lambda request: all(part.encode() in request for part in parts)


def error_text(error: BaseException) -> str:
    """Everything an error shows (as the proof's checker reads it): its text, repr, attributes and
    its cause and context chain."""
    texts: List[str] = []
    seen = set()
    current: Any = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(vars(current))]
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


class Refusals(logging.Handler):
    """The refusals resultstore-celery logs (its contract: a refusal is logged, not raised)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())

    def __enter__(self) -> "Refusals":
        logging.getLogger("resultstore_celery").addHandler(self)
        logging.getLogger("resultstore_celery").setLevel(logging.INFO)
        return self

    def __exit__(self, *_: Any) -> None:
        logging.getLogger("resultstore_celery").removeHandler(self)


@unittest.skipUnless(DYNAMODB, "RESULTSTORE_DYNAMODB_URL is not set")
class DynamoDBDrops(unittest.TestCase):
    def setUp(self) -> None:
        # A key id of its own, so that no other text in an error can contain it by chance.
        self.key_id = f"AKIDFAULTS{uuid.uuid4().hex[:10].upper()}"
        server = urlsplit(DYNAMODB)._replace(netloc=f"{self.key_id}:secret@{urlsplit(DYNAMODB).netloc.rsplit('@', 1)[-1]}")
        url = f"{server.geturl().rstrip('/')}/pyfaults{uuid.uuid4().hex[:10]}"
        self.url = url
        self.proxy = DroppingProxy(upstream(DYNAMODB))
        self.direct = backend_for(url)
        self.direct.client  # creates the table before anything goes through the proxy
        self.proxied = backend_for(via(self.proxy, url))

    def tearDown(self) -> None:
        self.proxy.close()

    def test_a_landed_write_resent_after_another_write_is_not_called_refused(self) -> None:
        from resultstore_celery import WriteOutcomeUnknownError

        task = str(uuid.uuid4())
        # The first copy lands, then another worker's SUCCESS, then botocore re-sends the STARTED.
        self.proxy.drop(
            request_for("UpdateItem", task),
            before_drop=lambda: self.direct.store_result(task, 1, states.SUCCESS),
        )
        with Refusals() as refusals, self.assertRaises(WriteOutcomeUnknownError) as raised:
            self.proxied.store_result(task, None, states.STARTED, metadata={"lost": "answer"})
        self.assertEqual(len(self.proxy.dropped), 1)
        self.assertEqual(refusals.seen, [])
        self.assertIn(task, str(raised.exception))
        self.assertEqual(self.direct.get_task_meta(task)["metadata"], {"lost": "answer"})

    def test_a_landed_write_resent_finds_itself_applied(self) -> None:
        task = str(uuid.uuid4())
        self.direct.store_result(task, None, states.STARTED)
        self.proxy.drop(request_for("UpdateItem", task))
        with Refusals() as refusals:
            self.proxied.store_result(task, 2, states.SUCCESS)
        self.assertEqual(len(self.proxy.dropped), 1)
        self.assertEqual(refusals.seen, [])
        self.assertEqual(self.direct.get_task_meta(task)["result"], 2)

    def test_an_increment_whose_answer_was_lost_is_not_sent_again(self) -> None:
        from resultstore_celery import IncrementOutcomeUnknownError

        for existing in (0, 3):  # a new counter and a live one
            key = f"counter-{uuid.uuid4()}"
            if existing:
                self.direct.incr(key, existing)
            self.proxy.drop(request_for("UpdateItem", key))
            with self.assertRaises(IncrementOutcomeUnknownError) as raised:
                self.proxied.incr(key)
            self.assertEqual(len(self.proxy.dropped), 1 + (existing > 0))
            self.assertEqual(self.direct.incr(key), existing + 2, "the lost increment counted once")
            self.assertNotIn(self.key_id, error_text(raised.exception))

    def test_errors_carry_no_signed_request(self) -> None:
        task = str(uuid.uuid4())
        os.environ["AWS_MAX_ATTEMPTS"] = "2"  # read when the client is made: two lost answers
        try:
            backend = backend_for(via(self.proxy, self.url))
            backend.client
        finally:
            del os.environ["AWS_MAX_ATTEMPTS"]
        self.proxy.drop(request_for("GetItem", task), times=2)
        with self.assertRaises(Exception) as raised:
            backend.get_task_meta(task, cache=False)
        self.assertEqual(len(self.proxy.dropped), 2)
        self.assertIn("ConnectionClosedError", error_text(raised.exception))
        self.assertNotIn(self.key_id, error_text(raised.exception))


@unittest.skipUnless(ELASTICSEARCH, "RESULTSTORE_ELASTICSEARCH_URL is not set")
class ElasticsearchDrops(unittest.TestCase):
    def setUp(self) -> None:
        url = f"{ELASTICSEARCH.rstrip('/')}/pyfaults{uuid.uuid4().hex[:10]}"
        self.proxy = DroppingProxy(upstream(ELASTICSEARCH))
        self.direct = backend_for(url)
        self.proxied = backend_for(via(self.proxy, url))

    def tearDown(self) -> None:
        self.proxy.close()

    def test_an_increment_resent_after_it_landed_counts_once(self) -> None:
        for existing in (0, 3):  # a new counter (create) and a stored one (if_seq_no)
            key = f"counter-{uuid.uuid4()}"
            if existing:
                self.direct.incr(key, existing)
            self.proxy.drop(lambda request, key=key: request.startswith((b"PUT ", b"POST ")) and key.encode() in request.split(b"\r\n", 1)[0])
            self.assertEqual(self.proxied.incr(key), existing + 1)
            self.assertEqual(len(self.proxy.dropped), 1 + (existing > 0))
            self.assertEqual(self.direct.incr(key), existing + 2, "the re-sent increment counted once")


@unittest.skipUnless(CASSANDRA, "RESULTSTORE_CASSANDRA_URL is not set")
class CassandraReconnection(unittest.TestCase):
    """A worker is writable again within seconds of an outage: the Node backend's 5 s cap."""

    def cluster_of(self, **settings: Any) -> Any:
        backend = backend_for(f"{CASSANDRA.rstrip('/')}/system", **settings)
        backend._get_connection()
        self.addCleanup(backend._cluster.shutdown)
        return backend._cluster

    def test_reconnection_is_capped_at_five_seconds(self) -> None:
        from cassandra.policies import ExponentialReconnectionPolicy

        policy = self.cluster_of().reconnection_policy
        self.assertIsInstance(policy, ExponentialReconnectionPolicy)
        self.assertEqual((policy.base_delay, policy.max_delay, policy.max_attempts), (0.5, 5.0, None))

    def test_a_policy_the_user_set_is_kept(self) -> None:
        from cassandra.policies import ConstantReconnectionPolicy

        mine = ConstantReconnectionPolicy(2.0)
        options = {"reconnection_policy": mine}
        self.assertIs(self.cluster_of(cassandra_options=options).reconnection_policy, mine)
        self.assertEqual(options, {"reconnection_policy": mine}, "the user's setting is not changed")


class FerretDBWarning(unittest.TestCase):
    """FerretDB 1.x is not atomic per document: the Node backend warns "UNSAFE ENGINE", so do we."""

    def writes_twice(self, url: str) -> List[warnings.WarningMessage]:
        backend = backend_for(
            f"{url.rstrip('/')}/resultstore_celery_python",
            mongodb_backend_settings={"taskmeta_collection": f"pyfaults{uuid.uuid4().hex[:10]}_taskmeta"},
        )
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            for state in (states.STARTED, states.SUCCESS):
                backend.store_result(str(uuid.uuid4()), 1, state)
        from resultstore_celery import UnsafeEngineWarning

        return [w for w in seen if issubclass(w.category, UnsafeEngineWarning)]

    @unittest.skipUnless(FERRETDB, "RESULTSTORE_MONGO_URL (FerretDB) is not set")
    def test_ferretdb_warns_once_per_backend(self) -> None:
        seen = self.writes_twice(FERRETDB)
        self.assertEqual(len(seen), 1)
        self.assertIn("UNSAFE ENGINE: FerretDB 1.", str(seen[0].message))

    @unittest.skipUnless(MONGO_JAVA, "RESULTSTORE_MONGO_JAVA_URL is not set")
    def test_an_atomic_engine_does_not_warn(self) -> None:
        self.assertEqual(self.writes_twice(MONGO_JAVA), [])


if __name__ == "__main__":
    unittest.main()

"""The ``celery.result_backends`` entry point ``resultstore``.

Celery's ``by_url`` splits ``resultstore+mongodb://h/db`` at the first ``+``, looks ``resultstore``
up among the entry points and calls what it finds as ``backend(app=app, url="mongodb://h/db")``.
That URL is the one @resultstore/core's ``createStore`` takes; its scheme picks the backend class
(``a+b://`` selects ``a``, as in Node: ``mongodb+srv://``).
"""

import importlib
import re
from typing import Any, Dict, Optional, Tuple

from .errors import ConfigurationError

#: URL scheme -> (module, class) of the backend serving it.
SCHEMES: Dict[str, Tuple[str, str]] = {
    "mongodb": ("resultstore_celery.mongodb", "MongoBackend"),
    "dynamodb": ("resultstore_celery.dynamodb", "DynamoDBBackend"),
    "consul": ("resultstore_celery.consul", "ConsulBackend"),
    "cosmosdbsql": ("resultstore_celery.cosmos", "CosmosDBSQLBackend"),
    "elasticsearch": ("resultstore_celery.elasticsearch", "ElasticsearchBackend"),
    "cassandra": ("resultstore_celery.cassandra", "CassandraBackend"),
}

#: Schemes @resultstore/core knows that this package does not serve yet.
_NOT_YET: Tuple[str, ...] = ()

_EXTRA = {"mongodb": "mongodb", "dynamodb": "dynamodb", "consul": "consul", "cosmosdbsql": "cosmos", "elasticsearch": "elasticsearch", "cassandra": "cassandra"}


def scheme_of(url: str) -> str:
    """``mongodb+srv://…`` -> ``mongodb`` (@resultstore/core's schemeOf)."""
    match = re.match(r"^([a-z][a-z0-9]*)(?:\+[a-z0-9]+)?://", url, re.IGNORECASE)
    if not match:
        raise ConfigurationError(
            "core", 'result_backend must be "resultstore+<url>", e.g. resultstore+mongodb://host/db'
        )
    return match.group(1).lower()


def backend_class(url: str) -> type:
    scheme = scheme_of(url)
    if scheme not in SCHEMES:
        served = ", ".join(f"{s}://" for s in SCHEMES)
        later = f" ({', '.join(_NOT_YET)} not yet)" if scheme in _NOT_YET else ""
        raise ConfigurationError("core", f"No backend for {scheme}://{later}; served: {served}.")
    module_name, class_name = SCHEMES[scheme]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if (exc.name or "").startswith("resultstore_celery"):
            raise  # our own module: a broken install, not a missing extra
        raise ConfigurationError(
            scheme,
            f'The {scheme} client is missing ({exc}): pip install "resultstore-celery[{_EXTRA[scheme]}]"',
        ) from exc
    return getattr(module, class_name)


def backend_for_url(app: Any = None, url: Optional[str] = None, **kwargs: Any) -> Any:
    """What Celery instantiates for ``result_backend = "resultstore+<url>"``."""
    if not url:
        raise ConfigurationError(
            "core", 'result_backend must be "resultstore+<url>", e.g. resultstore+mongodb://host/db'
        )
    return backend_class(url)(app=app, url=url, **kwargs)

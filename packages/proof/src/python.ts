/**
 * The Python side of a mixed fleet (`--python N`): which targets it can run, and how a Python
 * worker reaches the very records the Node clients use. A Python worker (python/worker.py) writes
 * through resultstore-celery, the backend Celery loads for `result_backend = "resultstore+<url>"`;
 * the run's `namespace` (a Node backend option) becomes, per database, the URL path or Celery
 * setting that names the same table, keyspace, index, key prefix or container.
 */
import type { Target } from "./targets.js";

/** What a Python worker's Celery app is configured with. */
export interface CeleryBackend {
  /** The URL after "resultstore+" (the URL `createStore` takes). */
  url: string;
  /** Celery settings (`app.conf`) besides `result_backend`. */
  settings: Record<string, unknown>;
}

/** Why `target` cannot have Python processes, or undefined when it can. */
export function noPythonSide(target: Target): string | undefined {
  if (!target.server) return "the memory backend lives in a Node process";
  if (target.nodes)
    return "resultstore-celery's cassandra:// URL takes no cluster options; clusters run Node only";
  if (target.server === "opensearch")
    return "resultstore-celery serves Elasticsearch, not OpenSearch";
  return undefined;
}

/**
 * The Celery backend URL and settings that address the records a Node backend opened with
 * `fromUrl(url, { namespace })` uses (each backend's `namespace` option, in Celery's terms).
 */
export function celeryBackendFor(url: string, namespace: string): CeleryBackend {
  const scheme = url.slice(0, url.indexOf("://")).split("+")[0];
  const path = decodeURIComponent(new URL(url).pathname.replace(/^\/+|\/+$/g, ""));
  const withPath = (to: string) => {
    const parsed = new URL(url);
    parsed.pathname = `/${to}`;
    return parsed.toString();
  };
  const noPath = () => {
    if (path) throw new Error(`${scheme}: a mixed fleet needs a URL without a path, got /${path}`);
  };
  switch (scheme) {
    case "mongodb":
      // The database is the URL's (Node's default "celery"); the collections carry the namespace.
      return {
        url: withPath(path || "celery"),
        settings: {
          mongodb_backend_settings: {
            taskmeta_collection: `${namespace}_taskmeta`,
            groupmeta_collection: `${namespace}_groupmeta`,
          },
        },
      };
    case "cassandra":
      // Without a keyspace in the URL, the namespace is the Node backend's own keyspace.
      noPath();
      return { url: withPath(namespace), settings: {} };
    case "dynamodb":
      return { url: withPath(`${path || "celery"}_${namespace}`), settings: {} };
    case "elasticsearch":
      return { url: withPath(namespace), settings: {} };
    case "consul":
      return { url: withPath(path ? `${path}/${namespace}` : namespace), settings: {} };
    case "cosmosdbsql":
      noPath();
      return {
        url,
        settings: {
          cosmosdbsql_database_name: "celerydb",
          cosmosdbsql_collection_name: `celerycol_${namespace}`,
        },
      };
    default:
      throw new Error(`resultstore-celery serves no ${scheme}:// URL`);
  }
}

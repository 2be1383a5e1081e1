/**
 * The REST calls the backend makes on its index, one method each, over the narrow `Engine`.
 * Answers are checked here so the backend deals only in documents and booleans.
 */
import { BackendError } from "@resultstore/core";
import type { Engine, EngineResponse, RequestOptions } from "./client.js";
import { BACKEND_NAME } from "./config.js";
import type { DocumentVersion, StoredDocument } from "./records.js";

/** Ids per `_mget` request. */
const MGET_BATCH = 1000;
/** How long a process that found the index already created waits for its shard to start. */
const SHARD_WAIT_MS = 30_000;
const SHARD_POLL_MS = 50;

interface GetResponse {
  found?: boolean;
  _seq_no?: number;
  _primary_term?: number;
  _version?: number;
  _source?: Record<string, unknown>;
  error?: { type?: string; reason?: string };
}

/** A search hit to delete, with the version the search saw. */
export interface ExpiredHit {
  id: string;
  seqNo: number;
  primaryTerm: number;
}

type Retries = Pick<RequestOptions, "maxRetries">;

/** What a guarded write answered: the new version, or null on 409; `resent` if the client re-sent it. */
export interface WriteAnswer {
  version: DocumentVersion | null;
  resent: boolean;
}

export class IndexApi {
  private readonly base: string;

  private readonly writeParams: Record<string, string | number>;
  private readonly readParams: Record<string, string>;
  private readonly indexSettings: Record<string, number>;

  /**
   * `writeParams` go on every write (`wait_for_active_shards`), `readParams` on every read
   * (`preference`); `indexSettings` on the index we create (`number_of_replicas`).
   */
  constructor(
    private readonly engine: Engine,
    private readonly index: string,
    params: {
      writeParams?: Record<string, string | number>;
      readParams?: Record<string, string>;
      indexSettings?: Record<string, number>;
    } = {},
  ) {
    this.base = `/${encodeURIComponent(index)}`;
    this.writeParams = params.writeParams ?? {};
    this.readParams = params.readParams ?? {};
    this.indexSettings = params.indexSettings ?? {};
  }

  /** Creates the index with `mappings`; an index that already exists is left as it is. */
  async ensureIndex(mappings: object): Promise<void> {
    const settings = Object.keys(this.indexSettings).length ? { settings: this.indexSettings } : {};
    const { statusCode, body } = await this.engine.request(
      { method: "PUT", path: this.base, body: { mappings, ...settings } },
      { ignore: [400] },
    );
    const type = errorOf(body)?.type;
    if (statusCode === 400 && type !== "resource_already_exists_exception") {
      throw new BackendError(
        BACKEND_NAME,
        `Creating index ${this.index} failed: ${type}: ${errorOf(body)?.reason}`,
      );
    }
    if (statusCode === 400) await this.shardsActive();
  }

  /**
   * Waits until the index answers reads. Another process may have just created it: its create
   * waits for the primary shard, but ours answered "exists" at once, and a read of a shard still
   * starting answers 503 (no_shard_available_action_exception). A GET of an absent id is the
   * probe: it needs only read access to the index (the health API needs a cluster privilege).
   */
  private async shardsActive(): Promise<void> {
    for (let waited = 0; waited < SHARD_WAIT_MS; waited += SHARD_POLL_MS) {
      const { statusCode } = await this.engine.request(
        { method: "GET", path: this.docPath("resultstore-probe"), querystring: this.readParams },
        { ignore: [404, 503] },
      );
      if (statusCode !== 503) return;
      await new Promise((resolve) => setTimeout(resolve, SHARD_POLL_MS));
    }
  }

  async dropIndex(): Promise<void> {
    await this.engine.request({ method: "DELETE", path: this.base }, { ignore: [404] });
  }

  /** Realtime GET (sees every acknowledged write, no refresh needed); null when absent. */
  async get(id: string, retries: Retries = {}): Promise<StoredDocument | null> {
    const { statusCode, body } = await this.engine.request(
      { method: "GET", path: this.docPath(id), querystring: this.readParams },
      { ...retries, ignore: [404] },
    );
    return statusCode === 404 ? null : toStored(body as GetResponse, id);
  }

  /** Realtime `_mget`, in the order of `ids`; null for absent documents (or no index yet). */
  async getMany(ids: readonly string[]): Promise<(StoredDocument | null)[]> {
    const out: (StoredDocument | null)[] = [];
    for (let start = 0; start < ids.length; start += MGET_BATCH) {
      const batch = ids.slice(start, start + MGET_BATCH);
      const { body } = await this.engine.request({
        method: "POST",
        path: `${this.base}/_mget`,
        body: { ids: batch },
        querystring: this.readParams,
      });
      const docs = (body as { docs?: GetResponse[] }).docs ?? [];
      batch.forEach((id, i) => {
        const doc = docs[i];
        if (doc?.error && doc.error.type !== "index_not_found_exception") {
          throw new BackendError(
            BACKEND_NAME,
            `Reading ${id} failed: ${doc.error.type}: ${doc.error.reason}`,
          );
        }
        out.push(doc ? toStored(doc, id) : null);
      });
    }
    return out;
  }

  /** `_create`: the new version, or null if the document exists (409). */
  async create(id: string, body: string, retries: Retries = {}): Promise<WriteAnswer> {
    const response = await this.engine.request(
      {
        method: "PUT",
        path: `${this.base}/_create/${encodeURIComponent(id)}`,
        body,
        querystring: this.writeParams,
      },
      { ...retries, ignore: [409], mutates: true },
    );
    return written(response);
  }

  /** Index guarded by the version we read: null (409) if anyone wrote or deleted it since. */
  async replace(
    id: string,
    body: string,
    seen: DocumentVersion,
    retries: Retries = {},
  ): Promise<WriteAnswer> {
    const response = await this.engine.request(
      {
        method: "PUT",
        path: this.docPath(id),
        body,
        querystring: {
          ...this.writeParams,
          if_seq_no: seen.seqNo,
          if_primary_term: seen.primaryTerm,
        },
      },
      { ...retries, ignore: [409], mutates: true },
    );
    return written(response);
  }

  /** Unguarded index (create or overwrite). */
  async put(id: string, body: string): Promise<void> {
    await this.engine.request(
      { method: "PUT", path: this.docPath(id), body, querystring: this.writeParams },
      { mutates: true },
    );
  }

  async delete(id: string): Promise<void> {
    await this.engine.request(
      { method: "DELETE", path: this.docPath(id), querystring: this.writeParams },
      { ignore: [404], mutates: true },
    );
  }

  /** Makes recent writes searchable; false when the index does not exist. */
  async refresh(): Promise<boolean> {
    const { statusCode } = await this.engine.request(
      { method: "POST", path: `${this.base}/_refresh` },
      { ignore: [404] },
    );
    return statusCode !== 404;
  }

  /** One page of documents whose `expires_at` is at or before `now` (ids and versions only). */
  async findExpired(now: Date, size: number, skip: readonly string[]): Promise<ExpiredHit[]> {
    const expired = { range: { expires_at: { lte: now.toISOString() } } };
    const { body } = await this.engine.request({
      method: "POST",
      path: `${this.base}/_search`,
      body: {
        size,
        _source: false,
        seq_no_primary_term: true,
        track_total_hits: false,
        query:
          skip.length === 0
            ? expired
            : { bool: { filter: [expired], must_not: [{ ids: { values: skip } }] } },
      },
    });
    type Hit = { _id: string; _seq_no: number; _primary_term: number };
    const raw = (body as { hits?: { hits?: Hit[] } }).hits?.hits ?? [];
    return raw.map((h) => ({ id: h._id, seqNo: h._seq_no, primaryTerm: h._primary_term }));
  }

  /**
   * Bulk deletes, each guarded by the version the search saw: how many were deleted, and the ids
   * that were not (409: rewritten since the search; 404: deleted by someone else).
   */
  async deleteGuarded(hits: readonly ExpiredHit[]): Promise<{ deleted: number; failed: string[] }> {
    const { body } = await this.engine.request(
      {
        method: "POST",
        path: `${this.base}/_bulk`,
        querystring: this.writeParams,
        bulkBody: hits.map((hit) => ({
          delete: { _id: hit.id, if_seq_no: hit.seqNo, if_primary_term: hit.primaryTerm },
        })),
      },
      { mutates: true },
    );
    type Item = { delete?: { status?: number } };
    const items = (body as { items?: Item[] }).items ?? [];
    const failed = hits.filter((_hit, i) => items[i]?.delete?.status !== 200).map((hit) => hit.id);
    return { deleted: hits.length - failed.length, failed };
  }

  async close(): Promise<void> {
    await this.engine.close();
  }

  private docPath(id: string): string {
    return `${this.base}/_doc/${encodeURIComponent(id)}`;
  }
}

/** The new version of a document an index or create wrote; null on 409 (a version conflict). */
function written(response: EngineResponse): WriteAnswer {
  const resent = response.attempts > 0;
  if (response.statusCode === 409) return { version: null, resent };
  const {
    _seq_no: seqNo,
    _primary_term: primaryTerm,
    _version: version,
  } = response.body as GetResponse;
  // Elasticsearch and OpenSearch report them; -1 marks "written, version unknown" (never cached).
  return {
    version: { seqNo: seqNo ?? -1, primaryTerm: primaryTerm ?? -1, version: version ?? -1 },
    resent,
  };
}

function toStored(doc: GetResponse, id: string): StoredDocument | null {
  if (!doc.found) return null;
  if (typeof doc._seq_no !== "number" || typeof doc._primary_term !== "number" || !doc._source) {
    throw new BackendError(
      BACKEND_NAME,
      `The server returned ${id} without _seq_no/_primary_term/_source.`,
    );
  }
  return {
    seqNo: doc._seq_no,
    primaryTerm: doc._primary_term,
    version: doc._version ?? -1,
    source: doc._source,
  };
}

function errorOf(body: unknown): { type?: string; reason?: string } | undefined {
  const error = (body as { error?: unknown } | undefined)?.error;
  return typeof error === "object" && error !== null ? error : undefined;
}

/**
 * `find` and `countByState` as a scan with bounded memory (README: "Finding tasks"). Consul KV has
 * no query language and no secondary index: each call lists the names of the prefix's task keys,
 * reads their values a few read-only transactions at a time and matches them in the client with
 * core's rules, keeping only the page being built (core's PageCollector) or the counts.
 */
import type { CountQuery, FindQuery, TaskRecord, TaskState } from "@resultstore/core";
import {
  isInternalTaskId,
  matchesCountQuery,
  PageCollector,
  TASK_KEY_PREFIX,
} from "@resultstore/core/backend";
import type { ConsulClient } from "./client.js";
import * as records from "./records.js";

/** Read-only transactions (of 64 values each) in flight: all a scan holds besides its page. */
const BATCHES_IN_FLIGHT = 2;

export class TaskScan {
  constructor(
    private readonly client: ConsulClient,
    private readonly prefix: string,
  ) {}

  async find(query: FindQuery): Promise<TaskRecord[]> {
    const page = new PageCollector(query);
    await this.scan((record) => page.offer(record));
    return page.page();
  }

  async countByState(query: CountQuery): Promise<Record<TaskState, number>> {
    const counts: Record<TaskState, number> = {};
    await this.scan((record) => {
      if (matchesCountQuery(record, query))
        counts[record.status] = (counts[record.status] ?? 0) + 1;
    });
    return counts;
  }

  /** Every task record under the prefix, as Consul holds it when its batch is read. */
  private async scan(visit: (record: TaskRecord) => void): Promise<void> {
    const listed = `${this.prefix}${TASK_KEY_PREFIX}`;
    // The separator folds the keys of deeper folders (other namespaces) into one name each.
    const keys = (await this.client.listKeys(listed, "/")).filter(
      (key) => records.isOwnKey(key, this.prefix) && !isInternalTaskId(key.slice(listed.length)),
    );
    await this.client.forEachBatch(keys, BATCHES_IN_FLIGHT, (entries) => {
      for (const entry of entries) {
        // Null: removed since the listing.
        if (entry) visit(records.decodeTask(entry.value, entry.key.slice(listed.length)));
      }
    });
  }
}

/** Options of @resultstore/celery-producer. */

/**
 * The one Redis command the producer needs: kombu's Redis transport delivers a message by LPUSH
 * onto the queue's list. An ioredis client fits as is; node-redis v4+ as `{ lpush: (k, v) => client.lPush(k, v) }`.
 */
export interface RedisBroker {
  lpush(key: string, value: string): Promise<unknown>;
}

export interface SendTaskOptions {
  /** The task id (Celery's `task_id`). @default a random UUID */
  taskId?: string;
  /** Positional arguments, JSON-encodable the way Celery's JSON serializer reads them. @default [] */
  args?: unknown[];
  /** Keyword arguments. @default {} */
  kwargs?: Record<string, unknown>;
  /** The queue (the Redis list) the worker consumes, `-Q` in `celery worker`. @default "celery" */
  queue?: string;
  /** Merged into the record before the message is published; what survives a Celery worker's writes depends on its backend (see the README). */
  metadata?: Record<string, unknown>;
  /** Run no earlier than this (Celery's `eta`). */
  eta?: Date;
  /** Revoke if not started by then (Celery's `expires`). */
  expires?: Date;
  /** Celery's `group`, `parent_id` and `root_id` headers. */
  groupId?: string;
  parentId?: string;
  rootId?: string;
}

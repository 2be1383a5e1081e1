export { celeryMessage, pyRepr, type TaskMessageFields } from "./message.js";
export { sendTask } from "./send.js";
export type { RedisBroker, SendTaskOptions } from "./types.js";

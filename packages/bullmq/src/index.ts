export { chordCallbackId, enqueueChord } from "./chord.js";
export { enqueue, revokeJob } from "./producer.js";
export type {
  ChordCallbackData,
  ChordJob,
  ChordSpec,
  EnqueueOptions,
  TrackOptions,
} from "./types.js";
export { withResultStore } from "./worker.js";

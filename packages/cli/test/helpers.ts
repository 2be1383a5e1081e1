/** A CliIo that records what a command printed, and backends built on core's MemoryBackend. */
import { type BackendModule, MemoryBackend } from "@resultstore/core";
import type { CliIo } from "../src/index.js";

export interface Captured extends CliIo {
  stdout: string[];
  stderr: string[];
  raw: string[];
  /** Everything printed, in one string. */
  all(): string;
}

export function capture(isTTY = false): Captured {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const raw: string[] = [];
  return {
    stdout,
    stderr,
    raw,
    isTTY,
    out: (line) => stdout.push(line),
    err: (line) => stderr.push(line),
    write: (text) => raw.push(text),
    all: () => [...raw, ...stdout, ...stderr].join("\n"),
  };
}

/**
 * One MemoryBackend behind a made-up scheme: every store the CLI opens on `shared://` sees the
 * same records, as every process sees one database server.
 */
export function sharedBackend(backend = new MemoryBackend()): BackendModule {
  return { schemes: ["shared"], fromUrl: () => backend };
}

/** A backend whose calls fail as `changes` says, named so the CLI treats it as a server. */
export function faultyBackends(
  changes: (backend: MemoryBackend, namespace: string) => void,
): BackendModule {
  return {
    schemes: ["faulty"],
    fromUrl: (_url, options = {}) => {
      const backend = new MemoryBackend(options as { maxRecordBytes?: number });
      Object.defineProperty(backend, "name", { value: "faulty" });
      changes(backend, String(options.namespace));
      return backend;
    },
  };
}

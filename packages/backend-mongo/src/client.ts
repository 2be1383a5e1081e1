/** The MongoDB client: built from the resolved URL, and asked which engine it reached. */
import { ConfigurationError, sanitizeUrl } from "@resultstore/core";
import { MongoClient } from "mongodb";
import { BACKEND_NAME, type ResolvedConfig } from "./config.js";

/** FerretDB 1.x names itself in `buildInfo`; it stores no arrays nested in arrays. */
export async function isFerretDb(client: MongoClient): Promise<boolean> {
  try {
    const info = await client.db("admin").command({ buildInfo: 1 });
    return typeof info.ferretdbVersion === "string";
  } catch {
    return false; // buildInfo refused (restricted user): assume MongoDB
  }
}

export function buildClient(config: ResolvedConfig): MongoClient {
  try {
    return new MongoClient(config.url as string, config.clientOptions);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new ConfigurationError(
      BACKEND_NAME,
      `Invalid MongoDB URL ${sanitizeUrl(config.url as string)}: ${detail}`,
      { cause },
    );
  }
}

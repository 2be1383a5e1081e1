import { defineConfig } from "vitest/config";

// Unit tests (test/unit) need no server; the rest runs a real Celery worker on a real Redis.
export default defineConfig({
  test: { include: ["test/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 300_000 },
});

import { defineConfig } from "vitest/config";

// Every test runs Python (resultstore-celery from its wheel) against a real server.
export default defineConfig({
  test: { include: ["test/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 900_000 },
});

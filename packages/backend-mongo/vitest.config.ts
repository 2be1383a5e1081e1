import { defineConfig } from "vitest/config";

// Unit tests (test/unit) need no server; everything else runs against the real database.
export default defineConfig({
  test: { include: ["test/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000 },
});

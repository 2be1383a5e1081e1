import { defineConfig } from "vitest/config";

// Every test here runs against the real Redis (and real databases): integration only.
export default defineConfig({
  test: { include: ["test/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 120_000 },
});

/**
 * Users meet resultstore as packages. Every public package is packed and published to a throwaway
 * local registry; a fresh project outside the workspace installs core, the DynamoDB backend, its
 * driver and the CLI from it — @resultstore/* from the local registry only, the rest from the
 * user's normal registry — and uses them the ways users do: ESM, CommonJS, TypeScript under
 * nodenext and bundler resolution, an esbuild bundle, and `npx resultstore`; against memory://
 * and a real server.
 */
import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { serverTarget } from "@resultstore/conformance";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRegistry, sh, shOutput, startRegistry } from "./registry.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const fixture = fileURLToPath(new URL("../fixture/", import.meta.url));
const dynamodb = serverTarget("DYNAMODB");

/** The workspace's public packages, read from their package.json files. */
const published = readdirSync(join(root, "packages"))
  .map((dir) => join(root, "packages", dir))
  .filter((dir) => existsSync(join(dir, "package.json")))
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) }))
  .filter(({ manifest }) => !manifest.private);
const version = (name: string) => published.find((p) => p.manifest.name === name)?.manifest.version;

/** The one user config npm would write to, watched so a test can show it never changed. */
const userNpmrc = join(homedir(), ".npmrc");
const fingerprint = () =>
  existsSync(userNpmrc) ? `${statSync(userNpmrc).mtimeMs}:${statSync(userNpmrc).size}` : "absent";

let registry: LocalRegistry;
let project: string;
let packs: string;
const npmrcBefore = fingerprint();
const packed: Record<string, { files: string[]; integrity: string }> = {};

/** Runs in the fresh project, with npm's config from the user plus the project's own .npmrc. */
const inProject = (command: string, args: string[]) => sh(command, args, { cwd: project });
/** `npx resultstore …` in the fresh project: the CLI installed there, never a download. */
const resultstore = (...args: string[]) =>
  inProject("npx", ["--no-install", "resultstore", ...args]);

beforeAll(async () => {
  registry = await startRegistry();
  packs = await mkdtemp(join(tmpdir(), "resultstore-packs-"));
  for (const { dir, manifest } of published) {
    const [info] = JSON.parse(
      await sh("npm", ["pack", "--json", "--pack-destination", packs], { cwd: dir }),
    ) as { filename: string; integrity: string; files: { path: string }[] }[];
    packed[manifest.name] = {
      files: (info?.files ?? []).map((f) => f.path),
      integrity: info?.integrity ?? "",
    };
    await sh("npm", [
      "publish",
      join(packs, info?.filename ?? ""),
      "--registry",
      registry.url,
      "--userconfig",
      registry.publishConfig,
      "--ignore-scripts",
    ]);
  }

  project = await mkdtemp(join(tmpdir(), "resultstore-fresh-"));
  for (const file of readdirSync(fixture)) cpSync(join(fixture, file), join(project, file));
  writeFileSync(
    join(project, "package.json"),
    `${JSON.stringify({ name: "fresh-app", private: true, type: "module" }, null, 2)}\n`,
  );
  // Scoped: only @resultstore/* comes from the local registry; lockfile keeps every `resolved`.
  writeFileSync(
    join(project, ".npmrc"),
    `@resultstore:registry=${registry.url}\nomit-lockfile-registry-resolved=false\n`,
  );
  await inProject("npm", [
    "install",
    "--no-audit",
    "--no-fund",
    "--prefer-offline",
    `@resultstore/core@${version("@resultstore/core")}`,
    `@resultstore/backend-dynamodb@${version("@resultstore/backend-dynamodb")}`,
    `@resultstore/cli@${version("@resultstore/cli")}`,
    "@aws-sdk/client-dynamodb@3.1162.0",
    "typescript@5.9.3",
    "esbuild@0.28.2",
    "@types/node@20.19.43",
  ]);
}, 600_000);

afterAll(async () => {
  await registry?.stop();
  for (const dir of [project, packs]) if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the packages as published", () => {
  it("every tarball carries LICENSE, README, the build and the sources its maps name", () => {
    for (const { manifest } of published) {
      const files = packed[manifest.name]?.files ?? [];
      expect(files, manifest.name).toEqual(
        expect.arrayContaining(["LICENSE", "README.md", "package.json", "dist/index.js"]),
      );
      expect(
        files.some((f) => f.startsWith("src/")),
        manifest.name,
      ).toBe(true);
    }
  });

  it("every source map in the installed packages resolves to a shipped file", () => {
    const base = join(project, "node_modules", "@resultstore");
    let maps = 0;
    for (const name of readdirSync(base)) {
      const dist = join(base, name, "dist");
      for (const file of readdirSync(dist, { recursive: true }) as string[]) {
        if (!file.endsWith(".map")) continue;
        maps++;
        const map = JSON.parse(readFileSync(join(dist, file), "utf8")) as { sources: string[] };
        for (const source of map.sources) {
          const target = resolve(dirname(join(dist, file)), source);
          expect(existsSync(target), `${name}/dist/${file} → ${source}`).toBe(true);
        }
      }
    }
    expect(maps).toBeGreaterThan(10);
  });

  it("@resultstore/* came from the local registry only, everything else from the normal one", () => {
    const lock = JSON.parse(readFileSync(join(project, "package-lock.json"), "utf8")) as {
      packages: Record<string, { resolved?: string; integrity?: string }>;
    };
    const entries = Object.entries(lock.packages).filter(([path]) =>
      path.includes("node_modules/"),
    );
    const ours = entries.filter(([path]) => path.includes("node_modules/@resultstore/"));
    expect(ours.map(([p]) => p.replace(/.*node_modules\//, "")).sort()).toEqual([
      "@resultstore/backend-dynamodb",
      "@resultstore/cli",
      "@resultstore/core",
    ]);
    // The very tarballs packed above, not a same-named package from elsewhere.
    for (const [path, entry] of ours) {
      expect(entry.integrity, path).toBe(packed[path.replace(/.*node_modules\//, "")]?.integrity);
    }
    for (const [path, entry] of entries) {
      const local = entry.resolved?.startsWith(registry.url) ?? false;
      expect(local, `${path} from ${entry.resolved}`).toBe(
        path.includes("node_modules/@resultstore/"),
      );
    }
  });

  it("the CLI does not pull in the conformance suite (an optional peer)", () => {
    expect(existsSync(join(project, "node_modules", "@resultstore", "conformance"))).toBe(false);
  });

  it("core's OpenTelemetry API is an optional peer: not installed, and every store here runs without it", () => {
    expect(existsSync(join(project, "node_modules", "@opentelemetry", "api"))).toBe(false);
  });

  it("never wrote to the user's ~/.npmrc", () => {
    expect(fingerprint()).toBe(npmrcBefore);
  });
});

/** One JSON line from a fixture run; the state rules held and metadata was kept. */
function expectFlow(stdout: string, how: string, backend: string) {
  const line = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}");
  expect(line).toEqual({
    how,
    backend,
    status: "SUCCESS",
    result: { pages: 3 },
    metadata: { tenant: "acme" },
    lateStartedApplied: false,
  });
}

const targets = [
  { label: "memory://", url: "memory://", backend: "memory" },
  { label: "DynamoDB Local", url: dynamodb.url, backend: "dynamodb" },
];

describe.each(targets)("used from the fresh project against $label", ({ url, backend }) => {
  it.skipIf(!url)("ESM import, with the URL loader", async () => {
    expectFlow(await inProject("node", ["esm.mjs", url as string]), "esm", backend);
  });

  it.skipIf(!url)("CommonJS require()", async () => {
    expectFlow(await inProject("node", ["cjs.cjs", url as string]), "cjs", backend);
  });

  it.skipIf(!url)("an esbuild bundle that passes the backend module in", async () => {
    const bundle = join(project, "out", "bundle.mjs");
    const { inputs } = await buildBundle();
    expect(inputs.some((i) => i.includes("node_modules/@resultstore/backend-dynamodb/dist/"))).toBe(
      true,
    );
    expect(inputs.some((i) => i.includes("node_modules/@resultstore/core/dist/"))).toBe(true);
    expectFlow(await inProject("node", [bundle, url as string]), "bundle", backend);
  });

  it.skipIf(!url)("the CLI through npx: demo", async () => {
    const out = await resultstore("demo", "--url", url as string);
    expect(out).toMatch(/duplicate STARTED after SUCCESS .*: refused, state stays SUCCESS/);
    expect(out).toMatch(/callback fired 1 time\b/);
  });

  it.skipIf(!url)("the CLI through npx: bench and cleanup", async () => {
    const bench = await resultstore(
      "bench",
      "--url",
      url as string,
      "--ops",
      "20",
      "--concurrency",
      "1,4",
    );
    expect(bench.split("\n").filter((l) => /^(store|get|incr)\s+[14]\s/.test(l))).toHaveLength(6);
    const cleanup = await resultstore("cleanup", "--url", url as string);
    expect(cleanup).toMatch(/^removed \d+ expired items? from \S+ in \d+\.\d s$/m);
    expect(`${bench}${cleanup}`).not.toMatch(/resultstore:resultstore@/);
  });
});

let bundled: Promise<{ inputs: string[] }> | undefined;
/** Bundles once: core, the backend and the driver, all inlined. */
function buildBundle() {
  bundled ??= (async () => {
    await inProject("npx", [
      "--no-install",
      "esbuild",
      "bundle-entry.mjs",
      "--bundle",
      "--platform=node",
      "--format=esm",
      "--log-level=error",
      "--outfile=out/bundle.mjs",
      "--metafile=out/meta.json",
      // The AWS SDK is CommonJS and requires Node's built-ins: give the ESM bundle a `require`.
      "--banner:js=import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    ]);
    const meta = JSON.parse(readFileSync(join(project, "out", "meta.json"), "utf8"));
    return { inputs: Object.keys(meta.inputs) };
  })();
  return bundled;
}

describe("TypeScript in the fresh project", () => {
  // The strict run checks our declaration files too (no skipLibCheck); the bundler run uses the
  // skipLibCheck most projects have, and checks how the types resolve and read.
  it("type-checks under module nodenext (ESM and a CommonJS .cts)", async () => {
    await inProject("npx", ["--no-install", "tsc", "-p", "tsconfig.nodenext.json"]);
  });

  it("type-checks under moduleResolution bundler", async () => {
    await inProject("npx", ["--no-install", "tsc", "-p", "tsconfig.bundler.json"]);
  });
});

describe("the CLI through npx", () => {
  it("prints the published version", async () => {
    expect((await resultstore("--version")).trim()).toBe(version("@resultstore/cli"));
  });
});

describe("the CLI's messages in a project that has only some packages", () => {
  /** Runs `npx resultstore …` expecting failure; its exit code and stderr. */
  async function failing(args: string[]) {
    try {
      await resultstore(...args);
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error(`resultstore ${args.join(" ")} succeeded`);
  }

  it("inspect on memory:// says that memory is per process", async () => {
    const { stdout, stderr } = await shOutput(
      "npx",
      ["--no-install", "resultstore", "inspect", "t1", "--url", "memory://"],
      { cwd: project },
    );
    expect(JSON.parse(stdout).status).toBe("PENDING");
    expect(stderr).toMatch(/memory:\/\/ lives inside one process/);
  });

  it("a backend that is not installed is named, with its driver", async () => {
    expect(await failing(["inspect", "t1", "--url", "mongodb://127.0.0.1:1/db"])).toMatch(
      /npm install @resultstore\/backend-mongo mongodb/,
    );
  });

  it("conformance without its optional peer says what to install", async () => {
    expect(await failing(["conformance", "--url", "memory://"])).toMatch(
      /npm install @resultstore\/conformance/,
    );
  });
});

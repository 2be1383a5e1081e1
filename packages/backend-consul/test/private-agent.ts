/**
 * A private Consul dev agent, for tests that must change the cluster itself (deregister the
 * agent's node) and so must not touch the shared server. It runs the binary `npm run services`
 * installed, with the arguments its server module gives; in CI a missing binary is a failure.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
// @ts-expect-error: the services scripts are plain ESM without type declarations
import consulServer from "../../../scripts/services/servers/consul.mjs";

const cacheDir = join(
  process.env.RESULTSTORE_CACHE_DIR ?? join(homedir(), ".cache", "resultstore"),
  "consul",
);
const binary = join(cacheDir, "bin", "consul");

export function privateAgentAvailable(): boolean {
  if (existsSync(binary)) return true;
  if (process.env.CI)
    throw new Error(`[resultstore] In CI the consul binary must exist: ${binary}`);
  console.warn(
    `\n  !!! SKIPPING private-agent tests: no ${binary} (npm run services -- up consul)\n`,
  );
  return false;
}

export interface PrivateAgent {
  url: string;
  http: string;
  /** The agent's node name. */
  node: string;
  stop(): Promise<void>;
}

/** Whether `port` can be bound on loopback now. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** An HTTP port whose +10 and +11 (the module's server and serf ports) are free too. */
async function freePorts(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await isFree(port)) && (await isFree(port + 10)) && (await isFree(port + 11))) return port;
  }
}

/** Starts a dev agent (a server, in memory) and waits until its KV takes writes. */
export async function startPrivateAgent(): Promise<PrivateAgent> {
  const port = await freePorts();
  const dataDir = mkdtempSync(join(tmpdir(), "rs-consul-"));
  const ctx = { host: "127.0.0.1", port, cacheDir, dataDir };
  const { command, args } = await consulServer.start(ctx);
  const child = spawn(command, args, { cwd: dataDir, stdio: "ignore" });
  const http = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  while (!(await consulServer.healthy(ctx))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`private consul agent on ${http} did not start`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const self = (await (await fetch(`${http}/v1/agent/self`)).json()) as {
    Config: { NodeName: string };
  };
  return { url: `consul://127.0.0.1:${port}`, http, node: self.Config.NodeName, stop };
}

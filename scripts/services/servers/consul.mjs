// Consul, built from source with the Go toolchain (the Go module proxy is the only registry that
// carries it). `go install github.com/hashicorp/consul@vX` is refused because consul's own go.mod has
// replace directives, so we build it as a dependency of a tiny module of our own, in the cache.
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { ensureDir, existsSync, httpCall, join, run, sha256 } from "../lib.mjs";

// Pinned to 1.21.0, the newest consul that builds as a dependency from the module proxy here: 1.21.5+
// require sub-module versions (proto-public, envoyextensions, troubleshoot) that were never published
// (consul itself only builds them through replace directives into its own tree), and the proxy
// refuses 1.21.1-1.21.4.
const VERSION = "1.21.0";

// Consul's replace directives only point at its own sub-modules (./api, ./sdk, …); as a dependency
// those resolve to the published versions consul requires, so we need no replace. Its exclude of
// go-msgpack 1.1.5/1.1.6 (breaking changes) is not inherited by dependents, so it is copied here.
// consul-awsauth: the pseudo-version consul 1.21.0 pins is unknown to the checksum database, so Go
// refuses it; we require the newer commit consul 1.22 uses instead (same API for consul 1.21).
const GO_MOD = `module resultstore.invalid/consul-build

go 1.23

require (
	github.com/hashicorp/consul v${VERSION}
	github.com/hashicorp/consul-awsauth v0.0.0-20250825122907-9e35fe9ded3a
)

exclude (
	github.com/hashicorp/go-msgpack v1.1.5
	github.com/hashicorp/go-msgpack v1.1.6
)
`;

/**
 * Ports other than HTTP, moved off consul's defaults so they clash with nothing else here. A
 * cluster's HTTP ports are consecutive (8531-8533), so its nodes use +100 and +200 instead.
 */
const serverPort = (ctx) => ctx.port + (ctx.cluster ? 100 : 10);
const serfLanPort = (ctx) => ctx.port + (ctx.cluster ? 200 : 11);

/** @type {import("../server-module.mjs").ServerModule} */
export default {
  name: "consul",
  envName: "CONSUL",
  port: 8500,
  startTimeoutSec: 60,

  async install(ctx) {
    const bin = join(ctx.cacheDir, "bin", "consul");
    const stamp = join(ctx.cacheDir, "bin", "consul.stamp");
    const want = sha256(GO_MOD); // rebuild whenever the pinned module changes
    if (existsSync(bin) && existsSync(stamp) && readFileSync(stamp, "utf8") === want) {
      return { engine: "consul", version: VERSION };
    }
    const buildDir = ensureDir(join(ctx.cacheDir, "build"));
    writeFileSync(join(buildDir, "go.mod"), GO_MOD);
    ctx.log(
      `building consul ${VERSION} with ${await goVersion()} (first time only: 10-20 min on 2 cores)…`,
    );
    // Everything Go downloads or caches stays under the cache dir, so a clean machine (or CI cache)
    // needs nothing else; GOTOOLCHAIN=local stops Go from fetching a different toolchain.
    const go = join(ctx.cacheDir, "go");
    const env = {
      GOPATH: join(go, "path"),
      GOMODCACHE: join(go, "mod"),
      GOCACHE: join(go, "build"),
      GOFLAGS: "-mod=mod -buildvcs=false",
      GOTOOLCHAIN: "local",
      CGO_ENABLED: "0",
    };
    let lines = 0;
    const log = (line) => {
      if (++lines % 50 === 0) ctx.log(`  … ${line}`);
    };
    await run(
      "go",
      ["build", "-trimpath", "-ldflags=-s -w", "-o", bin, "github.com/hashicorp/consul"],
      { cwd: buildDir, env, log },
    );
    writeFileSync(stamp, want);
    // The ~4 GB of module and build caches only serve a rebuild; dropping them keeps the cache
    // (and a CI cache of it) at the size of the binary. `go clean` because the module cache is read-only.
    await run("go", ["clean", "-cache", "-modcache"], { cwd: buildDir, env });
    return { engine: "consul", version: VERSION };
  },

  async start(ctx) {
    const mode = ctx.cluster
      ? [
          // Three real servers on disk, each joining the others' LAN gossip: a Raft cluster that
          // elects a leader once all three are there and survives the loss of any one.
          "-server",
          "-bootstrap-expect",
          String(ctx.cluster.nodes.length),
          "-node",
          `resultstore-${ctx.cluster.index + 1}`,
          "-data-dir",
          ctx.dataDir,
          ...ctx.cluster.nodes
            .filter((_, i) => i !== ctx.cluster.index)
            .flatMap((n) => ["-retry-join", `${n.host}:${serfLanPort({ ...n, cluster: true })}`]),
          // Production Raft timing (the default multiplier 5 is for slow shared machines): a killed
          // leader is replaced within seconds, which the proof's node faults rely on.
          "-hcl",
          "performance { raft_multiplier = 1 }",
        ]
      : ["-dev"];
    return {
      command: join(ctx.cacheDir, "bin", "consul"),
      args: [
        "agent",
        ...mode,
        "-client",
        ctx.host,
        "-bind",
        ctx.host,
        "-log-level",
        "warn",
        "-http-port",
        String(ctx.port),
        "-server-port",
        String(serverPort(ctx)),
        "-serf-lan-port",
        String(serfLanPort(ctx)),
        // -1 disables: no DNS, gRPC or WAN gossip listeners to collide with anything.
        "-dns-port",
        "-1",
        "-grpc-port",
        "-1",
        "-grpc-tls-port",
        "-1",
        "-serf-wan-port",
        "-1",
        // No phoning home to HashiCorp's update check from test machines.
        "-hcl",
        "disable_update_check = true",
      ],
      cwd: ctx.dataDir,
    };
  },

  url: (ctx) => `consul://${ctx.host}:${ctx.port}`,

  async healthy(ctx) {
    const base = `http://${ctx.host}:${ctx.port}/v1`;
    try {
      const leader = await httpCall(`${base}/status/leader`);
      if (leader.status !== 200 || JSON.parse(leader.body) === "") return false;
      if (ctx.cluster) {
        // The whole cluster: a leader and every server a voter in the Raft configuration.
        const raft = await httpCall(`${base}/operator/raft/configuration`);
        if (raft.status !== 200) return false;
        const voters = JSON.parse(raft.body).Servers.filter((s) => s.Voter).length;
        if (voters !== ctx.cluster.nodes.length) return false;
      }
      // A leader alone doesn't prove the KV store accepts writes yet: round-trip one key.
      const key = `${base}/kv/resultstore-health/${randomUUID()}`;
      const value = randomUUID();
      const put = await httpCall(key, { method: "PUT", body: value });
      if (put.body.trim() !== "true") return false;
      const got = await httpCall(`${key}?raw`);
      await httpCall(key, { method: "DELETE" });
      return got.status === 200 && got.body === value;
    } catch {
      return false;
    }
  },

  // Three servers with HTTP on 8531-8533. A Consul client talks to one agent (normally the local
  // one), which forwards to the leader, so the URL names one; RESULTSTORE_CONSUL_CLUSTER_AGENTS lists all.
  cluster: {
    placement: (index) => ({ host: "127.0.0.1", port: 8531 + index }),
    url: (ctxs) => `consul://${ctxs[0].host}:${ctxs[0].port}`,
    extraEnv: (ctxs) => ({
      RESULTSTORE_CONSUL_CLUSTER_AGENTS: ctxs.map((c) => `consul://${c.host}:${c.port}`).join(","),
    }),
  },
};

async function goVersion() {
  return (await run("go", ["env", "GOVERSION"])).trim();
}

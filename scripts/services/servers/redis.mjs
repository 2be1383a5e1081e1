// Redis (the broker for BullMQ and Celery's Redis transport): Debian's own redis-server, unpacked
// into the cache and run on loopback with persistence off.
//
// Why `apt-get download` + `dpkg-deb -x` rather than `apt-get install`: install would change the
// machine (an init script, a system user, a service that starts itself on 6379 and keeps running
// after `down`) and needs root; the unpacked packages live in the cache like every other server,
// start only when `up` starts them and stop with `down`. Downloading needs apt's package lists: on a
// fresh machine without them the module runs `apt-get update` first when it runs as root (CI), and
// otherwise says what to run.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { ensureDir, existsSync, join, run, tcpExchange } from "../lib.mjs";

// The packages holding the server and the two libraries it links that a base Debian system lacks
// (libc6, libssl3, libsystemd0 and libatomic1 are part of it; a missing one is named after unpacking).
// redis-server itself ships only a symlink: the binary is redis-tools' redis-check-rdb, which runs
// as the server when invoked under the name redis-server.
const PACKAGES = ["redis-server", "redis-tools", "libjemalloc2", "liblzf1"];

const home = (ctx) => join(ctx.cacheDir, "root");
const binary = (ctx) => join(home(ctx), "usr", "bin", "redis-server");
/** The unpacked libraries' multiarch directory (x86_64-linux-gnu, aarch64-linux-gnu, …). */
function libDir(ctx) {
  const lib = join(home(ctx), "usr", "lib");
  const multiarch = existsSync(lib) && readdirSync(lib).find((d) => d.endsWith("-linux-gnu"));
  return multiarch ? join(lib, multiarch) : lib;
}

/** `apt-get download` of PACKAGES into a fresh directory; the package lists are refreshed once if missing. */
async function download(ctx) {
  const dir = mkdtempSync(join(ensureDir(ctx.cacheDir), "debs-"));
  // As root, apt hands downloads to its unprivileged `_apt` user, which cannot enter this private
  // directory: download as root instead of warning about it.
  const asRoot = process.getuid?.() === 0 ? ["-o", "APT::Sandbox::User=root"] : [];
  const attempt = () =>
    run("apt-get", [...asRoot, "download", ...PACKAGES], { cwd: dir, log: ctx.log });
  try {
    await attempt();
  } catch (error) {
    // No lists (a fresh machine), or stale ones naming a version the mirror no longer serves.
    const listsProblem = /Unable to locate package|has no installation candidate|404\s+Not Found/;
    if (!listsProblem.test(error.message)) throw error;
    if (process.getuid?.() !== 0) {
      throw new Error(
        `apt has no current package lists for ${PACKAGES.join(", ")}: run \`sudo apt-get update\` once`,
      );
    }
    ctx.log("apt's package lists are missing or stale: apt-get update");
    await run("apt-get", ["update"], { log: ctx.log });
    await attempt();
  }
  return dir;
}

/** Names of shared libraries the unpacked server cannot find (ldd's "not found" lines). */
function missingLibraries(ctx) {
  const r = spawnSync("ldd", [binary(ctx)], {
    encoding: "utf8",
    env: { ...process.env, LD_LIBRARY_PATH: libDir(ctx) },
  });
  return (r.stdout ?? "")
    .split("\n")
    .filter((line) => line.includes("not found"))
    .map((line) => line.trim().split(" ")[0]);
}

/** @type {import("../server-module.mjs").ServerModule} */
export default {
  name: "redis",
  envName: "REDIS",
  // Not 6379: a developer's own Redis usually listens there.
  port: 6389,
  startTimeoutSec: 20,

  async install(ctx) {
    const marker = join(ctx.cacheDir, ".installed");
    if (!existsSync(marker) || !existsSync(binary(ctx))) {
      rmSync(home(ctx), { recursive: true, force: true });
      const debs = await download(ctx);
      try {
        for (const deb of readdirSync(debs).filter((f) => f.endsWith(".deb"))) {
          await run("dpkg-deb", ["-x", join(debs, deb), home(ctx)], { log: ctx.log });
        }
      } finally {
        rmSync(debs, { recursive: true, force: true });
      }
      const missing = missingLibraries(ctx);
      if (missing.length) {
        throw new Error(`redis-server needs libraries this system lacks: ${missing.join(", ")}`);
      }
      const version = spawnSync(binary(ctx), ["--version"], {
        encoding: "utf8",
        env: { ...process.env, LD_LIBRARY_PATH: libDir(ctx) },
      }).stdout.match(/v=(\S+)/)?.[1];
      if (!version) throw new Error(`${binary(ctx)} --version printed no version`);
      writeFileSync(marker, `${version}\n`);
    }
    return { engine: "Redis (Debian)", version: readFileSync(marker, "utf8").trim() };
  },

  async start(ctx) {
    return {
      command: binary(ctx),
      args: [
        "--bind",
        ctx.host,
        "--port",
        String(ctx.port),
        // A test broker: nothing to keep across restarts, and no fork for background saves.
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        ctx.dataDir,
        "--daemonize",
        "no",
        "--logfile",
        "",
        // BullMQ requires that Redis never evicts its keys.
        "--maxmemory-policy",
        "noeviction",
      ],
      env: { LD_LIBRARY_PATH: libDir(ctx) },
      cwd: ctx.dataDir,
    };
  },

  url: (ctx) => `redis://${ctx.host}:${ctx.port}`,

  async healthy(ctx) {
    try {
      const reply = await tcpExchange(ctx.host, ctx.port, "*1\r\n$4\r\nPING\r\n", { minBytes: 7 });
      return reply.toString() === "+PONG\r\n";
    } catch {
      return false;
    }
  },
};

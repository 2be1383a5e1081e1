// MongoDB wire protocol, served by FerretDB 1.x over SQLite, built from source with the Go toolchain.
// No registry we can reach ships a real `mongod`: Debian 12 has none, and the npm/PyPI/Maven packages
// that "provide" one (mongodb-memory-server, pymongo-inmemory, flapdoodle embed.mongo, …) download it
// at run time from a host we cannot reach. FerretDB 2.x needs PostgreSQL with the DocumentDB extension,
// so 1.24.0 (the last 1.x) with its SQLite handler is the self-contained choice.
// Docker mode (docker/compose.yml) can still run a real mongod where Docker exists.
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { ensureDir, existsSync, join, run, tcpExchange } from "../lib.mjs";

const MODULE = "github.com/FerretDB/FerretDB";
const VERSION = "1.24.0";

const binPath = (ctx) => join(ctx.cacheDir, "bin", "ferretdb");

/**
 * Everything Go downloads or caches stays under the cache dir; GOTOOLCHAIN=local stops Go fetching
 * another toolchain; -modcacherw lets a plain `rm -rf` of the cache work for non-root users too.
 */
function goEnv(ctx) {
  const go = join(ctx.cacheDir, "go");
  return {
    GOPATH: join(go, "path"),
    GOMODCACHE: join(go, "mod"),
    GOCACHE: join(go, "build"),
    GOFLAGS: "-buildvcs=false -modcacherw",
    GOTOOLCHAIN: "local",
    CGO_ENABLED: "0",
  };
}

/** @type {import("../server-module.mjs").ServerModule} */
export default {
  name: "mongo",
  envName: "MONGO",
  port: 27017,
  startTimeoutSec: 30,

  async install(ctx) {
    const bin = binPath(ctx);
    const stamp = `${bin}.version`;
    if (existsSync(bin) && existsSync(stamp) && readFileSync(stamp, "utf8") === VERSION) {
      return { engine: "ferretdb", version: VERSION };
    }
    const env = goEnv(ctx);
    ctx.log(`building FerretDB ${VERSION} (cold: ~4-5 min on 2 cores)…`);
    // `go install …@v1.24.0` fails here: it asks the proxy for the module's version list (to look for
    // a deprecation notice) and that request is refused. Downloading the exact version works.
    await run("go", ["mod", "download", `${MODULE}@v${VERSION}`], { env, log: ctx.log });
    // Where the module cache unpacks it: upper-case letters are escaped as "!" + lower case.
    const moduleDir = join(
      env.GOMODCACHE,
      `${MODULE.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`)}@v${VERSION}`,
    );
    // The module zip leaves build/version/version.txt empty (FerretDB generates it from git) and the
    // binary panics at start without it, so build from a writable copy with the version filled in.
    const src = join(ctx.cacheDir, "src");
    rmSync(src, { recursive: true, force: true });
    cpSync(moduleDir, src, { recursive: true });
    await run("chmod", ["-R", "u+w", src]);
    writeFileSync(join(src, "build", "version", "version.txt"), `v${VERSION}\n`);
    let lines = 0;
    const log = (line) => {
      if (++lines % 20 === 0) ctx.log(`  … ${line}`);
    };
    // Its own go.mod and go.sum pin every dependency, checked against the checksum database.
    await run("go", ["build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/ferretdb"], {
      cwd: src,
      env,
      log,
    });
    rmSync(src, { recursive: true, force: true }); // the module cache keeps the source for rebuilds
    writeFileSync(stamp, VERSION);
    return { engine: "ferretdb", version: VERSION };
  },

  async start(ctx) {
    return {
      command: binPath(ctx),
      args: [
        "--handler=sqlite",
        `--sqlite-url=file:${ensureDir(join(ctx.dataDir, "sqlite"))}/`,
        `--state-dir=${ctx.dataDir}`,
        `--listen-addr=${ctx.host}:${ctx.port}`,
        // No metrics/pprof HTTP listener (default 127.0.0.1:8088 would collide with other servers)
        // and no telemetry reports from test machines.
        "--debug-addr=-",
        "--telemetry=disable",
        "--log-level=warn",
      ],
      cwd: ctx.dataDir,
    };
  },

  url: (ctx) => `mongodb://${ctx.host}:${ctx.port}`,

  // One OP_MSG `ping` against the admin database; FerretDB answers it only once its backend is open.
  async healthy(ctx) {
    try {
      const reply = await tcpExchange(ctx.host, ctx.port, opMsg({ ping: 1, $db: "admin" }), {
        minBytes: 21,
      });
      return (
        reply.readInt32LE(0) === reply.length &&
        reply.readInt32LE(12) === OP_MSG &&
        bsonOk(reply.subarray(21))
      );
    } catch {
      return false;
    }
  },
};

const OP_MSG = 2013;

/** Minimal BSON for a command document: only int32 and string values are needed. */
function bson(doc) {
  const parts = [];
  for (const [key, value] of Object.entries(doc)) {
    const name = Buffer.from(`${key}\0`);
    if (typeof value === "number") {
      const v = Buffer.alloc(4);
      v.writeInt32LE(value);
      parts.push(Buffer.from([0x10]), name, v);
    } else {
      const s = Buffer.from(`${value}\0`);
      const len = Buffer.alloc(4);
      len.writeInt32LE(s.length);
      parts.push(Buffer.from([0x02]), name, len, s);
    }
  }
  const body = Buffer.concat([...parts, Buffer.from([0])]);
  const size = Buffer.alloc(4);
  size.writeInt32LE(body.length + 4);
  return Buffer.concat([size, body]);
}

/** Header (length, requestID, responseTo, opCode), flagBits 0, one kind-0 section holding the command. */
function opMsg(command) {
  const body = Buffer.concat([Buffer.alloc(4), Buffer.from([0]), bson(command)]);
  const header = Buffer.alloc(16);
  header.writeInt32LE(16 + body.length, 0);
  header.writeInt32LE(1, 4);
  header.writeInt32LE(0, 8);
  header.writeInt32LE(OP_MSG, 12);
  return Buffer.concat([header, body]);
}

/** Fixed value sizes of the BSON types a command reply may hold; strings/documents carry their own. */
const FIXED = { 1: 8, 7: 12, 8: 1, 9: 8, 10: 0, 16: 4, 17: 8, 18: 8, 19: 16 };

/** True when the top-level `ok` field of a BSON document is numerically 1. */
function bsonOk(doc) {
  let i = 4;
  while (i < doc.length && doc[i] !== 0) {
    const type = doc[i];
    const nameEnd = doc.indexOf(0, i + 1);
    const name = doc.toString("utf8", i + 1, nameEnd);
    i = nameEnd + 1;
    if (name === "ok") {
      if (type === 0x01) return doc.readDoubleLE(i) === 1;
      if (type === 0x10) return doc.readInt32LE(i) === 1;
      if (type === 0x12) return doc.readBigInt64LE(i) === 1n;
      return false;
    }
    if (type === 0x02) i += 4 + doc.readInt32LE(i);
    else if (type === 0x03 || type === 0x04) i += doc.readInt32LE(i);
    else if (type === 0x05) i += 5 + doc.readInt32LE(i);
    else if (type in FIXED) i += FIXED[type];
    else return false; // a type a ping reply never has: don't guess
  }
  return false;
}

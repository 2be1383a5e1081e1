// Cosmos DB (SQL API): @vercel/cosmosdb-server from npm, a Node implementation of the Cosmos REST
// protocol. The real emulator is a Docker image (docker/compose.yml); this one runs anywhere Node does.
// It speaks HTTPS only to clients that do (the Azure SDK insists), so we give it our own self-signed
// certificate and hand its path to tests (RESULTSTORE_COSMOS_CA) to trust exactly that certificate.
import { readFileSync, writeFileSync } from "node:fs";
import { ensureDir, existsSync, httpCall, join, run } from "../lib.mjs";

const PACKAGE = "@vercel/cosmosdb-server";
const VERSION = "1.0.1";
/** The Cosmos DB emulator's published, well-known account key (not a secret). */
const EMULATOR_KEY =
  "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

const packageDir = (ctx) => join(ctx.cacheDir, "node_modules", ...PACKAGE.split("/"));
const tlsDir = (ctx) => join(ctx.cacheDir, "tls");
const certFile = (ctx) => join(tlsDir(ctx), "cert.pem");
const keyFile = (ctx) => join(tlsDir(ctx), "key.pem");

// Run through `node -e` so the certificate can be passed in: the package's own CLI always uses the
// key pair bundled in the package, which is not ours to hand out as a CA.
const LAUNCHER = `
const { readFileSync } = require("fs");
const { createHttpsServer } = require(process.env.COSMOS_SERVER_DIR);
const [port, host] = process.argv.slice(1);
const server = createHttpsServer({ cert: readFileSync(process.env.COSMOS_CERT), key: readFileSync(process.env.COSMOS_KEY) });
server.listen(Number(port), host, () => console.log("cosmosdb-server listening on https://" + host + ":" + port));
`;

/** @type {import("../server-module.mjs").ServerModule} */
export default {
  name: "cosmos",
  envName: "COSMOS",
  port: 8081,
  startTimeoutSec: 30,

  async install(ctx) {
    if (installedVersion(ctx) !== VERSION) {
      ensureDir(ctx.cacheDir);
      // The package and its dependencies have no install scripts, so npm 11's default of not
      // running unapproved scripts changes nothing.
      await run(
        "npm",
        [
          "install",
          "--prefix",
          ctx.cacheDir,
          "--no-audit",
          "--no-fund",
          "--omit=dev",
          `${PACKAGE}@${VERSION}`,
        ],
        { log: ctx.log },
      );
    }
    if (!existsSync(certFile(ctx)) || !existsSync(keyFile(ctx))) {
      ctx.log("generating a self-signed certificate for 127.0.0.1/localhost");
      ensureDir(tlsDir(ctx));
      await run("openssl", [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-sha256",
        "-days",
        "3650",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout",
        keyFile(ctx),
        "-out",
        certFile(ctx),
      ]);
    }
    return { engine: PACKAGE, version: installedVersion(ctx) };
  },

  async start(ctx) {
    return {
      command: process.execPath,
      args: ["-e", LAUNCHER, String(ctx.port), ctx.host],
      env: {
        COSMOS_SERVER_DIR: packageDir(ctx),
        COSMOS_CERT: certFile(ctx),
        COSMOS_KEY: keyFile(ctx),
      },
    };
  },

  // The key is percent-encoded ("/", "+", "=") so the URL parses (WHATWG URL and kombu alike);
  // readers take decodeURIComponent(url.password).
  url: (ctx) => `cosmosdbsql://:${encodeURIComponent(EMULATOR_KEY)}@${ctx.host}:${ctx.port}`,

  extraEnv: (ctx) => ({ RESULTSTORE_COSMOS_CA: certFile(ctx) }),

  /** Under Docker the emulator makes its own certificate; it publishes it at a well-known path. */
  async dockerExtraEnv(ctx) {
    const file = join(ensureDir(ctx.runDir), "emulator.pem");
    try {
      // Trust-on-first-use for this one loopback request: the emulator's certificate is what we are
      // fetching, so it cannot be verified yet. Nothing else skips verification.
      const res = await httpCall(`https://${ctx.host}:${ctx.port}/_explorer/emulator.pem`, {
        rejectUnauthorized: false,
      });
      if (res.status === 200) writeFileSync(file, res.body);
    } catch {
      /* emulator not up: leave out the variable */
    }
    return existsSync(file) ? { RESULTSTORE_COSMOS_CA: file } : {};
  },

  async healthy(ctx) {
    try {
      // The account document every Cosmos client reads first; verified against our certificate.
      const res = await httpCall(`https://${ctx.host}:${ctx.port}/`, {
        ca: readFileSync(certFile(ctx)),
      });
      return res.status === 200 && Array.isArray(JSON.parse(res.body).writableLocations);
    } catch {
      return false;
    }
  },
};

function installedVersion(ctx) {
  try {
    return JSON.parse(readFileSync(join(packageDir(ctx), "package.json"), "utf8")).version;
  } catch {
    return null;
  }
}

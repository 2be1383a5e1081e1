/**
 * The shape of one server module in ./servers/<name>.mjs (its default export). The `services`
 * command (cli.mjs) installs, starts, health-checks and stops servers through this shape only.
 *
 * @typedef {object} ServerContext
 * @property {string} host       Always "127.0.0.1": servers listen on loopback only.
 * @property {number} port       The client port (module default, or RESULTSTORE_<ENV>_PORT).
 * @property {string} cacheDir   <cache>/<name>: install target, kept across runs and clones.
 * @property {string} runDir     <cache>/run/<name>: pid/state/log; emptied by `down`.
 * @property {string} dataDir    <runDir>/data: fresh for every `up`, deleted by `down`.
 * @property {string} logFile    <runDir>/server.log: the server's stdout and stderr.
 * @property {(line: string) => void} log  Progress lines for the user.
 * @property {{index: number, nodes: {host: string, port: number}[]}} [cluster]  Only for a node of
 *   an N-node cluster (`up --nodes N`): its 0-based index and every node's address, to join them.
 *   `healthy` must then check the whole cluster (all nodes joined), not just this node.
 *
 * @typedef {object} SpawnSpec
 * @property {string} command
 * @property {string[]} args
 * @property {string} [cwd]
 * @property {Record<string, string>} [env]
 *
 * @typedef {object} ServerModule
 * @property {string} name            CLI name, e.g. "cassandra".
 * @property {string} envName         NAME in RESULTSTORE_<NAME>_URL, e.g. "CASSANDRA".
 * @property {number} port            Default loopback port.
 * @property {number} startTimeoutSec How long `up` waits for `healthy` before failing.
 * @property {(ctx: ServerContext) => Promise<{engine: string, version: string}>} install
 *   Idempotent: downloads/builds into ctx.cacheDir on first use, a quick no-op afterwards.
 * @property {(ctx: ServerContext) => Promise<SpawnSpec>} start  The process to spawn (foreground,
 *   not daemonizing); the CLI spawns it in its own process group with output to ctx.logFile.
 * @property {(ctx: ServerContext) => string} url  The URL tests read from RESULTSTORE_<NAME>_URL.
 * @property {(ctx: ServerContext) => Promise<boolean>} healthy  One protocol-level probe; never
 *   throws; answers within a few seconds.
 * @property {ClusterSpec} [cluster]  Present when the server can run as an N-node cluster.
 * @property {(ctx: ServerContext) => Record<string, string>} [extraEnv] More env lines for `env`
 *   (e.g. a CA file path for a self-signed server).
 * @property {(ctx: ServerContext) => Promise<Record<string, string>>} [dockerExtraEnv] The same
 *   for Docker mode, where the container provides the server (e.g. fetch the emulator's CA).
 *
 * @typedef {object} ClusterSpec
 * @property {(index: number) => {host: string, port: number}} placement  Where node `index`
 *   listens; must clash neither with the single node nor with the other nodes' other ports.
 * @property {(ctxs: ServerContext[]) => string} url  One URL naming every node
 *   (RESULTSTORE_<NAME>_CLUSTER_URL).
 * @property {(ctxs: ServerContext[]) => Record<string, string>} [extraEnv]  More env lines.
 */
export {};

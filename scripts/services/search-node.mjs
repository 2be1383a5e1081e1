// What the Elasticsearch and OpenSearch modules (./servers/elasticsearch.mjs, ./servers/opensearch.mjs)
// share: both run a search node from Maven jars through a small launcher, with the same logging, JVM
// options, node settings and health probe. Not a server module itself (those live in ./servers/).
import { readFileSync, writeFileSync } from "node:fs";
import { ensureDir, existsSync, httpCall, join, run, sha256 } from "./lib.mjs";

/** log4j2 configuration: console only, since the CLI already sends stdout to ctx.logFile. */
export const SEARCH_LOG4J = `status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
`;

/**
 * JVM options: a small heap for a test node; the rest mirrors the distributions' jvm.options and
 * the system properties their server CLI adds.
 */
export function searchJvmOptions(ctx, { heap = "512m" } = {}) {
  const tmp = ensureDir(join(ctx.dataDir, "tmp"));
  return [
    `-Xms${heap}`,
    `-Xmx${heap}`,
    "-XX:+UseG1GC",
    "-XX:+ExitOnOutOfMemoryError",
    `-Djava.io.tmpdir=${tmp}`,
    "-Dfile.encoding=UTF-8",
    "-Djava.awt.headless=true",
    "-Djava.locale.providers=CLDR",
    "-Dio.netty.noUnsafe=true",
    "-Dio.netty.noKeySetOptimization=true",
    "-Dio.netty.recycler.maxCapacityPerThread=0",
    "-Dlog4j.shutdownHookEnabled=false",
    "-Dlog4j2.disable.jmx=true",
    "-Dlog4j2.formatMsgNoLookups=true",
    "--add-modules=jdk.incubator.vector",
  ];
}

/** Node settings every node here has (`key=value` arguments of the launchers). */
export function searchNodeSettings(ctx, { clusterName, nodeName, transportPort }) {
  return {
    "cluster.name": clusterName,
    "node.name": nodeName,
    "network.host": ctx.host,
    "http.port": ctx.port,
    "transport.port": transportPort,
    "path.data": join(ctx.dataDir, "data"),
    "path.logs": join(ctx.dataDir, "logs"),
    // CI disks are often >90% full; the disk watermarks would then refuse to allocate new shards.
    "cluster.routing.allocation.disk.threshold_enabled": false,
  };
}

export const settingArgs = (settings) =>
  Object.entries(settings).map(([key, value]) => `${key}=${value}`);

/**
 * One `_cluster/health` probe of the node at ctx.host:ctx.port: true when the status is one of
 * `statuses` and (for a cluster) `nodes` nodes have joined.
 */
export async function searchHealthy(ctx, { statuses = ["green", "yellow"], nodes = 1 } = {}) {
  try {
    const res = await httpCall(`http://${ctx.host}:${ctx.port}/_cluster/health`, {
      timeoutMs: 3000,
    });
    if (res.status !== 200) return false;
    const health = JSON.parse(res.body);
    return statuses.includes(health.status) && health.number_of_nodes >= nodes;
  } catch {
    return false;
  }
}

/**
 * Whether `dir` holds a complete install of `version` built with this launcher source, and how to
 * mark it so once built: a changed Launcher.java means a rebuild (the jars then come from Maven's
 * local repository).
 */
export function launcherInstall(dir, version, launcherSource) {
  const marker = join(dir, ".installed");
  const fingerprint = `${version} ${sha256(readFileSync(launcherSource, "utf8"))}\n`;
  return {
    done: existsSync(marker) && readFileSync(marker, "utf8") === fingerprint,
    markDone: () => writeFileSync(marker, fingerprint),
  };
}

/** Compiles the launcher into <dir>/launcher against the server's jars (`classPath`: javac flags). */
export async function compileLauncher(ctx, { java, dir, source, release, classPath }) {
  ctx.log(`compiling the launcher with ${java.home}`);
  await run(
    join(java.home, "bin", "javac"),
    ["--release", String(release), "-d", join(dir, "launcher"), ...classPath, source],
    { log: ctx.log },
  );
}

/** The node's process: the JDK's java with the shared JVM options, then `args`. */
export function searchNodeProcess(ctx, java, args) {
  return {
    command: join(java.home, "bin", "java"),
    args: [...searchJvmOptions(ctx), ...args],
    cwd: ctx.runDir,
    env: { MALLOC_ARENA_MAX: "4" }, // caps glibc arenas, i.e. idle RSS
  };
}

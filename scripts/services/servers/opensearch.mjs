// OpenSearch 3.x as a single small node on loopback, no security plugin (none is installed).
//
// OpenSearch publishes its server (org.opensearch:opensearch) and module jars to Maven Central, but
// not its distribution. As for Elasticsearch (./elasticsearch.mjs), this lays the jars out like a
// distribution (lib/, modules/transport-netty4/, config/) and starts them with
// ./opensearch/Launcher.java, compiled once into the cache. Unlike Elasticsearch 9, OpenSearch runs
// on the class path (no Java modules), and the module's descriptor is not inside its jar: it is
// written here, with the values the distribution's descriptor has.
//
// Only transport-netty4 (HTTP and transport) is installed, so besides the document, search, bulk,
// index and cluster APIs of the server these are missing: _delete_by_query/_update_by_query/_reindex
// (reindex module), scripts (lang-painless) and every plugin (security, ISM, …).
import { readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDir, findJdk, join, mavenDependencies } from "../lib.mjs";
import {
  compileLauncher,
  launcherInstall,
  SEARCH_LOG4J,
  searchHealthy,
  searchNodeProcess,
  searchNodeSettings,
  settingArgs,
} from "../search-node.mjs";

const VERSION = "3.9.0";
const MIN_JAVA = 21; // the 3.x jars are compiled for Java 21
const LAUNCHER_SOURCE = join(
  dirname(fileURLToPath(import.meta.url)),
  "opensearch",
  "Launcher.java",
);

const pom = (dependencies) => `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>resultstore.services</groupId><artifactId>opensearch</artifactId><version>1</version>
  <dependencies>
${dependencies.map(([g, a, v = VERSION]) => `    <dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`).join("\n")}
  </dependencies>
</project>
`;

// The server, the class loader it gives each module (a separate artifact), and log4j-core, which
// the server's POM marks optional although its logging configurator needs it.
const SERVER_POM = pom([
  ["org.opensearch", "opensearch"],
  ["org.opensearch", "opensearch-plugin-classloader"],
  ["org.apache.logging.log4j", "log4j-core", "2.25.5"],
]);
const NETTY_POM = pom([["org.opensearch.plugin", "transport-netty4-client"]]);

// What the distribution's modules/transport-netty4/plugin-descriptor.properties says.
const NETTY_DESCRIPTOR = `description=Netty 4 based transport implementation
version=${VERSION}
name=transport-netty4
classname=org.opensearch.transport.Netty4ModulePlugin
java.version=${MIN_JAVA}
opensearch.version=${VERSION}
extended.plugins=
has.native.controller=false
`;

const home = (ctx) => join(ctx.cacheDir, `opensearch-${VERSION}`);
const transportPort = (ctx) => ctx.port + 10100; // 19301 by default, beside Elasticsearch's 19300
const findJava = () =>
  findJdk(MIN_JAVA, "RESULTSTORE_OPENSEARCH_JAVA_HOME", `OpenSearch ${VERSION}`);

/** @type {import("../server-module.mjs").ServerModule} */
export default {
  name: "opensearch",
  envName: "OPENSEARCH",
  port: 9201,
  startTimeoutSec: 120,

  async install(ctx) {
    const dir = home(ctx);
    const install = launcherInstall(dir, VERSION, LAUNCHER_SOURCE);
    if (install.done) return { engine: "OpenSearch", version: VERSION };
    const java = findJava();
    rmSync(dir, { recursive: true, force: true });
    ctx.log(`resolving OpenSearch ${VERSION} and transport-netty4-client with mvn`);
    // JAVA_HOME for Maven too: the 3.x POMs need a Java 21 toolchain to resolve some profiles.
    const env = { JAVA_HOME: java.home };
    await mavenDependencies(join(dir, "server"), SERVER_POM, {
      outputDir: "../lib",
      log: ctx.log,
      env,
    });
    const netty = ensureDir(join(dir, "modules", "transport-netty4"));
    await mavenDependencies(join(dir, "netty"), NETTY_POM, {
      outputDir: "jars",
      log: ctx.log,
      env,
    });
    // A jar both on the class path and in a module fails OpenSearch's jar-hell check: the module
    // keeps only what the server does not already bring (netty and the transport itself).
    const onClassPath = new Set(readdirSync(join(dir, "lib")));
    for (const jar of readdirSync(join(dir, "netty", "jars"))) {
      if (!onClassPath.has(jar)) renameSync(join(dir, "netty", "jars", jar), join(netty, jar));
    }
    rmSync(join(dir, "netty"), { recursive: true });
    rmSync(join(dir, "server"), { recursive: true });
    writeFileSync(join(netty, "plugin-descriptor.properties"), NETTY_DESCRIPTOR);
    writeFileSync(join(ensureDir(join(dir, "config")), "log4j2.properties"), SEARCH_LOG4J);

    await compileLauncher(ctx, {
      java,
      dir,
      source: LAUNCHER_SOURCE,
      release: MIN_JAVA,
      classPath: ["-cp", join(dir, "lib", "*")],
    });
    install.markDone();
    return { engine: "OpenSearch", version: VERSION };
  },

  async start(ctx) {
    const dir = home(ctx);
    const settings = {
      ...searchNodeSettings(ctx, {
        clusterName: "resultstore-opensearch",
        nodeName: "resultstore",
        transportPort: transportPort(ctx),
      }),
      "discovery.type": "single-node",
    };
    return searchNodeProcess(ctx, findJava(), [
      "--enable-native-access=ALL-UNNAMED", // Lucene's native I/O hints, on the class path
      `-Dopensearch.path.home=${dir}`,
      "-cp",
      `${join(dir, "lib", "*")}:${join(dir, "launcher")}`,
      "Launcher",
      dir,
      ...settingArgs(settings),
    ]);
  },

  // backend-elasticsearch builds the OpenSearch client for opensearch:// (the Elasticsearch clients
  // refuse a server that is not Elasticsearch); Celery's own tests turn it back into elasticsearch://.
  url: (ctx) => `opensearch://${ctx.host}:${ctx.port}`,

  // Yellow is normal for one node: replicas of indices created with the default 1 stay unassigned.
  healthy: (ctx) => searchHealthy(ctx),
};

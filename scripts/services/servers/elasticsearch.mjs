// Elasticsearch 9.x as a single small node on loopback, security off (there is no x-pack at all).
//
// Maven Central carries Elastic's own 9.x jars (org.elasticsearch:elasticsearch, the server, and
// org.elasticsearch.plugin:transport-netty4, the HTTP/transport module) but no 9.x distribution:
// the newest complete one there is the 8.19 integ-test zip, and 8.x rejects the 9.x clients
// (elasticsearch-py 9, which `celery[elasticsearch]` installs by default, and @elastic/elasticsearch 9)
// with "Accept version must be either version 8 or 7". A 9.x node serves both the 8.x and 9.x clients.
// So this lays the jars out like a distribution (lib/, modules/transport-netty4/, config/) and starts
// them with ./elasticsearch/Launcher.java, compiled once into the cache.
//
// Only the modules published to Maven are present, so besides document, search, bulk, index and
// cluster APIs (all in the server) these are missing: `GET /` and `HEAD /` (rest-root module: info()
// fails with 405 and ping() is false), _delete_by_query/_update_by_query/_reindex (reindex), scripts
// (lang-painless), x-pack features (ILM, data streams, security), and the native libraries (so no
// index.codec: best_compression: its shards never start).
import { readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDir, findJdk, join, mavenDependencies, run } from "../lib.mjs";
import {
  compileLauncher,
  launcherInstall,
  SEARCH_LOG4J,
  searchHealthy,
  searchNodeProcess,
  searchNodeSettings,
  settingArgs,
} from "../search-node.mjs";

const VERSION = "9.5.3";
const MIN_JAVA = 21; // the 9.x jars are compiled for Java 21
const LAUNCHER_SOURCE = join(
  dirname(fileURLToPath(import.meta.url)),
  "elasticsearch",
  "Launcher.java",
);

const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>resultstore.services</groupId><artifactId>elasticsearch</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.elasticsearch</groupId><artifactId>elasticsearch</artifactId><version>${VERSION}</version></dependency>
    <dependency><groupId>org.elasticsearch.plugin</groupId><artifactId>transport-netty4</artifactId><version>${VERSION}</version></dependency>
  </dependencies>
</project>
`;

// In a distribution these jars live in modules/transport-netty4/, not lib/: the module gets its own
// module layer, and a jar in both places fails Elasticsearch's jar-hell check.
const NETTY_MODULE_JAR =
  /^(transport-netty4|netty-.*|elasticsearch-ssl-config)-[\d.]+(Final)?\.jar$/;

const home = (ctx) => join(ctx.cacheDir, `elasticsearch-${VERSION}`);
const transportPort = (ctx) => ctx.port + 10100; // 19300 by default: not 9300, often taken on dev machines
const nodeName = (index) => (index === undefined ? "resultstore" : `resultstore-${index + 1}`);

export default {
  name: "elasticsearch",
  envName: "ELASTICSEARCH",
  port: 9200,
  startTimeoutSec: 120,

  async install(ctx) {
    const dir = home(ctx);
    const install = launcherInstall(dir, VERSION, LAUNCHER_SOURCE);
    if (install.done) return { engine: "Elasticsearch", version: VERSION };
    const java = findJava();
    rmSync(dir, { recursive: true, force: true });
    const lib = ensureDir(join(dir, "lib"));
    const netty = ensureDir(join(dir, "modules", "transport-netty4"));
    ctx.log(`resolving Elasticsearch ${VERSION} and transport-netty4 with mvn`);
    await mavenDependencies(dir, POM, { outputDir: "jars", log: ctx.log });
    for (const jar of readdirSync(join(dir, "jars"))) {
      renameSync(join(dir, "jars", jar), join(NETTY_MODULE_JAR.test(jar) ? netty : lib, jar));
    }
    rmSync(join(dir, "jars"), { recursive: true });

    // The module's descriptor (plugin class, Java module name) ships inside its jar; a distribution
    // has it next to the jars, which is where the plugin loader looks.
    const descriptor = "META-INF/es-plugins/transport-netty4/plugin-descriptor.properties";
    await run(
      join(java.home, "bin", "jar"),
      ["xf", join(netty, `transport-netty4-${VERSION}.jar`), descriptor],
      { cwd: netty },
    );
    renameSync(join(netty, descriptor), join(netty, "plugin-descriptor.properties"));
    rmSync(join(netty, "META-INF"), { recursive: true });

    writeFileSync(join(ensureDir(join(dir, "config")), "log4j2.properties"), SEARCH_LOG4J);
    await compileLauncher(ctx, {
      java,
      dir,
      source: LAUNCHER_SOURCE,
      release: MIN_JAVA,
      classPath: ["--module-path", lib, "--add-modules", "ALL-MODULE-PATH"],
    });
    install.markDone();
    return { engine: "Elasticsearch", version: VERSION };
  },

  async start(ctx) {
    const dir = home(ctx);
    const settings = {
      ...searchNodeSettings(ctx, {
        clusterName: ctx.cluster ? "resultstore-cluster" : "resultstore",
        nodeName: nodeName(ctx.cluster?.index),
        transportPort: transportPort(ctx),
      }),
      ...(ctx.cluster
        ? {
            // Every node is master-eligible and lists the others: any two elect a master, so the
            // cluster survives (and the proof tests) the loss of any one node, the master included.
            "discovery.seed_hosts": ctx.cluster.nodes
              .map((n) => `${n.host}:${transportPort(n)}`)
              .join(","),
            "cluster.initial_master_nodes": ctx.cluster.nodes.map((_, i) => nodeName(i)).join(","),
          }
        : { "discovery.type": "single-node" }),
    };
    return searchNodeProcess(ctx, findJava(), [
      "--enable-native-access=org.elasticsearch.nativeaccess,org.apache.lucene.core",
      // Where native access looks for lib/platform/<os>-<arch>/. Elastic publishes those libraries
      // (zstd, vec) only in its own distributions, so it logs "Native methods will be disabled" and
      // carries on; what needs them (index.codec: best_compression, memory locking) is unavailable.
      `-Des.path.home=${dir}`,
      // The server and its libraries are Java modules, as in a distribution; the launcher is not.
      "--module-path",
      join(dir, "lib"),
      "--add-modules",
      "ALL-MODULE-PATH",
      "-cp",
      join(dir, "launcher"),
      "Launcher",
      dir,
      ...settingArgs(settings),
    ]);
  },

  url: (ctx) => `elasticsearch://${ctx.host}:${ctx.port}`,

  // Yellow is normal for one node: replicas of indices created with the default 1 stay unassigned.
  // A cluster is healthy once every node has joined and every shard is allocated (green).
  healthy: (ctx) =>
    ctx.cluster
      ? searchHealthy(ctx, { statuses: ["green"], nodes: ctx.cluster.nodes.length })
      : searchHealthy(ctx),

  // Three nodes with HTTP on 9211-9213 and transport on 19311-19313, one cluster; the URL names
  // every node (backend-elasticsearch spreads requests over them and fails over).
  cluster: {
    placement: (index) => ({ host: "127.0.0.1", port: 9211 + index }),
    url: (ctxs) => `elasticsearch://${ctxs.map((c) => `${c.host}:${c.port}`).join(",")}`,
  },
};

/** A JDK 21+ (javac builds the launcher): RESULTSTORE_ELASTICSEARCH_JAVA_HOME, JAVA_HOME, … */
const findJava = () =>
  findJdk(MIN_JAVA, "RESULTSTORE_ELASTICSEARCH_JAVA_HOME", `Elasticsearch ${VERSION}`);

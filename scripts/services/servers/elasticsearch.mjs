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
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDir, existsSync, httpCall, join, mavenDependencies, run, sha256 } from "../lib.mjs";

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

// Console only: the CLI already sends stdout to ctx.logFile.
const LOG4J = `status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
`;

const home = (ctx) => join(ctx.cacheDir, `elasticsearch-${VERSION}`);
const transportPort = (ctx) => ctx.port + 10100; // 19300 by default: not 9300, often taken on dev machines

export default {
  name: "elasticsearch",
  envName: "ELASTICSEARCH",
  port: 9200,
  startTimeoutSec: 120,

  async install(ctx) {
    const dir = home(ctx);
    const marker = join(dir, ".installed");
    // A changed Launcher.java means a rebuild; the jars then come from Maven's local repository.
    const fingerprint = `${VERSION} ${sha256(readFileSync(LAUNCHER_SOURCE, "utf8"))}\n`;
    if (existsSync(marker) && readFileSync(marker, "utf8") === fingerprint) {
      return { engine: "Elasticsearch", version: VERSION };
    }
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

    writeFileSync(join(ensureDir(join(dir, "config")), "log4j2.properties"), LOG4J);
    ctx.log(`compiling the launcher with ${java.home}`);
    await run(
      join(java.home, "bin", "javac"),
      [
        "--release",
        String(MIN_JAVA),
        "-d",
        join(dir, "launcher"),
        "--module-path",
        lib,
        "--add-modules",
        "ALL-MODULE-PATH",
        LAUNCHER_SOURCE,
      ],
      { log: ctx.log },
    );
    writeFileSync(marker, fingerprint);
    return { engine: "Elasticsearch", version: VERSION };
  },

  async start(ctx) {
    const dir = home(ctx);
    const tmp = ensureDir(join(ctx.dataDir, "tmp"));
    const settings = {
      "cluster.name": "resultstore",
      "node.name": "resultstore",
      "discovery.type": "single-node",
      "network.host": ctx.host,
      "http.port": ctx.port,
      "transport.port": transportPort(ctx),
      "path.data": join(ctx.dataDir, "data"),
      "path.logs": join(ctx.dataDir, "logs"),
      // CI disks are often >90% full; the disk watermarks would then refuse to allocate new shards.
      "cluster.routing.allocation.disk.threshold_enabled": false,
    };
    return {
      command: join(findJava().home, "bin", "java"),
      args: [
        // Small heap for a test node; the rest mirrors the distribution's jvm.options and the system
        // properties its server CLI adds.
        "-Xms512m",
        "-Xmx512m",
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
        ...Object.entries(settings).map(([key, value]) => `${key}=${value}`),
      ],
      cwd: ctx.runDir,
      env: { MALLOC_ARENA_MAX: "4" }, // caps glibc arenas, i.e. idle RSS
    };
  },

  url: (ctx) => `elasticsearch://${ctx.host}:${ctx.port}`,

  async healthy(ctx) {
    try {
      const res = await httpCall(`http://${ctx.host}:${ctx.port}/_cluster/health`, {
        timeoutMs: 3000,
      });
      // Yellow is normal for one node: replicas of indices created with the default 1 stay unassigned.
      return res.status === 200 && ["green", "yellow"].includes(JSON.parse(res.body).status);
    } catch {
      return false;
    }
  },
};

/**
 * A JDK (javac is needed for the launcher) of Java 21 or newer: RESULTSTORE_ELASTICSEARCH_JAVA_HOME
 * if set, else JAVA_HOME if it fits, else the newest of the JAVA_HOME_<n>_X64 variables of CI runners
 * and the JDKs in /usr/lib/jvm. The machine's default Java may well be 17.
 */
function findJava() {
  const pinned = process.env.RESULTSTORE_ELASTICSEARCH_JAVA_HOME;
  const withMajor = (h) => ({ home: h, major: javaMajor(h) });
  const others = [
    ...Object.keys(process.env)
      .filter((k) => /^JAVA_HOME_\d+_X64$/.test(k))
      .map((k) => process.env[k]),
    ...(existsSync("/usr/lib/jvm")
      ? readdirSync("/usr/lib/jvm").map((d) => join("/usr/lib/jvm", d))
      : []),
  ]
    .map(withMajor)
    .sort((a, b) => b.major - a.major);
  const candidates = pinned
    ? [withMajor(pinned)]
    : [...(process.env.JAVA_HOME ? [withMajor(process.env.JAVA_HOME)] : []), ...others];
  const found = candidates.find(
    (j) => j.major >= MIN_JAVA && existsSync(join(j.home, "bin", "javac")),
  );
  if (!found) {
    throw new Error(
      `Elasticsearch ${VERSION} needs a JDK ${MIN_JAVA}+ and none was found in ${pinned ? "RESULTSTORE_ELASTICSEARCH_JAVA_HOME" : "JAVA_HOME, JAVA_HOME_*_X64 or /usr/lib/jvm"}: set RESULTSTORE_ELASTICSEARCH_JAVA_HOME`,
    );
  }
  return found;
}

/** The major version from a Java home's `release` file (JAVA_VERSION="25.0.1"), or 0. */
function javaMajor(javaHome) {
  try {
    const m = readFileSync(join(javaHome, "release"), "utf8").match(
      /^JAVA_VERSION="(?:1\.)?(\d+)/m,
    );
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

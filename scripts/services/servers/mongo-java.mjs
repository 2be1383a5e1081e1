// A second MongoDB-wire engine for the mongo backend's tests: bwaldvogel's mongo-java-server (Maven
// Central), in memory, on loopback. Why a second engine: FerretDB 1.x (servers/mongo.mjs) applies
// every update as an unlocked read-modify-write, so concurrent updates to one document are lost
// (concurrent $inc and guarded $set both lose writes). Real MongoDB makes each single-document
// update atomic, and the backend relies on exactly that; mongo-java-server keeps that guarantee, so
// the race, counter and chord tests run here with no opt-outs. It has no TTL monitor (a TTL index
// is accepted and never acts) and no pipeline updates, neither of which the backend needs.
import { readFileSync, writeFileSync } from "node:fs";
import { compileLauncher, existsSync, javaTool, join, mavenDependencies, sha256 } from "../lib.mjs";
import ferretdb from "./mongo.mjs";

const VERSION = "1.47.0";
const MAIN = "LoopbackMongoServer";

// A throwaway Maven project that resolves the server and its in-memory backend with every dependency.
const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>resultstore.services</groupId><artifactId>mongo-java-server</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>de.bwaldvogel</groupId><artifactId>mongo-java-server</artifactId><version>${VERSION}</version></dependency>
  </dependencies>
</project>
`;

// The library has no command line of its own. This launcher binds it to 127.0.0.1:<port> only, shuts
// it down cleanly on SIGTERM (the CLI's `down`), and works around one server bug: the in-memory
// collection hands out its live stored documents, which the network layer serializes after the
// collection lock is released, so a concurrent update can change them in between (two concurrent
// `$inc` callers of findAndModify then both see the same "after" value). The subclasses copy the
// document findAndModify returns while the lock is held. (Plain reads keep the library's behaviour:
// copying there would also copy the documents its own updates look up and then mutate.)
const LAUNCHER = `import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.backend.memory.MemoryCollection;
import de.bwaldvogel.mongo.backend.memory.MemoryDatabase;
import de.bwaldvogel.mongo.bson.Document;

public class ${MAIN} {
  static class SnapshotCollection extends MemoryCollection {
    SnapshotCollection(MongoDatabase database, String name, CollectionOptions options, CursorRegistry cursors) {
      super(database, name, options, cursors);
    }

    @Override
    public synchronized Document findAndModify(Document query) {
      return super.findAndModify(query).cloneDeeply();
    }
  }

  static class SnapshotDatabase extends MemoryDatabase {
    SnapshotDatabase(String name, CursorRegistry cursors) {
      super(name, cursors);
    }

    @Override
    protected MemoryCollection openOrCreateCollection(String name, CollectionOptions options) {
      return new SnapshotCollection(this, name, options, cursorRegistry);
    }
  }

  static class SnapshotBackend extends MemoryBackend {
    @Override
    public MemoryDatabase openOrCreateDatabase(String name) {
      return new SnapshotDatabase(name, getCursorRegistry());
    }
  }

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    MongoServer server = new MongoServer(new SnapshotBackend());
    server.bind("127.0.0.1", port);
    Runtime.getRuntime().addShutdownHook(new Thread(server::shutdown));
    System.err.println("mongo-java-server ${VERSION} listening on 127.0.0.1:" + port);
    Thread.currentThread().join();
  }
}
`;

const home = (ctx) => join(ctx.cacheDir, `mongo-java-server-${VERSION}`);

/** @type {import("../server-module.mjs").ServerModule} */
export default {
  name: "mongo-java",
  envName: "MONGO_JAVA",
  port: 27018,
  startTimeoutSec: 60,

  async install(ctx) {
    const dir = home(ctx);
    const marker = join(dir, ".installed");
    const stamp = `${VERSION} ${sha256(LAUNCHER).slice(0, 12)}\n`;
    if (!existsSync(marker) || readFileSync(marker, "utf8") !== stamp) {
      ctx.log(`resolving mongo-java-server ${VERSION} and its dependencies with mvn`);
      await mavenDependencies(dir, POM, { log: ctx.log });
      await compileLauncher(dir, MAIN, LAUNCHER, { log: ctx.log });
      writeFileSync(marker, stamp);
    }
    return { engine: "mongo-java-server", version: VERSION };
  },

  async start(ctx) {
    const dir = home(ctx);
    return {
      command: javaTool("java"),
      args: [
        "-Xms64m",
        "-Xmx512m",
        "-cp",
        `${join(dir, "classes")}:${join(dir, "lib", "*")}`,
        MAIN,
        String(ctx.port),
      ],
      cwd: ctx.dataDir,
    };
  },

  url: (ctx) => `mongodb://${ctx.host}:${ctx.port}`,

  // The same OP_MSG `ping` probe as the FerretDB module: both speak the MongoDB wire protocol.
  healthy: (ctx) => ferretdb.healthy(ctx),
};

// DynamoDB Local (AWS's own emulator, a Java program on Maven Central), in memory, on loopback.
import { writeFileSync } from "node:fs";
import {
  compileLauncher,
  existsSync,
  httpCall,
  javaTool,
  join,
  mavenDependencies,
} from "../lib.mjs";

const VERSION = "2.6.1"; // 2.x runs on Jetty 12, so it needs Java 17+.
const MAIN = "LoopbackDynamoDB";

// A throwaway Maven project whose only job is to resolve DynamoDBLocal and everything it depends on,
// including the sqlite4java native libraries it declares as runtime dependencies (type so/dylib/dll).
const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>resultstore.services</groupId><artifactId>dynamodb-local</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>com.amazonaws</groupId><artifactId>DynamoDBLocal</artifactId><version>${VERSION}</version></dependency>
  </dependencies>
</project>
`;

// ServerRunner has no listen-address option and binds Jetty to every interface. This launcher builds the
// same server from the same command-line options, then points its Jetty connector at 127.0.0.1 first.
const LAUNCHER = `import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public class ${MAIN} {
  public static void main(String[] args) throws Exception {
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    java.lang.reflect.Field field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    for (Connector c : ((Server) field.get(proxy)).getConnectors()) ((ServerConnector) c).setHost("127.0.0.1");
    proxy.start(); // Jetty's threads keep the JVM alive.
    System.err.println("DynamoDB Local " + "${VERSION}" + " listening on 127.0.0.1");
  }
}
`;

const home = (ctx) => join(ctx.cacheDir, `dynamodb-local-${VERSION}`);

export default {
  name: "dynamodb",
  envName: "DYNAMODB",
  port: 8000,
  startTimeoutSec: 60,

  async install(ctx) {
    const dir = home(ctx);
    const marker = join(dir, ".installed");
    if (!existsSync(marker)) {
      ctx.log(`resolving DynamoDBLocal ${VERSION} and its dependencies with mvn`);
      await mavenDependencies(dir, POM, { log: ctx.log });
      // Java 17: the minimum DynamoDB Local 2.x runs on.
      await compileLauncher(dir, MAIN, LAUNCHER, { log: ctx.log });
      writeFileSync(marker, `${VERSION}\n`);
    }
    return { engine: "DynamoDB Local", version: VERSION };
  },

  async start(ctx) {
    const dir = home(ctx);
    return {
      command: javaTool("java"),
      args: [
        "-Xms64m",
        "-Xmx512m",
        // sqlite4java finds libsqlite4java-linux-amd64-<version>.so here: Maven copied it with the exact
        // name the library looks for (base name plus its own version suffix).
        `-Dsqlite4java.library.path=${join(dir, "lib")}`,
        "-cp",
        `${join(dir, "classes")}:${join(dir, "lib", "*")}`,
        MAIN,
        "-inMemory",
        // One database for every access key and region, so tests and tools see the same tables.
        "-sharedDb",
        "-disableTelemetry",
        "-port",
        String(ctx.port),
      ],
      cwd: ctx.dataDir,
    };
  },

  url: (ctx) => `dynamodb://resultstore:resultstore@${ctx.host}:${ctx.port}`,

  async healthy(ctx) {
    // DynamoDB Local ignores the signature but rejects requests without a well-formed SigV4 header.
    const date = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
    const headers = {
      "Content-Type": "application/x-amz-json-1.0",
      "X-Amz-Target": "DynamoDB_20120810.ListTables",
      "X-Amz-Date": date,
      Authorization:
        `AWS4-HMAC-SHA256 Credential=resultstore/${date.slice(0, 8)}/us-east-1/dynamodb/aws4_request, ` +
        `SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=${"0".repeat(64)}`,
    };
    try {
      const res = await httpCall(`http://${ctx.host}:${ctx.port}/`, {
        method: "POST",
        headers,
        body: "{}",
        timeoutMs: 3000,
      });
      return res.status === 200 && Array.isArray(JSON.parse(res.body).TableNames);
    } catch {
      return false;
    }
  },
};

// Starts one OpenSearch node inside this JVM, for tests. Used by ../opensearch.mjs, which resolves
// the official server jar, its dependencies and the transport-netty4 module with Maven and compiles
// this file once into the cache.
//
// Why a launcher: OpenSearch publishes its server and module jars to Maven Central, but not its
// distribution. This does what the distribution's bootstrap does to bring up a node (settings ->
// Environment -> logging -> Node.start, modules read from <home>/modules) and leaves out what only
// makes sense for a production install: the CLI and keystore, the security agent, and the bootstrap
// checks (which refuse to run as root or with a small vm.max_map_count).
//
// Usage: java -cp '<home>/lib/*:<dir of this class>' Launcher <home> key=value...
//        (the key=value pairs are node settings, like `-E` in bin/opensearch)
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.Node;

public final class Launcher {
    public static void main(String[] args) {
        // Configuring logging points System.err at log4j; keep the real stream for fatal errors.
        PrintStream stderr = System.err;
        try {
            run(args);
        } catch (Throwable t) {
            stderr.println("opensearch launcher: startup failed");
            t.printStackTrace(stderr);
            stderr.flush();
            System.exit(1);
        }
    }

    private static void run(String[] args) throws Exception {
        Path home = Path.of(args[0]).toAbsolutePath();
        Settings.Builder builder = Settings.builder().put("path.home", home.toString());
        for (int i = 1; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            builder.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        Settings settings = builder.build();
        Environment environment = new Environment(settings, home.resolve("config"));

        // Same order as the bootstrap: the error listener must be in place before log4j is touched.
        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(settings));
        LogConfigurator.configure(environment);

        // Node(Environment) loads the modules from <home>/modules/<name>/ (jars + descriptor), each
        // with its own class loader, as in a distribution.
        Node node = new Node(environment);

        // OpenSearch's threads are daemons; this latch keeps the JVM in the foreground until
        // SIGTERM/SIGINT, when the hook closes the node cleanly (flushing shards) and releases it.
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace(System.out);
            } finally {
                stopped.countDown();
            }
        }, "resultstore-shutdown"));
        node.start();
        stopped.await();
    }
}

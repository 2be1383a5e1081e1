// Starts one Elasticsearch node inside this JVM, for tests. Used by ../elasticsearch.mjs, which
// resolves the official server jar, its dependencies and the transport-netty4 module with Maven and
// compiles this file once into the cache.
//
// Why a launcher: the newest complete distribution on Maven Central is 8.19 (and 8.x rejects the 9.x
// clients), while 9.x is published only as jars. This does what the distribution's bootstrap does to
// bring up a node (settings -> Environment -> logging -> modules -> Node.start) and leaves out what
// only makes sense for a production install: the server CLI and keystore, the entitlement agent,
// and the bootstrap checks (which refuse to run as root or with a small vm.max_map_count).
//
// Usage: java --module-path <home>/lib --add-modules ALL-MODULE-PATH -cp <dir of this class>
//        Launcher <home> key=value...   (the key=value pairs are node settings, like `-E` in bin/elasticsearch)
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.PluginsLoader;

public final class Launcher {
    public static void main(String[] args) {
        // Configuring logging points System.err at log4j; keep the real stream for fatal errors.
        PrintStream stderr = System.err;
        try {
            run(args);
        } catch (Throwable t) {
            stderr.println("elasticsearch launcher: startup failed");
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
        LogConfigurator.configure(environment, true); // true: keep the console appender (our only one)

        // Modules are loaded from <home>/modules/<name>/ with their descriptors, each in its own module
        // layer, exactly as in a distribution; `false` = not a serverless deployment.
        PluginsLoader plugins = PluginsLoader.createPluginsLoader(
            PluginsLoader.loadModulesBundles(environment.modulesDir(), false), Set.of(), new HashMap<>());
        Node node = new Node(environment, plugins);

        // Elasticsearch's threads are daemons; this latch keeps the JVM in the foreground until
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

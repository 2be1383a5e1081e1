/**
 * A loopback TCP proxy between a client and its server, for tests of what the network does to
 * calls without touching the server: `cut()` resets every open connection (a flaky network, a load
 * balancer's idle cut), and `loseAnswer` loses the server's answer to one request. New connections
 * are accepted again at once: the drivers must reconnect by themselves.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

/** Loses the server's answer to the first request that `matches`. */
export interface LoseAnswer {
  /** True for the request whose answer to lose: it sees the request's text (headers and body). */
  matches: (request: string) => boolean;
  /** Runs after the server answered that request and before the client's connection is cut. */
  meanwhile?: () => Promise<void>;
}

/** A proxy to one server; `start()` opens it on a free loopback port. */
export class TcpProxy {
  private server?: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  private armed: boolean;
  private lostAnswers = 0;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    private readonly loseAnswer?: LoseAnswer,
  ) {
    this.armed = loseAnswer !== undefined;
  }

  /** `127.0.0.1:<port>`, once started: point the client here instead of at the server. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Listens on a free loopback port; resolves with it. */
  async start(): Promise<number> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    this.port = typeof address === "object" && address ? address.port : 0;
    return this.port;
  }

  /** Resets every open connection (both sides); returns how many were cut. */
  cut(): number {
    const count = this.pairs.size;
    for (const [client, upstream] of this.pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.pairs.clear();
    return count;
  }

  /** How many answers `loseAnswer` lost so far (0 or 1). */
  lost(): number {
    return this.lostAnswers;
  }

  /** Cuts every connection and stops listening. */
  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }

  private accept(client: Socket): void {
    const upstream = connect({ host: this.targetHost, port: this.targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    if (!this.armed) {
      client.pipe(upstream);
      upstream.pipe(client);
      return;
    }
    let request = ""; // what the client sent since the server last answered
    let dropping = false;
    client.on("data", (chunk: Buffer) => {
      if (this.armed) request += chunk.toString("latin1");
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (dropping) return;
      if (this.armed && this.loseAnswer?.matches(request)) {
        this.armed = false;
        dropping = true;
        this.lostAnswers++;
        const meanwhile = this.loseAnswer.meanwhile?.() ?? Promise.resolve();
        void meanwhile.finally(() => client.resetAndDestroy());
        return;
      }
      request = "";
      client.write(chunk);
    });
  }
}

/** A started proxy to `target` that loses the answer to one request (see {@link LoseAnswer}). */
export async function loseOneAnswer(
  target: { host: string; port: number },
  loseAnswer: LoseAnswer,
): Promise<TcpProxy> {
  const proxy = new TcpProxy(target.host, target.port, loseAnswer);
  await proxy.start();
  return proxy;
}

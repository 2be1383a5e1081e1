// What only a cluster shows: schema changes travel between nodes. Runs in `test:cluster` (the
// 3-node cluster); on one node there is nothing to show, and it says so.
import { randomUUID } from "node:crypto";
import { serverTarget } from "@resultstore/conformance";
import { ResultStore } from "@resultstore/core";
import cassandra from "cassandra-driver";
import { afterAll, describe, expect, it } from "vitest";
import { optionsFromUrl } from "../src/config.js";
import { fromUrl } from "../src/index.js";
import { dropKeyspace, KEYSPACE, rawClient } from "./helpers.js";

const target = serverTarget("CASSANDRA");
const nodes = optionsFromUrl(target.url ?? "cassandra://127.0.0.1").contactPoints ?? [];
const onCluster = Boolean(target.url) && nodes.length > 1;

/** Round robin, except that `node` leads every query plan while it is up. */
class NodeFirst extends cassandra.policies.loadBalancing.RoundRobinPolicy {
  constructor(private readonly node: string) {
    super();
  }
  override newQueryPlan(
    keyspace: string,
    options: cassandra.ExecutionOptions,
    done: (error: Error, plan: Iterator<cassandra.Host>) => void,
  ): void {
    super.newQueryPlan(keyspace, options, (error, plan) => {
      if (error) return done(error, plan);
      const hosts = [...{ [Symbol.iterator]: () => plan }];
      const rank = (host: cassandra.Host) => (host.address === this.node ? 0 : 1);
      done(error, hosts.sort((a, b) => rank(a) - rank(b))[Symbol.iterator]());
    });
  }
}

describe.skipIf(!onCluster)(`cassandra cluster (${nodes.length} node(s) in the URL)`, () => {
  const url = target.url as string;
  const stores: ResultStore[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await dropKeyspace();
  });

  /**
   * A store whose requests are coordinated by `node` first, as a process near that node would be.
   * The other nodes stay in its plan (connected), so its schema changes can still go where the
   * backend sends them.
   */
  const storeThrough = (node: string, namespace: string) => {
    const backend = fromUrl(url, {
      keyspace: KEYSPACE,
      namespace,
      driverOptions: { policies: { loadBalancing: new NodeFirst(node) } },
    });
    const store = new ResultStore(backend);
    stores.push(store);
    return store;
  };

  // Found by CI's cluster proof: four processes starting at once on fresh tables failed their
  // first calls ("table … does not exist", "Server failure during read query"): a store went on
  // as soon as its own coordinator knew the table, before every replica did.
  it("tables created at once through every node are usable through every node", async () => {
    await rawClient(url);
    for (let round = 0; round < 3; round++) {
      const namespace = `ns_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
      const fleet = nodes.map((node) => storeThrough(node, namespace));
      await Promise.all(fleet.map((store, i) => store.markSuccess(`task-${i}`, i)));
      // One counter each: several coordinators racing one counter's Paxos round is another story.
      await Promise.all(fleet.map((store, i) => store.incr(`counter-${i}`, i + 1)));
      await Promise.all(fleet.map((store, i) => store.saveGroup(`group-${i}`, [`task-${i}`])));
      for (const store of fleet) {
        const metas = await Promise.all(fleet.map((_, i) => store.getMeta(`task-${i}`)));
        expect(metas.map((meta) => meta.result)).toEqual(fleet.map((_, i) => i));
      }
      const counts = await Promise.all(fleet.map((_, i) => fleet[0]?.incr(`counter-${i}`, 0)));
      expect(counts).toEqual(fleet.map((_, i) => i + 1));
    }
  }, 300_000);
});

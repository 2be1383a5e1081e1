/**
 * Issue 28, item 4: a session dies with its node. Consul invalidates every session of a node that
 * is deregistered (a client agent leaving, force-leave, reaping, /v1/catalog/deregister), even
 * one created with no checks, and `Behavior: delete` then deletes every key it holds, live or not.
 * The default (sessions on the agent's node) is exposed to that, as the README says; `sessionNode`
 * ties the sessions to a node that outlives the agent, and `sessionExpiry: false` to none.
 *
 * It deregisters the agent's own node, so it runs on a private dev agent, never the shared one.
 */
import { randomUUID } from "node:crypto";
import { ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromUrl } from "../src/index.js";
import { rawEntry } from "./helpers.js";
import { type PrivateAgent, privateAgentAvailable, startPrivateAgent } from "./private-agent.js";

describe.skipIf(!privateAgentAvailable())("consul sessions and node deregistration", () => {
  let agent: PrivateAgent;
  beforeAll(async () => {
    agent = await startPrivateAgent();
  }, 70_000);
  afterAll(async () => {
    await agent?.stop();
  });

  const put = async (path: string, body: unknown) => {
    const response = await fetch(`${agent.http}${path}`, {
      method: "PUT",
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
  };

  it("a live record survives its agent's node leaving with sessionNode or sessionExpiry: false; by default it is deleted", async () => {
    // A node that stays (a server's, in a real cluster), registered in the catalog.
    const stable = `rs-stable-${randomUUID().slice(0, 8)}`;
    await put("/v1/catalog/register", { Node: stable, Address: "127.0.0.2" });
    const stores = {
      byDefault: new ResultStore(fromUrl(agent.url, { namespace: "default", warn: () => {} }), {
        expires: 3600,
      }),
      onStableNode: new ResultStore(
        fromUrl(agent.url, { namespace: "stable", sessionNode: stable, warn: () => {} }),
        { expires: 3600 },
      ),
      noSessions: new ResultStore(
        fromUrl(agent.url, { namespace: "none", sessionExpiry: false, warn: () => {} }),
        { expires: 3600 },
      ),
    };
    const id = randomUUID();
    const key = (name: string) => `${name}/celery-task-meta-${id}`;
    for (const store of Object.values(stores)) await store.markSuccess(id, "live");
    const held = await rawEntry(agent.url, key("stable"));
    const info = (await (await fetch(`${agent.http}/v1/session/info/${held?.session}`)).json()) as {
      Node: string;
    }[];
    expect(info[0]?.Node).toBe(stable);

    // The agent's node leaves the catalog, as when a client agent leaves the cluster.
    await put("/v1/catalog/deregister", { Node: agent.node });

    expect(await rawEntry(agent.url, key("stable"))).not.toBeNull();
    expect(await rawEntry(agent.url, key("none"))).not.toBeNull();
    expect((await stores.onStableNode.getMeta(id)).result).toBe("live");
    expect((await stores.noSessions.getMeta(id)).result).toBe("live");
    // The default's documented exposure: its session died with the node and took the record.
    expect(await rawEntry(agent.url, key("default"))).toBeNull();
    for (const store of Object.values(stores)) await store.close();
  }, 60_000);
});

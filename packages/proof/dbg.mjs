import { fromUrl } from "@resultstore/backend-dynamodb";
import { ResultStore } from "@resultstore/core";
import { TcpProxy } from "./dist/proxy.js";

const proxy = new TcpProxy("127.0.0.1", 35500);
const port = await proxy.start();
const b = fromUrl(`dynamodb://proofkeyab12:proofsecretab12@127.0.0.1:${port}`, {
  namespace: "proof_dbg" + Math.floor(Math.random() * 1000),
});
const s = new ResultStore(b);
for (let i = 0; i < 3; i++) {
  const t = Date.now();
  try {
    console.log(await s.incr("c"), Date.now() - t);
  } catch (e) {
    console.log(String(e));
  }
}
await b.destroy?.().catch(() => {});
await s.close();
await proxy.stop();

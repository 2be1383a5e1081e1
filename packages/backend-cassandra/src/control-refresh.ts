/**
 * A guard around cassandra-driver's control-connection refresh (4.x, up to 4.10 at least).
 *
 * When connections drop, the driver can start a second refresh of its control connection while
 * one is still running (a host's "down" event and a closed socket each start one). The second
 * resets the shared `connection` field; the first, on its next failure, reads
 * `this.connection.endpoint` and throws a TypeError. The refresh the driver scheduled with
 * `setTimeout` has no one to catch it, so the rejection is unhandled and Node ends the process
 * (packages/proof: four client processes died this way under dropped connections; the driver's
 * tracker calls it NODEJS-681). Where the refresh was started in the background instead, the
 * error is swallowed and the control connection is never retried.
 *
 * The guard lets one refresh run at a time (a refresh asked for meanwhile is covered by the one
 * running: it either connects or schedules its own retry), and catches what escapes a refresh,
 * reporting it through the driver's own `log` event and retrying later, as the driver does after
 * a failed refresh. Internal API: on a driver without it the guard does nothing.
 */
import type cassandra from "cassandra-driver";

/** The part of the driver's ControlConnection the guard touches. */
interface RefreshingControlConnection {
  _refresh?: (hostIterator?: unknown) => Promise<void>;
  _isShuttingDown?: boolean;
}

/** How long to wait before refreshing again after a refresh failed past the driver's handling. */
const REFRESH_RETRY_MS = 1000;

/**
 * Lets one control-connection refresh of `client` run at a time and retries one that failed past
 * the driver's own handling. The backend calls it on the clients it builds; call it once on a
 * client you pass in.
 */
export function guardControlRefresh(client: cassandra.Client): void {
  const control = (client as unknown as { controlConnection?: RefreshingControlConnection })
    .controlConnection;
  const refresh = control?._refresh;
  if (!control || typeof refresh !== "function") return;
  let running = false;
  control._refresh = async function guardedRefresh(hostIterator?: unknown): Promise<void> {
    // With an iterator the driver is retrying inside the refresh that is running: let it.
    if (hostIterator !== undefined) return refresh.call(this, hostIterator);
    if (running) return;
    running = true;
    try {
      await refresh.call(this);
    } catch (error) {
      client.emit("log", "error", "ControlConnection", "Control connection refresh failed", error);
      if (!control._isShuttingDown) {
        setTimeout(() => void control._refresh?.(), REFRESH_RETRY_MS).unref();
      }
    } finally {
      running = false;
    }
  };
}

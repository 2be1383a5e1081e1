// The work this service does, one function per job name. A processor gets the job's data and
// returns the result to store; a throw is a failure (retried if the job asked for attempts).

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const TASKS = {
  /** Pretends to render a report: takes `ms`, returns where it went. */
  async "reports.render"({ quarter, ms = 200 }) {
    await sleep(ms);
    return { quarter, pages: 12, url: `/reports/${quarter}.pdf` };
  },

  /** Fails on purpose, so the failure path can be seen. */
  async "reports.broken"({ reason = "template missing" }) {
    throw new Error(reason);
  },
};

// The dashboard page: plain DOM, no framework, nothing from a CDN. Every value from the store is
// put on the page as text (textContent), never as markup, so a task's result or metadata cannot
// inject anything; the server's Content-Security-Policy allows only this script besides.
//
// Where the page is lives in the address's hash, so reload, back and a shared link keep it:
// `#/?state=FAILURE&meta=tenant%3Dacme&since=1h` for the list, `#/task/<id>` for one task.

const $ = (id) => document.getElementById(id);
const view = { list: $("list-view"), task: $("task-view") };
const PREVIEW_CHARACTERS = 60;

let refreshSeconds = 3;
let refreshing = false;
/** The cursors of the pages before this one (the first page's is ""), for "previous". */
let cursors = [];
let nextCursor = null;

async function getJson(path) {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  return body;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function taskLink(taskId) {
  const link = element("a", taskId);
  link.href = `#/task/${encodeURIComponent(taskId)}`;
  return link;
}

/** JSON text of a stored value; a string shows as itself. */
function shown(value, indent) {
  if (typeof value === "string") return value;
  return JSON.stringify(value, null, indent) ?? "";
}

function brief(value) {
  const text = shown(value).replace(/\s+/g, " ");
  return text.length > PREVIEW_CHARACTERS ? `${text.slice(0, PREVIEW_CHARACTERS - 1)}…` : text;
}

function utc(iso) {
  return iso ? iso.replace("T", " ").slice(0, 19) : "";
}

function showProblem(error) {
  const box = $("problem");
  box.hidden = error === null;
  box.textContent = error === null ? "" : `The store answered: ${error.message}`;
}

// --- the filters, kept in the address's hash --------------------------------------------------

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  if (hash.startsWith("/task/")) return { task: decodeURIComponent(hash.slice("/task/".length)) };
  const at = hash.indexOf("?");
  return { params: new URLSearchParams(at >= 0 ? hash.slice(at + 1) : "") };
}

function currentParams() {
  const r = route();
  return r.params ?? new URLSearchParams();
}

function setParams(params) {
  cursors = [];
  const text = params.toString();
  location.hash = text ? `#/?${text}` : "#/";
}

function updateParam(name, value) {
  const params = currentParams();
  if (value) params.set(name, value);
  else params.delete(name);
  setParams(params);
}

function formFromParams(params) {
  const values = {
    state: params.get("state") ?? "",
    name: params.get("name") ?? "",
    since: params.get("since") ?? "",
    order: params.get("order") ?? "newest",
    limit: params.get("limit") ?? "50",
  };
  // A live refresh must not overwrite what the user is typing or choosing.
  for (const [id, value] of Object.entries(values))
    if (document.activeElement !== $(id)) $(id).value = value;
  const chips = $("meta-chips");
  chips.replaceChildren();
  for (const pair of params.getAll("meta")) {
    const chip = element("span", pair, "chip");
    const remove = element("button", "×");
    remove.type = "button";
    remove.title = `remove ${pair}`;
    remove.addEventListener("click", () => {
      const next = currentParams();
      const kept = next.getAll("meta").filter((p) => p !== pair);
      next.delete("meta");
      for (const p of kept) next.append("meta", p);
      setParams(next);
    });
    chip.append(remove);
    chips.append(chip);
  }
}

function wireFilters() {
  for (const id of ["state", "since", "order", "limit"])
    $(id).addEventListener("change", () => updateParam(id, $(id).value));
  $("name").addEventListener("change", () => updateParam("name", $("name").value.trim()));
  $("meta").addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    const pair = $("meta").value.trim();
    if (!pair) return;
    if (pair.indexOf("=") <= 0)
      return showProblem(new Error(`metadata takes key=value, got "${pair}"`));
    const params = currentParams();
    params.append("meta", pair);
    $("meta").value = "";
    setParams(params);
  });
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("clear").addEventListener("click", () => setParams(new URLSearchParams()));
  $("first").addEventListener("click", () => {
    cursors = [];
    refresh();
  });
  $("previous").addEventListener("click", () => {
    cursors.pop();
    refresh();
  });
  $("next").addEventListener("click", () => {
    if (nextCursor === null) return;
    cursors.push(nextCursor);
    refresh();
  });
  $("live").addEventListener("change", () => $("live").checked && refresh());
}

// --- the list -------------------------------------------------------------------------------------

function renderCounts(stats, params) {
  const chosen = params.get("state");
  const box = $("counts");
  box.replaceChildren();
  const states = $("state");
  for (const [state, count] of Object.entries(stats.counts)) {
    const card = element("button", null, "count");
    card.type = "button";
    card.dataset.state = state;
    card.setAttribute("aria-pressed", String(chosen === state));
    card.append(element("strong", count, `state ${state}`), element("span", state));
    card.addEventListener("click", () => updateParam("state", chosen === state ? "" : state));
    box.append(card);
    if (![...states.options].some((o) => o.value === state))
      states.append(new Option(state, state));
  }
  const total = element("div", null, "count total");
  total.append(element("strong", stats.total), element("span", "total"));
  box.append(total);
  states.value = chosen ?? "";
}

function renderTasks(page) {
  const body = $("tasks").tBodies[0];
  body.replaceChildren();
  for (const task of page.tasks) {
    const row = document.createElement("tr");
    row.dataset.taskId = task.taskId;
    const id = element("td", null, "id");
    id.append(taskLink(task.taskId));
    row.append(
      id,
      element("td", task.status, `state ${task.status}`),
      element("td", task.name ?? ""),
      element("td", utc(task.updatedAt ?? task.dateDone)),
      element("td", brief(task.result), "brief"),
      element("td", Object.keys(task.metadata).length ? brief(task.metadata) : "", "brief"),
    );
    body.append(row);
  }
  $("empty").hidden = page.tasks.length > 0;
  nextCursor = page.cursor;
  $("next").disabled = page.cursor === null;
  $("previous").disabled = cursors.length === 0;
  $("first").disabled = cursors.length === 0;
  $("page").textContent = `page ${cursors.length + 1}`;
}

async function refreshList(params) {
  const countParams = new URLSearchParams(params);
  countParams.delete("state");
  countParams.delete("order");
  countParams.delete("limit");
  const taskParams = new URLSearchParams(params);
  const cursor = cursors[cursors.length - 1];
  if (cursor) taskParams.set("cursor", cursor);
  const [stats, page] = await Promise.all([
    getJson(`/api/stats?${countParams}`),
    getJson(`/api/tasks?${taskParams}`),
  ]);
  renderCounts(stats, params);
  renderTasks(page);
}

// --- one task -------------------------------------------------------------------------------------

function field(list, name, value) {
  if (value === undefined || value === null || value === "") return;
  list.append(element("dt", name));
  const dd = element("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = String(value);
  list.append(dd);
}

function renderTask(view) {
  const { task, children, group } = view;
  $("task-title").replaceChildren(
    element("span", task.status, `state ${task.status}`),
    ` ${task.taskId}`,
  );
  const fields = $("task-fields");
  fields.replaceChildren();
  field(fields, "name", task.name);
  field(fields, "last written", utc(task.updatedAt));
  field(fields, "done", utc(task.dateDone));
  field(fields, "worker", task.worker);
  field(fields, "queue", task.queue);
  field(fields, "retries", task.retries);
  field(fields, "parent", task.parentId && taskLink(task.parentId));
  field(fields, "args", task.args && shown(task.args));
  field(fields, "kwargs", task.kwargs && shown(task.kwargs));
  $("task-result").textContent = shown(task.result, 2);
  $("task-traceback-part").hidden = !task.traceback;
  $("task-traceback").textContent = task.traceback ?? "";
  const metadata = $("task-metadata").tBodies[0];
  metadata.replaceChildren();
  // Sorted by key: some databases (DynamoDB's maps) keep no order of their own.
  const entries = Object.entries(task.metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [key, value] of entries) {
    const row = document.createElement("tr");
    row.append(element("th", key), element("td", shown(value)));
    metadata.append(row);
  }
  if (!metadata.rows.length) metadata.append(element("tr", "none", "muted"));
  $("task-children-part").hidden = children.length === 0;
  $("task-children").replaceChildren(
    ...children.map((id) => {
      const item = element("li");
      item.append(taskLink(id));
      return item;
    }),
  );
  $("task-group-part").hidden = group === null;
  if (group) {
    $("task-group-title").textContent = `group ${group.groupId} (${group.size} tasks)`;
    $("task-group").replaceChildren(
      ...group.members.map((member) => {
        const item = element("li");
        item.append(
          taskLink(member.taskId),
          " ",
          element("span", member.status, `state ${member.status}`),
        );
        return item;
      }),
    );
  }
}

// --- refreshing -----------------------------------------------------------------------------------

async function refresh() {
  if (refreshing) return;
  refreshing = true;
  const r = route();
  view.list.hidden = r.task !== undefined;
  view.task.hidden = r.task === undefined;
  try {
    if (r.task !== undefined) renderTask(await getJson(`/api/tasks/${encodeURIComponent(r.task)}`));
    else {
      formFromParams(r.params);
      await refreshList(r.params);
    }
    showProblem(null);
    $("refreshed").textContent = `read ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    showProblem(error);
  } finally {
    refreshing = false;
  }
}

function tick() {
  if ($("live").checked && document.visibilityState === "visible") refresh();
  setTimeout(tick, refreshSeconds * 1000);
}

async function start() {
  wireFilters();
  window.addEventListener("hashchange", () => {
    window.scrollTo(0, 0);
    refresh();
  });
  try {
    const info = await getJson("/api/info");
    refreshSeconds = info.refreshSeconds;
    $("store").textContent = `${info.backend}${info.url ? ` · ${info.url}` : ""}`;
  } catch (error) {
    showProblem(error);
  }
  await refresh();
  setTimeout(tick, refreshSeconds * 1000);
}

start();

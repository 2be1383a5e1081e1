/**
 * The task ids in a result's `children`, as Celery stores them: each child is a result tuple,
 * `[[task id, parent], null]` for a task, `[[group id, null], [child, …]]` for a group result —
 * the group's own id is not a task, its members are.
 */
export function childTaskIds(children: unknown): string[] {
  const ids: string[] = [];
  const visit = (node: unknown): void => {
    if (!Array.isArray(node)) return;
    const [head, members] = node as [unknown, unknown];
    if (Array.isArray(head) && typeof head[0] === "string") {
      if (Array.isArray(members)) for (const member of members) visit(member);
      else ids.push(head[0]);
      return;
    }
    for (const child of node) visit(child);
  };
  visit(children);
  return ids;
}

export { runConformance } from "./conformance.js";
export { runDemo } from "./demo.js";
export { brief, renderTable } from "./table.js";

// Checks one Mermaid diagram (stdin) with Mermaid's own parser, for the tests of `aetherflow graph`.
// Prints one JSON line and exits 0 when it parses:
//   {"ok": true, "type": ..., "nodes": {id: [label line, ...]}, "edges": [[from, to, stroke]],
//    "classes": {id: [class, ...]}, "classDefs": [name, ...], "subgraphs": {id: [node id, ...]}}
// label lines are what a reader sees: split at <br>, entity codes (#34; #quot;) decoded;
// else {"ok": false, "error": "..."} and exit 1. Mermaid expects a browser: jsdom provides one.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!DOCTYPE html><html><body></body></html>", { url: "http://localhost/" });
globalThis.window = dom.window;
// the DOM classes mermaid and DOMPurify use (Element, Node, HTMLElement ...) as globals, as in a browser
for (const name of Object.getOwnPropertyNames(dom.window)) {
  if (!(name in globalThis)) {
    try {
      Object.defineProperty(globalThis, name, { value: dom.window[name], configurable: true, writable: true });
    } catch {
      // a property jsdom refuses to read here (none that mermaid needs)
    }
  }
}

const { default: mermaid } = await import("mermaid");

const NAMED = { quot: '"', amp: "&", lt: "<", gt: ">", nbsp: "\u00a0", apos: "'" };

// mermaid keeps entity codes as placeholders until it renders: ﬂ°°NNN¶ß (numeric) and ﬂ°name¶ß (named)
function decode(text) {
  return text
    .replace(/ﬂ°°(\d+)¶ß/g, (_, code) => String.fromCodePoint(Number(code)))
    .replace(/ﬂ°(\w+)¶ß/g, (whole, name) => (name in NAMED ? NAMED[name] : whole));
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const text = Buffer.concat(chunks).toString("utf8");

mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
try {
  await mermaid.parse(text);
  const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
  const db = diagram.db;
  const out = { ok: true, type: diagram.type, nodes: {}, edges: [], classes: {}, classDefs: [], subgraphs: {} };
  const vertices = db.getVertices();
  const entries = vertices instanceof Map ? [...vertices.entries()] : Object.entries(vertices);
  for (const [id, vertex] of entries) {
    out.nodes[id] = vertex.text.split(/<br\s*\/?>/).map(decode);
    out.classes[id] = [...(vertex.classes || [])];
  }
  for (const edge of db.getEdges()) out.edges.push([edge.start, edge.end, edge.stroke]);
  const classes = db.getClasses();
  out.classDefs = classes instanceof Map ? [...classes.keys()] : Object.keys(classes);
  for (const sub of db.getSubGraphs()) out.subgraphs[sub.id] = [...sub.nodes];
  process.stdout.write(JSON.stringify(out) + "\n");
} catch (err) {
  process.stdout.write(JSON.stringify({ ok: false, error: String(err && err.message ? err.message : err) }) + "\n");
  process.exit(1);
}

/**
 * Structural checks every model the quantizer writes must pass (and every model it reads, before editing).
 */
import { GraphCheckError } from './errors';
import type { ModelProto } from './onnx-proto';
import { nodeLabel } from './graph-index';

/**
 * Lists the structural problems of a model: nodes out of topological order, inputs nobody defines, a tensor
 * produced twice, graph outputs nobody produces, nodes whose results nobody reads, and untyped graph I/O.
 * @param model - The model to check.
 * @returns Human-readable problems; empty when the graph is sound.
 */
export function graphProblems(model: ModelProto): string[] {
  const problems: string[] = [];
  const graph = model.graph ?? {};
  const defined = new Set<string>();
  for (const t of graph.initializer ?? []) {
    if (defined.has(t.name ?? '')) problems.push(`initializer '${t.name}' is defined twice`);
    defined.add(t.name ?? '');
  }
  for (const v of graph.input ?? []) {
    if (!v.type?.tensorType?.elemType) problems.push(`graph input '${v.name}' has no tensor element type`);
    defined.add(v.name);
  }
  const read = new Set<string>();
  for (const node of graph.node ?? []) for (const i of node.input ?? []) if (i) read.add(i);
  const outputs = new Set((graph.output ?? []).map((v) => v.name));
  (graph.node ?? []).forEach((node, k) => {
    const label = nodeLabel(node, k);
    for (const i of node.input ?? []) {
      if (i && !defined.has(i)) problems.push(`node ${label} reads '${i}' before it is defined (undefined or out of order)`);
    }
    for (const o of node.output ?? []) {
      if (!o) continue;
      if (defined.has(o)) problems.push(`node ${label} redefines '${o}'`);
      defined.add(o);
    }
    const outs = (node.output ?? []).filter((o) => o);
    if (outs.length > 0 && !outs.some((o) => read.has(o) || outputs.has(o))) {
      problems.push(`node ${label} is dangling: nothing reads ${outs.map((o) => `'${o}'`).join(', ')}`);
    }
  });
  for (const v of graph.output ?? []) {
    if (!defined.has(v.name)) problems.push(`graph output '${v.name}' is never produced`);
    if (!v.type?.tensorType?.elemType) problems.push(`graph output '${v.name}' has no tensor element type`);
  }
  return problems;
}

/**
 * Throws when {@link graphProblems} finds anything.
 * @param model - The model to check.
 * @param path - The file the model belongs to, for the message.
 * @throws {@link GraphCheckError} listing the problems.
 */
export function assertGraphSound(model: ModelProto, path: string): void {
  const problems = graphProblems(model);
  if (problems.length > 0) throw new GraphCheckError(path, problems);
}

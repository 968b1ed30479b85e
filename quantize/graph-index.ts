/**
 * Lookups over a graph (who produces and who consumes each tensor), unique naming and topological ordering,
 * shared by the fp16 and int8 rewriters.
 */
import type { GraphProto, NodeProto, TensorProto } from './onnx-proto';

/** Producer, consumers and initializers of every tensor name, built once per pass. */
export class GraphIndex {
  readonly producer = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly initializers = new Map<string, TensorProto>();
  readonly graphInputs: Set<string>;
  readonly graphOutputs: Set<string>;

  constructor(readonly graph: GraphProto) {
    for (const t of graph.initializer ?? []) this.initializers.set(t.name ?? '', t);
    this.graphInputs = new Set((graph.input ?? []).map((v) => v.name).filter((n) => !this.initializers.has(n)));
    this.graphOutputs = new Set((graph.output ?? []).map((v) => v.name));
    for (const node of graph.node ?? []) {
      for (const out of node.output ?? []) if (out) this.producer.set(out, node);
      for (const inp of node.input ?? []) {
        if (!inp) continue;
        const list = this.consumers.get(inp) ?? [];
        if (!list.includes(node)) list.push(node);
        this.consumers.set(inp, list);
      }
    }
  }

  /** Consumers of a tensor (empty when none). */
  consumersOf(name: string): NodeProto[] {
    return this.consumers.get(name) ?? [];
  }
}

/** Hands out tensor and node names that do not collide with any existing one. */
export class NameAllocator {
  private readonly used = new Set<string>();

  constructor(graph: GraphProto) {
    for (const t of graph.initializer ?? []) this.used.add(t.name ?? '');
    for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) this.used.add(v.name);
    for (const n of graph.node ?? []) {
      if (n.name) this.used.add(n.name);
      for (const o of n.output ?? []) this.used.add(o);
      for (const i of n.input ?? []) this.used.add(i);
    }
  }

  /** A fresh name starting with `base`. */
  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }
}

/**
 * The scope of the network's own steps in an exported student: `spectra-distill export` wraps the network as
 * `model`, so what `FusionNet.forward` computes itself (radiometry, resampling, the HPM prior, the back-projections
 * onto the measurements) is named `/model/<op>`, and its learnt modules `/model/body/...`, `/model/fusion/...`,
 * `/model/head/...`. Those steps set the output's precision and stay float in fp16 and int8 alike: in half they
 * round the cube at about 66 dB (0.07 dB on the CAVE student's best-scoring validation dataset), and int8 on them
 * cost the 206-band student 0.32 dB on MUUFL where int8 on the learnt modules alone costs 0.004 dB on the mean
 * (results/quantize.md).
 */
export const NETWORK_SCOPE = '/model';

/** The scope a node name sits in: `/model/body/Conv_3` -> `/model/body`; `undefined` for a name without one. */
export function scopeOf(name: string | undefined): string | undefined {
  const cut = name ? name.lastIndexOf('/') : -1;
  return cut >= 0 ? (name as string).slice(0, cut) : undefined;
}

/** Whether a node name sits directly in one of `scopes` (not in a scope nested below one). */
export function inScopes(name: string | undefined, scopes: readonly string[]): boolean {
  const scope = scopeOf(name);
  return scope !== undefined && scopes.includes(scope);
}

/** A short stable label for a node in messages and rankings. */
export function nodeLabel(node: NodeProto, index: number): string {
  return node.name ? node.name : `${node.opType}#${index}`;
}

/**
 * Orders nodes so every node comes after the producers of its inputs (Kahn's algorithm, keeping the original
 * order among ready nodes so diffs stay readable).
 * @returns The sorted nodes, or `undefined` when the graph has a cycle or an input nobody defines.
 */
export function topologicalOrder(graph: GraphProto): NodeProto[] | undefined {
  const nodes = graph.node ?? [];
  const available = new Set<string>(['']);
  for (const t of graph.initializer ?? []) available.add(t.name ?? '');
  for (const v of graph.input ?? []) available.add(v.name);
  const pending = new Map<NodeProto, number>();
  const waiting = new Map<string, NodeProto[]>();
  const ready: NodeProto[] = [];
  for (const node of nodes) {
    const missing = new Set((node.input ?? []).filter((i) => !available.has(i)));
    pending.set(node, missing.size);
    for (const m of missing) waiting.set(m, [...(waiting.get(m) ?? []), node]);
    if (missing.size === 0) ready.push(node);
  }
  const position = new Map(nodes.map((n, i) => [n, i]));
  const order: NodeProto[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => (position.get(a) ?? 0) - (position.get(b) ?? 0));
    const node = ready.shift() as NodeProto;
    order.push(node);
    for (const out of node.output ?? []) {
      if (!out || available.has(out)) continue;
      available.add(out);
      for (const w of waiting.get(out) ?? []) {
        const left = (pending.get(w) ?? 0) - 1;
        pending.set(w, left);
        if (left === 0) ready.push(w);
      }
    }
  }
  return order.length === nodes.length ? order : undefined;
}

/**
 * Removes `Identity` nodes that merely alias an initializer (PyTorch emits them for shared parameters) by pointing
 * their readers at the initializer, so weights behind them can be quantized like any other.
 * @returns How many nodes were removed.
 */
export function foldInitializerIdentities(graph: GraphProto): number {
  const inits = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const outputs = new Set((graph.output ?? []).map((v) => v.name));
  const alias = new Map<string, string>();
  const kept: NodeProto[] = [];
  for (const node of graph.node ?? []) {
    const src = node.input?.[0] ?? '';
    const dst = node.output?.[0] ?? '';
    if (node.opType === 'Identity' && (!node.domain || node.domain === 'ai.onnx') && inits.has(src) && !outputs.has(dst)) alias.set(dst, src);
    else kept.push(node);
  }
  for (const node of kept) node.input = (node.input ?? []).map((i) => alias.get(i) ?? i);
  graph.node = kept;
  return alias.size;
}

// The optimiser base: parameter groups with per-group hyperparameters, per-parameter state
// tensors, and a state dict that checkpoints save and exact resume restores.
import { keep } from '../scope.js';
import { Tensor } from '../tensor.js';
import { expectArgs } from '../guard.js';

/** Hyperparameters every group carries; subclasses add their own. */
export interface GroupOptions {
  lr: number;
  weightDecay: number;
}

export interface ParamGroup<O extends GroupOptions = GroupOptions> {
  params: Tensor[];
  options: O;
  /** The learning rate a scheduler scales; `options.lr` is the current one. */
  baseLr: number;
}

/** Parameters, or groups of parameters with their own options (torch's param groups). */
export type ParamsInput<O extends GroupOptions> = Iterable<Tensor> | ({ params: Iterable<Tensor> } & Partial<O>)[];

/** What an optimiser saves: its step count, each group's options, and per-parameter state tensors. */
export interface OptimizerState {
  step: number;
  /** Each group's options (JSON-serialisable) plus its `baseLr`. */
  groups: Record<string, unknown>[];
  /** `state.<paramIndex>.<name>` → tensor, with params numbered across groups in order. */
  tensors: Map<string, Tensor>;
}

export abstract class Optimizer<O extends GroupOptions = GroupOptions> {
  readonly paramGroups: ParamGroup<O>[];
  /** Number of step() calls so far. */
  stepCount = 0;
  protected readonly state = new Map<Tensor, Map<string, Tensor>>();

  protected constructor(
    /** The name used in error messages. */
    readonly name: string,
    params: ParamsInput<O>,
    defaults: O,
  ) {
    expectArgs('new Optimizer', { name }, 'string');
    expectArgs('new Optimizer', { params }, 'iterable');
    expectArgs('new Optimizer', { defaults }, 'object');
    const specs = isGroupList<O>(params) ? params : [{ params } as { params: Iterable<Tensor> } & Partial<O>];
    const seen = new Set<Tensor>();
    this.paramGroups = specs.map((spec, index) => {
      const list = [...spec.params];
      for (const p of list) {
        if (!(p instanceof Tensor))
          throw new Error(`${this.name}: group ${index} holds something that is not a Tensor`);
        if (seen.has(p)) throw new Error(`${this.name}: a parameter ${p.toString()} appears in more than one group`);
        if (p.dtype === 'i32')
          throw new Error(`${this.name}: ${p.toString()} is an integer tensor and cannot be optimised`);
        seen.add(p);
      }
      const options = { ...defaults, ...stripParams(spec) } as O;
      this.validate(options, index);
      return { params: list, options, baseLr: options.lr };
    });
    if (seen.size === 0) throw new Error(`${this.name}: got no parameters to optimise`);
  }

  /** Updates every parameter that has a gradient. */
  abstract step(): void;
  protected abstract validate(options: O, groupIndex: number): void;

  /** Every parameter, in group order. */
  get params(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** Clears (disposes) every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /** Sets every group's learning rate to `factor` times its base rate (what schedulers call). */
  scaleLearningRate(factor: number): void {
    for (const group of this.paramGroups) group.options.lr = group.baseLr * factor;
  }

  /** Copies of the state tensors (the caller owns them) plus the step count and group options. */
  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.params.forEach((p, index) => {
      for (const [name, t] of this.state.get(p) ?? []) tensors.set(`state.${index}.${name}`, t.clone());
    });
    const groups = this.paramGroups.map(
      (g) => encodeNonFinite({ ...g.options, baseLr: g.baseLr }) as Record<string, unknown>,
    );
    return { step: this.stepCount, groups, tensors };
  }

  /** Restores a stateDict() of an optimiser over parameters of the same shapes, in the same order. */
  loadStateDict(saved: OptimizerState): void {
    if (saved.groups.length !== this.paramGroups.length)
      throw new Error(
        `${this.name}.loadStateDict: the saved state has ${saved.groups.length} parameter groups, this optimiser has ${this.paramGroups.length}`,
      );
    // Each saved group's options must be this optimiser's, of the same kinds (a damaged file
    // would otherwise set lr to a string or add unknown options).
    saved.groups.forEach((g, index) => {
      const current = this.paramGroups[index]!.options as Record<string, unknown>;
      const decoded = decodeNonFinite(g) as Record<string, unknown>;
      if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded))
        throw new Error(`${this.name}.loadStateDict: groups[${index}] must be an object`);
      if (typeof decoded.baseLr !== 'number')
        throw new Error(
          `${this.name}.loadStateDict: groups[${index}].baseLr must be a number, got ${JSON.stringify(decoded.baseLr)}`,
        );
      for (const [key, value] of Object.entries(decoded)) {
        if (key === 'baseLr') continue;
        if (!(key in current))
          throw new Error(`${this.name}.loadStateDict: groups[${index}] has an unknown option '${key}'`);
        const expected = current[key];
        const same = Array.isArray(expected)
          ? Array.isArray(value) && value.length === expected.length && value.every((v) => typeof v === 'number')
          : typeof value === typeof expected;
        if (!same)
          throw new Error(
            `${this.name}.loadStateDict: groups[${index}].${key} must be ${Array.isArray(expected) ? `an array of ${expected.length} numbers` : `a ${typeof expected}`}, got ${JSON.stringify(value)}`,
          );
      }
    });
    const params = this.params;
    const restored = new Map<Tensor, Map<string, Tensor>>();
    for (const [key, t] of saved.tensors) {
      const match = /^state\.(\d+)\.(\w+)$/.exec(key);
      const param = match ? params[Number(match[1])] : undefined;
      if (!match || !param) throw new Error(`${this.name}.loadStateDict: unexpected state entry '${key}'`);
      if (t.size !== param.size)
        throw new Error(
          `${this.name}.loadStateDict: '${key}' has ${t.size} elements but parameter ${match[1]} has ${param.size} (${param.toString()})`,
        );
      const slot = restored.get(param) ?? new Map<string, Tensor>();
      slot.set(match[2]!, keep(t.to(param.device)));
      restored.set(param, slot);
    }
    for (const slot of this.state.values()) for (const t of slot.values()) t.dispose();
    this.state.clear();
    for (const [p, slot] of restored) this.state.set(p, slot);
    this.paramGroups.forEach((group, index) => {
      const { baseLr, ...options } = decodeNonFinite(saved.groups[index]!) as Record<string, unknown>;
      Object.assign(group.options, options);
      group.baseLr = Number(baseLr);
    });
    this.stepCount = saved.step;
  }

  /** Frees the state tensors. */
  dispose(): void {
    for (const slot of this.state.values()) for (const t of slot.values()) t.dispose();
    this.state.clear();
  }
}

function isGroupList<O>(value: unknown): value is ({ params: Iterable<Tensor> } & Partial<O>)[] {
  return Array.isArray(value) && value.length > 0 && !(value[0] instanceof Tensor);
}

function stripParams<T extends { params: unknown }>(spec: T): Omit<T, 'params'> {
  const { params: _params, ...rest } = spec;
  return rest;
}

// Group options go through JSON in checkpoints, where Infinity (no clipping) would become null.
const NON_FINITE = new Map<string, number>([
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['NaN', NaN],
]);

function encodeNonFinite(value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (Array.isArray(value)) return value.map(encodeNonFinite);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encodeNonFinite(v)]));
  return value;
}

function decodeNonFinite(value: unknown): unknown {
  if (typeof value === 'string' && NON_FINITE.has(value)) return NON_FINITE.get(value);
  if (Array.isArray(value)) return value.map(decodeNonFinite);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decodeNonFinite(v)]));
  return value;
}

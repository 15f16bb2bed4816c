// The PyTorch-like Module: parameters, buffers and submodules registered by name, so that
// parameters(), train()/eval(), freezing, to(device) and state dicts work for any model built
// from them. Registered tensors are exposed as instance properties through accessors, so that
// to() and loadStateDict() can replace them while `this.weight` keeps working.
import { noGrad } from '../autograd.js';
import { native } from '../binding.js';
import { keep } from '../scope.js';
import { Tensor } from '../tensor.js';

export interface LoadResult {
  /** Names the module has but the state dict lacked (only with strict: false). */
  missing: string[];
  /** Names in the state dict the module does not have (only with strict: false). */
  unexpected: string[];
}

export class Module {
  /** Dropout and similar layers behave differently in training; see train()/eval(). */
  training = true;
  readonly #parameters = new Map<string, Tensor | null>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #modules = new Map<string, Module>();

  /** Registers a trainable tensor (it gets requiresGrad) under `name`, readable as this[name]. */
  protected registerParameter(name: string, value: Tensor | null): Tensor | null {
    this.#claim(name, this.#parameters);
    if (value) {
      if (value.dtype === 'i32')
        throw new Error(`${this.constructor.name}: parameter '${name}' cannot be an i32 tensor`);
      keep(value).requiresGrad_(true);
    }
    this.#parameters.set(name, value);
    return value;
  }

  /** Registers a tensor that belongs to the state but is not trained (running statistics, tables). */
  protected registerBuffer(name: string, value: Tensor): Tensor {
    this.#claim(name, this.#buffers);
    this.#buffers.set(name, keep(value));
    return value;
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    if (!(module instanceof Module)) throw new Error(`${this.constructor.name}: '${name}' is not a Module`);
    this.#claim(name, this.#modules);
    this.#modules.set(name, module);
    return module;
  }

  /** Swaps the registered submodule `name` for `module` (e.g. a table that grew) and disposes the old one. */
  protected replaceModule<M extends Module>(name: string, module: M): M {
    const old = this.#modules.get(name);
    if (!old) throw new Error(`${this.constructor.name}: no submodule '${name}' to replace`);
    if (!(module instanceof Module)) throw new Error(`${this.constructor.name}: '${name}' is not a Module`);
    this.#modules.set(name, module);
    if (old !== module) old.dispose();
    return module;
  }

  #claim(name: string, into: Map<string, unknown>): void {
    if (!/^[A-Za-z_][\w]*$/.test(name))
      throw new Error(`${this.constructor.name}: '${name}' is not a valid member name`);
    if (this.#parameters.has(name) || this.#buffers.has(name) || this.#modules.has(name))
      throw new Error(`${this.constructor.name}: '${name}' is already registered`);
    Object.defineProperty(this, name, {
      configurable: true,
      enumerable: true,
      get: () => into.get(name),
      set: (value: unknown) => {
        throw new Error(
          `${this.constructor.name}: assign '${name}' through loadStateDict() or to(), not directly (${String(value)})`,
        );
      },
    });
  }

  /** Direct submodules, by name. */
  namedChildren(): [string, Module][] {
    return [...this.#modules.entries()];
  }

  /** This module and every descendant, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.#modules) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** Every parameter with its dotted name; a tensor shared by two modules is listed once (first name). */
  namedParameters(): [string, Tensor][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    for (const [prefix, module] of this.namedModules())
      for (const [name, p] of module.#parameters) {
        if (!p || seen.has(p)) continue;
        seen.add(p);
        out.push([prefix ? `${prefix}.${name}` : name, p]);
      }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** The parameters that currently train (requiresGrad). */
  trainableParameters(): Tensor[] {
    return this.parameters().filter((p) => p.requiresGrad);
  }

  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, module] of this.namedModules())
      for (const [name, b] of module.#buffers) out.push([prefix ? `${prefix}.${name}` : name, b]);
    return out;
  }

  /** Total number of parameter elements. */
  numParameters(trainableOnly = false): number {
    return (trainableOnly ? this.trainableParameters() : this.parameters()).reduce((n, p) => n + p.size, 0);
  }

  /** Sets training mode on this module and every descendant. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Stops (or resumes) gradients for every parameter: frozen weights still pass gradients to inputs. */
  freeze(frozen = true): this {
    for (const p of this.parameters()) p.requiresGrad = !frozen;
    return this;
  }

  unfreeze(): this {
    return this.freeze(false);
  }

  /** Clears every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /**
   * Parameters and buffers by dotted name, as new handles on the same storage (free to make; the
   * caller may dispose them without affecting the module).
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, t] of [...this.namedParameters(), ...this.namedBuffers()]) out.set(name, t.share());
    return out;
  }

  /**
   * Copies tensors of the same shapes from `state` into the parameters and buffers, in place
   * (converted to this module's device and dtype), so optimisers over them stay valid.
   * Everything is checked before anything changes. With strict (the default) a missing or
   * unexpected name is an error.
   */
  loadStateDict(state: Map<string, Tensor> | Record<string, Tensor>, { strict = true } = {}): LoadResult {
    const entries = state instanceof Map ? state : new Map(Object.entries(state));
    const slots = this.#slots();
    const missing = [...slots.keys()].filter((name) => !entries.has(name));
    const unexpected = [...entries.keys()].filter((name) => !slots.has(name));
    if (strict && (missing.length > 0 || unexpected.length > 0))
      throw new Error(
        `${this.constructor.name}.loadStateDict: ` +
          [
            missing.length ? `missing ${missing.join(', ')}` : '',
            unexpected.length ? `unexpected ${unexpected.join(', ')}` : '',
          ]
            .filter(Boolean)
            .join('; '),
      );
    for (const [name, t] of entries) {
      const slot = slots.get(name);
      if (!slot) continue;
      const current = slot.get();
      if (!(t instanceof Tensor)) throw new Error(`${this.constructor.name}.loadStateDict: '${name}' is not a Tensor`);
      if (t.shape.length !== current.shape.length || t.shape.some((d, i) => d !== current.shape[i]))
        throw new Error(
          `${this.constructor.name}.loadStateDict: '${name}' has shape [${t.shape.join(', ')}] but the module expects [${current.shape.join(', ')}]`,
        );
      if ((t.dtype === 'i32') !== (current.dtype === 'i32'))
        throw new Error(
          `${this.constructor.name}.loadStateDict: '${name}' is ${t.dtype} but the module holds ${current.dtype}`,
        );
    }
    noGrad(() => {
      for (const [name, t] of entries) {
        const slot = slots.get(name);
        if (!slot) continue;
        const current = slot.get();
        const moved = t.device === current.device ? t : t.to(current.device);
        const converted = moved.dtype === current.dtype ? moved : moved.cast(current.dtype);
        // In place, so the tensor objects stay the same: optimisers built on them keep working.
        native.unary('affine', converted.native, 1, 0, current.native);
        if (converted !== moved) converted.dispose();
        if (moved !== t) moved.dispose();
      }
    });
    return { missing, unexpected };
  }

  /** Moves (or casts) every parameter and buffer; gradients and optimiser state do not follow, so build optimisers after. */
  to(device: string, dtype?: 'f32' | 'bf16'): this {
    noGrad(() => {
      for (const slot of this.#slots().values()) {
        const current = slot.get();
        let next = current.device === device ? current : current.to(device);
        if (dtype && next.dtype !== 'i32' && next.dtype !== dtype) {
          const cast = next.cast(dtype);
          if (next !== current) next.dispose();
          next = cast;
        }
        if (next !== current) slot.set(next);
      }
    });
    return this;
  }

  /** Disposes every parameter and buffer (and their gradients). */
  dispose(): void {
    for (const [, module] of this.namedModules()) {
      for (const p of module.#parameters.values()) {
        p?.zeroGrad();
        p?.dispose();
      }
      for (const b of module.#buffers.values()) b.dispose();
    }
  }

  /** Every parameter and buffer slot by dotted name, with a setter that keeps the parameter's flags. */
  #slots(): Map<string, { get: () => Tensor; set: (t: Tensor) => void }> {
    const slots = new Map<string, { get: () => Tensor; set: (t: Tensor) => void }>();
    const seen = new Set<Tensor>();
    for (const [prefix, module] of this.namedModules()) {
      const full = (name: string): string => (prefix ? `${prefix}.${name}` : name);
      for (const [name, p] of module.#parameters) {
        if (!p || seen.has(p)) continue;
        seen.add(p);
        slots.set(full(name), {
          get: () => module.#parameters.get(name)!,
          set: (t) => {
            const old = module.#parameters.get(name)!;
            keep(t).requiresGrad = old.requiresGrad;
            old.zeroGrad();
            old.dispose();
            // A tied parameter (the same tensor under two names) follows the replacement.
            for (const [, other] of this.namedModules())
              for (const [otherName, q] of other.#parameters) if (q === old) other.#parameters.set(otherName, t);
          },
        });
      }
      for (const [name] of module.#buffers)
        slots.set(full(name), {
          get: () => module.#buffers.get(name)!,
          set: (t) => {
            module.#buffers.get(name)!.dispose();
            module.#buffers.set(name, keep(t));
          },
        });
    }
    return slots;
  }
}

// Test helper for the CPU backends: the kernel interface with Float32Array arguments, each the live view of a tensor
// the wrapped backend allocated, so CPU-only tests can fill inputs and compare outputs element by element in place.
// Every call goes through the real KernelBackend (handles, ownership checks); an array that is not such a view is
// passed as it is, so the backend's own refusal (BAD_ARGUMENT) is what a test sees.

import type { KernelBackend, MatmulTarget, Tensor } from '../../src/kernels/backend.js';

interface ViewTarget {
  readonly out: Float32Array;
  readonly w: MatmulTarget['w'];
  readonly scale?: number;
}

type ViewArg<A> = A extends Tensor ? Float32Array : A extends readonly MatmulTarget[] ? readonly ViewTarget[] : A;
type ViewArgs<A extends unknown[]> = { [K in keyof A]: ViewArg<A[K]> };
type ViewFn<F> = F extends (...args: infer A) => infer R ? (...args: ViewArgs<A>) => R : F;

type Ops = 'embed' | 'rmsnorm' | 'matmul' | 'matmulMany' | 'rope' | 'kvWrite' | 'attention' | 'addInPlace' | 'reluSqrMul' | 'siluMul' | 'gatherRows';

export type ViewBackend = Omit<KernelBackend, Ops> & { [K in Ops]: ViewFn<KernelBackend[K]> } & {
  /** alloc(n) and its live view. */
  allocF32(n: number): Float32Array;
  /** The tensor behind a view from allocF32. */
  tensorOf(view: Float32Array): Tensor;
  readonly inner: KernelBackend;
};

const OPS: ReadonlySet<string> = new Set<Ops>(['embed', 'rmsnorm', 'matmul', 'matmulMany', 'rope', 'kvWrite', 'attention', 'addInPlace', 'reluSqrMul', 'siluMul', 'gatherRows']);

/** Wrap a backend that has `view` (the reference and wasm backends). */
export function hostViews(be: KernelBackend): ViewBackend {
  const view = be.view;
  if (view === undefined) throw new Error(`backend ${be.name} has no live view`);
  const tensors = new WeakMap<Float32Array, Tensor>();
  const map = (a: unknown): unknown => {
    if (a instanceof Float32Array) return tensors.get(a) ?? a;
    if (Array.isArray(a)) {
      return a.map((t: unknown) => {
        if (typeof t === 'object' && t !== null && 'out' in t) {
          const out = (t as { out: unknown }).out;
          return { ...t, out: out instanceof Float32Array ? (tensors.get(out) ?? out) : out };
        }
        return t;
      });
    }
    return a;
  };
  const extra = {
    allocF32(n: number): Float32Array {
      const t = be.alloc(n);
      const v = view(t);
      tensors.set(v, t);
      return v;
    },
    tensorOf(v: Float32Array): Tensor {
      const t = tensors.get(v);
      if (t === undefined) throw new Error('not a view from allocF32');
      return t;
    },
    inner: be,
  };
  return new Proxy(be, {
    get(target, prop, receiver): unknown {
      if (typeof prop === 'string' && prop in extra) return extra[prop as keyof typeof extra];
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop === 'string' && OPS.has(prop) && typeof value === 'function') {
        return (...args: unknown[]): unknown => (value as (...a: unknown[]) => unknown).apply(target, args.map(map));
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as unknown as ViewBackend;
}

// Rotary position embedding in place. cs holds, per token, headDim/2 (cos, sin) f64 pairs for that token's
// position, computed by the glue (JS Math.cos / Math.sin: wasm has no trig, and table-based code would
// need data segments). NEOX style rotates (i, i + headDim/2); normal style rotates (2i, 2i + 1).

export function rope(x: usize, nTokens: u32, nHeads: u32, headDim: u32, cs: usize, neox: u32): void {
  const half = <usize>headDim >> 1;
  for (let t: usize = 0; t < nTokens; t++) {
    const cst = cs + ((t * half) << 4);
    for (let h: usize = 0; h < nHeads; h++) {
      const base = x + (((t * nHeads + h) * headDim) << 2);
      for (let i: usize = 0; i < half; i++) {
        const c = load<f64>(cst + (i << 4));
        const s = load<f64>(cst + (i << 4), 8);
        const p0 = base + ((neox != 0 ? i : 2 * i) << 2);
        const p1 = base + ((neox != 0 ? i + half : 2 * i + 1) << 2);
        const x0 = <f64>load<f32>(p0);
        const x1 = <f64>load<f32>(p1);
        store<f32>(p0, <f32>(x0 * c - x1 * s));
        store<f32>(p1, <f32>(x0 * s + x1 * c));
      }
    }
  }
}

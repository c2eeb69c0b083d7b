// A binary min-heap of merge candidates keyed by (priority, position): the work queue of BPE and SentencePiece merging.

/**
 * Candidates are (priority, left, right) triples; the smallest priority pops first, ties go to the smaller `left`
 * position (llama.cpp src/llama-vocab.cpp `llm_bigram_bpe::comparator` / `llm_bigram_spm::comparator`: equal ranks
 * merge left to right). Stored in parallel arrays to avoid one object per candidate.
 */
export class PairHeap {
  private priorities: number[] = [];
  private lefts: number[] = [];
  private rights: number[] = [];

  get size(): number {
    return this.priorities.length;
  }

  clear(): void {
    this.priorities.length = 0;
    this.lefts.length = 0;
    this.rights.length = 0;
  }

  push(priority: number, left: number, right: number): void {
    this.priorities.push(priority);
    this.lefts.push(left);
    this.rights.push(right);
    this.siftUp(this.priorities.length - 1);
  }

  /** Removes the top candidate and writes it to `into` ([priority, left, right]); false when empty. */
  pop(into: [number, number, number]): boolean {
    const n = this.priorities.length;
    if (n === 0) return false;
    into[0] = this.priorities[0] ?? 0;
    into[1] = this.lefts[0] ?? 0;
    into[2] = this.rights[0] ?? 0;
    const lastPriority = this.priorities.pop() ?? 0;
    const lastLeft = this.lefts.pop() ?? 0;
    const lastRight = this.rights.pop() ?? 0;
    if (n > 1) {
      this.priorities[0] = lastPriority;
      this.lefts[0] = lastLeft;
      this.rights[0] = lastRight;
      this.siftDown(0);
    }
    return true;
  }

  private less(i: number, j: number): boolean {
    const pi = this.priorities[i] ?? 0;
    const pj = this.priorities[j] ?? 0;
    return pi < pj || (pi === pj && (this.lefts[i] ?? 0) < (this.lefts[j] ?? 0));
  }

  private swap(i: number, j: number): void {
    const p = this.priorities;
    const l = this.lefts;
    const r = this.rights;
    [p[i], p[j]] = [p[j] ?? 0, p[i] ?? 0];
    [l[i], l[j]] = [l[j] ?? 0, l[i] ?? 0];
    [r[i], r[j]] = [r[j] ?? 0, r[i] ?? 0];
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.priorities.length;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < n && this.less(left, smallest)) smallest = left;
      if (right < n && this.less(right, smallest)) smallest = right;
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }
}

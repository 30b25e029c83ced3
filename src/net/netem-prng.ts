/**
 * The kernel's pseudo-random numbers for netem, bit for bit.
 *
 * - `Prandom`: `prandom_u32_state` (lib/random32.c, L'Ecuyer's LFSR113, four Tausworthe
 *   generators) seeded by `prandom_seed_state` (include/linux/prandom.h): the generator
 *   `tc qdisc ... netem seed N` (TCA_NETEM_PRNG_SEED) drives loss, duplicate, reorder and
 *   delay with.
 * - `crandom`: `get_crandom` (sch_netem.c), the "correlated" draw,
 *   `next = (U * (2^32 - rho') + last * rho') >> 32` with rho' = rho + 1: a weighted average
 *   with the previous value (it narrows the marginal distribution, as tc-netem(8) warns).
 *   The 64-bit products are computed exactly with 16-bit limbs (no BigInt on the hot path).
 */

/** sch_netem: struct crndstate. */
export interface CrndState {
  last: number;
  rho: number;
}

const TWO32 = 4294967296;

export class Prandom {
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private s4 = 0;

  constructor(seed: bigint) {
    this.seed(seed);
  }

  /** prandom_seed_state: i = (seed >> 32) ^ (seed << 10) ^ seed, truncated to 32 bits. */
  seed(seed: bigint): void {
    const s = BigInt.asUintN(64, seed);
    const i = Number(BigInt.asUintN(32, (s >> 32n) ^ (s << 10n) ^ s));
    this.s1 = i < 2 ? i + 2 : i;
    this.s2 = i < 8 ? i + 8 : i;
    this.s3 = i < 16 ? i + 16 : i;
    this.s4 = i < 128 ? i + 128 : i;
  }

  /** Sets the four components directly (tests: the kernel's self-test vectors seed with prandom_seed_early). */
  setState(s1: number, s2: number, s3: number, s4: number): void {
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
    this.s4 = s4 >>> 0;
  }

  /** prandom_u32_state. TAUSWORTHE(s, a, b, c, d) = ((s & c) << d) ^ (((s << a) ^ s) >> b). */
  u32(): number {
    let s = this.s1;
    this.s1 = (((s & 4294967294) << 18) ^ (((s << 6) ^ s) >>> 13)) >>> 0;
    s = this.s2;
    this.s2 = (((s & 4294967288) << 2) ^ (((s << 2) ^ s) >>> 27)) >>> 0;
    s = this.s3;
    this.s3 = (((s & 4294967280) << 7) ^ (((s << 13) ^ s) >>> 21)) >>> 0;
    s = this.s4;
    this.s4 = (((s & 4294967168) << 13) ^ (((s << 3) ^ s) >>> 12)) >>> 0;
    return (this.s1 ^ this.s2 ^ this.s3 ^ this.s4) >>> 0;
  }
}

let mulHi = 0;
let mulLo = 0;

/** a * b for u32 a, b < 2^32 as (mulHi, mulLo), exactly. */
function mul32(a: number, b: number): void {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const mid = al * bh + ah * bl; // < 2^33
  let lo = al * bl + (mid % 65536) * 65536; // < 2^33
  const carry = Math.floor(lo / TWO32);
  lo -= carry * TWO32;
  mulHi = ah * bh + Math.floor(mid / 65536) + carry;
  mulLo = lo;
}

/** sch_netem: get_crandom. */
export function crandom(state: CrndState, p: Prandom): number {
  const value = p.u32();
  if (state.rho === 0) return value;
  const rho = state.rho + 1; // u64: up to 2^32
  let answer: number;
  if (rho === TWO32) answer = state.last;
  else {
    mul32(value, TWO32 - rho);
    const h1 = mulHi;
    const l1 = mulLo;
    mul32(state.last, rho);
    const lo = l1 + mulLo;
    answer = (h1 + mulHi + (lo >= TWO32 ? 1 : 0)) >>> 0;
  }
  state.last = answer;
  return answer;
}

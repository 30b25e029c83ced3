/**
 * The retransmission timeout of the emulated TCP, with Linux's figures (include/net/tcp.h:
 * TCP_TIMEOUT_INIT 1*HZ, TCP_TIMEOUT_FALLBACK 3*HZ, TCP_RTO_MIN HZ/5, TCP_RTO_MAX 120*HZ,
 * TCP_SYN_RETRIES 6, TCP_SYNACK_RETRIES 5, TCP_RETR2 15) and RFC 6298's estimator: the first
 * sample R sets SRTT = R, RTTVAR = R/2; later ones RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|,
 * SRTT = 7/8 SRTT + 1/8 R. The RTO is Linux's `__tcp_set_rto`: SRTT + max(4 RTTVAR,
 * TCP_RTO_MIN) (the kernel keeps `rttvar_us` at least tcp_rto_min), at most TCP_RTO_MAX.
 * An expiry doubles the RTO (`icsk_rto << 1`, capped); an ACK of new data recomputes it.
 *
 * The retry limits are counts of expiries, as tcp_write_timeout's boundary: a SYN expires
 * after 1, 2, 4, 8, 16, 32 and 64 s, so it goes out at 0, 1, 3, 7, 15, 31, 63 s and the
 * connect fails at 127 s; data starting from a 200 ms RTO gives up after 0.2 * (2^10 - 1)
 * + 6 * 120 = 924.6 s, what the kernel's time-based check (tcp_model_timeout) computes.
 * Plain numbers in milliseconds, no packets: unit-tested in tcp-retx.test.ts.
 */

/** RFC 6298 2.1 initial RTO (Linux TCP_TIMEOUT_INIT). */
export const TCP_TIMEOUT_INIT = 1000;
/** RTO for the first data when the handshake gave no RTT sample (SYN or SYN-ACK retransmitted). */
export const TCP_TIMEOUT_FALLBACK = 3000;
export const TCP_RTO_MIN = 200;
export const TCP_RTO_MAX = 120_000;
/** net.ipv4.tcp_syn_retries default. */
export const TCP_SYN_RETRIES = 6;
/** net.ipv4.tcp_synack_retries default. */
export const TCP_SYNACK_RETRIES = 5;
/** net.ipv4.tcp_retries2 default. */
export const TCP_RETRIES2 = 15;

export class RtoEstimator {
  /** -1 until the first sample. */
  srtt = -1;
  rttvar = 0;
  /** The current timeout, backoff included. */
  rto = TCP_TIMEOUT_INIT;
  private backedOff = false;

  sample(r: number): void {
    if (this.srtt < 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = this.base();
  }

  /** An expiry: the RTO doubles, at most TCP_RTO_MAX. */
  backoff(): void {
    this.backedOff = true;
    this.rto = Math.min(this.rto * 2, TCP_RTO_MAX);
  }

  /** An ACK of new data: the RTO is computed from SRTT again (the fallback when there is none and we backed off). */
  resetBackoff(): void {
    if (this.srtt >= 0) this.rto = this.base();
    else if (this.backedOff) this.rto = TCP_TIMEOUT_FALLBACK;
    this.backedOff = false;
  }

  private base(): number {
    return Math.min(this.srtt + Math.max(4 * this.rttvar, TCP_RTO_MIN), TCP_RTO_MAX);
  }
}

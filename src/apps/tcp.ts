/**
 * The small TCP endpoint of emulated pods, on raw segments over `IpHost`:
 * `TcpListener.listen(host, port, onConnection)` for servers, `TcpConnection.connect(host,
 * dst, dport, opts)` for clients. The pieces: tcp-conn.ts (the connection state machine),
 * tcp-listener.ts (LISTEN, RST for unknown connections), tcp-events.ts (callbacks and
 * promises at the API edge), tcp-seg.ts (building segments, sequence arithmetic).
 */
export { TcpConnection, type TcpConnectOptions, type TcpOptions, type TcpState, type TcpStats } from './tcp-conn.js';
export { TcpListener, TCP_LISTENER_COUNTERS, type TcpListenOptions } from './tcp-listener.js';
export { TcpError, type TcpErrorCode } from './tcp-events.js';
export { DEFAULT_MSS, TCP_WINDOW } from './tcp-seg.js';

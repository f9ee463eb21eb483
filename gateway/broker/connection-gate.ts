import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BoundedMap } from '../core/bounded-map.js';
import type { ConnectionGuard } from './broker.js';
import { FrameScanner } from './limits.js';
import type { RefusalReporter } from './refusals.js';

export interface ConnectionGateOptions {
  readonly report: RefusalReporter;
  readonly maxPacketBytes: number;
  /** Connections not yet authenticated, in all and per address (0 = no limit). */
  readonly maxPendingConnections: number;
  readonly maxPendingPerAddress: number;
  /** A WebSocket listener's socket must have sent its CONNECT this long after it opened, ms (0 = no deadline). */
  readonly connectTimeoutMs?: number;
}

/**
 * The connections before and after MQTT: caps on those not yet authenticated (checked before a
 * byte of MQTT is parsed), the packet size read off the wire, and which are authenticated
 * (MAX_CONNECTIONS counts those). Access decides who; this counts sockets. A WebSocket
 * listener's socket is admitted before its HTTP upgrade and counted as itself: the stream
 * Aedes gets after the upgrade is mapped back to it (`watch`), and the CONNECT deadline, which
 * Aedes would only start at the upgrade, is kept here from the socket's first moment.
 */
export class ConnectionGate implements ConnectionGuard {
  private readonly open = new Set<Duplex>();
  private readonly pending = new Set<Duplex>();
  private readonly pendingByAddress: BoundedMap<string, number>;
  private readonly authenticatedConns = new Set<Duplex>();
  private readonly addresses = new WeakMap<Duplex, string>();
  /** A WebSocket stream's socket (the one admitted). */
  private readonly sockets = new WeakMap<Duplex, Duplex>();
  /** Upgrade sockets whose CONNECT has not arrived, with their deadline. */
  private readonly deadlines = new Map<Duplex, NodeJS.Timeout>();
  /** Each watched connection's packet-size scanner: a bridge's limit is raised once it is known. */
  private readonly scanners = new WeakMap<Duplex, FrameScanner>();
  /** Upgrade sockets: their deadline is kept here, not by Aedes. */
  private readonly upgrades = new WeakSet<Duplex>();

  constructor(private readonly o: ConnectionGateOptions) {
    this.pendingByAddress = new BoundedMap(Math.max(1, o.maxPendingConnections + 1, 100_000));
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  get authenticatedCount(): number {
    return this.authenticatedConns.size;
  }

  addressOf(conn: Duplex): string | undefined {
    return this.addresses.get(this.socketOf(conn));
  }

  admit(conn: Duplex, upgrade = false): boolean {
    const address = (conn as Socket).remoteAddress ?? 'unknown';
    const { maxPendingConnections, maxPendingPerAddress } = this.o;
    const fromAddress = this.pendingByAddress.get(address) ?? 0;
    if (maxPendingConnections > 0 && this.pending.size >= maxPendingConnections) {
      this.o.report.refuse('pending_connections', { address }, `${this.pending.size} connections not yet authenticated, the limit is ${maxPendingConnections} (MQTT_MAX_PENDING_CONNECTIONS)`);
      return false;
    }
    if (maxPendingPerAddress > 0 && fromAddress >= maxPendingPerAddress) {
      this.o.report.refuse('pending_connections', { address }, `${fromAddress} connections from ${address} not yet authenticated, the limit is ${maxPendingPerAddress} (MQTT_MAX_PENDING_PER_ADDRESS)`);
      return false;
    }
    this.addresses.set(conn, address);
    this.open.add(conn);
    this.pending.add(conn);
    this.pendingByAddress.set(address, fromAddress + 1);
    conn.once('close', () => {
      this.open.delete(conn);
      this.authenticatedConns.delete(conn);
      this.connectArrived(conn);
      this.settle(conn);
    });
    const ms = this.o.connectTimeoutMs ?? 0;
    if (upgrade) this.upgrades.add(conn);
    if (upgrade && ms > 0) {
      const timer = setTimeout(() => {
        this.deadlines.delete(conn);
        this.o.report.refuse('connect_timeout', { address }, 'no WebSocket upgrade and CONNECT within MQTT_CONNECT_TIMEOUT_MS');
        conn.destroy();
      }, ms);
      timer.unref();
      this.deadlines.set(conn, timer);
    }
    return true;
  }

  /** A CONNECT arrived on the connection: its deadline is met (authentication may still take a while). */
  connectArrived(conn: Duplex): void {
    const socket = this.socketOf(conn);
    const timer = this.deadlines.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.deadlines.delete(socket);
  }

  /** True when the CONNECT deadline of the connection is kept here (Aedes' own, started at the upgrade, is then no news). */
  keepsDeadline(conn: Duplex): boolean {
    return this.upgrades.has(this.socketOf(conn));
  }

  /**
   * The connection authenticated: no longer pending, counted under MAX_CONNECTIONS; its packets
   * may be as large as `maxPacketBytes` from now on when given (a bridge's, over TCP: the
   * WebSocket layer keeps MAX_PACKET_BYTES).
   */
  authenticated(conn: Duplex, maxPacketBytes?: { readonly bytes: number; readonly setting: string }): void {
    if (maxPacketBytes) this.scanners.get(conn)?.allow(maxPacketBytes.bytes, maxPacketBytes.setting);
    const socket = this.socketOf(conn);
    this.settle(socket);
    this.authenticatedConns.add(socket);
  }

  /** `req`: a WebSocket's upgrade request; its socket is the one admitted and counted. */
  watch(conn: Duplex, req?: IncomingMessage): void {
    if (req && this.open.has(req.socket)) this.sockets.set(conn, req.socket);
    if (this.o.maxPacketBytes <= 0) return;
    const scanner = new FrameScanner(this.o.maxPacketBytes);
    this.scanners.set(conn, scanner);
    // With Aedes' 'readable' listener in charge, 'data' only reports what Aedes reads: no copy, no change of flow.
    const onData = (chunk: Buffer): void => {
      const problem = scanner.push(chunk);
      if (!problem) return;
      conn.off('data', onData);
      this.o.report.refuse(problem.startsWith('malformed') ? 'malformed_packet' : 'packet_too_large', { address: this.addressOf(conn) }, problem);
      conn.destroy();
    };
    conn.on('data', onData);
  }

  closeAll(): void {
    for (const conn of this.open) conn.destroy();
  }

  private socketOf(conn: Duplex): Duplex {
    return this.sockets.get(conn) ?? conn;
  }

  /** The connection is no longer pending (authenticated, or closed). */
  private settle(conn: Duplex): void {
    if (!this.pending.delete(conn)) return;
    const address = this.addresses.get(conn) ?? 'unknown';
    const left = (this.pendingByAddress.get(address) ?? 1) - 1;
    if (left > 0) this.pendingByAddress.set(address, left);
    else this.pendingByAddress.delete(address);
  }
}

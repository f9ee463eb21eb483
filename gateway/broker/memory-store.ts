import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import type { Aedes, Client, PublishPacket, Subscription } from 'aedes';

/**
 * What the memory store of aedes-persistence 11 offers (asyncPersistence.js), as far as used here;
 * a cluster's Redis store (aedes-persistence-redis, broker/cluster-persistence.ts) offers the same.
 */
export interface MemoryStore {
  setup(broker: Aedes): Promise<void>;
  storeRetained(packet: PublishPacket): Promise<void>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
  addSubscriptions(client: { id: string }, subs: readonly Subscription[]): Promise<void>;
  removeSubscriptions(client: { id: string }, subs: string[]): Promise<void>;
  subscriptionsByClient(client: { id: string }): Promise<Subscription[]>;
  countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
  subscriptionsByTopic(pattern: string): Promise<{ clientId: string; topic: string; qos: number }[]>;
  cleanSubscriptions(client: { id: string }): Promise<void>;
  putWill(client: { id: string }, packet: PublishPacket): Promise<void>;
  getWill(client: { id: string }): Promise<PublishPacket | undefined>;
  delWill(client: { id: string; brokerId?: string }): Promise<PublishPacket | undefined>;
  streamWill(brokers?: Record<string, number>): Readable;
  getClientList(topic: string): Readable;
  destroy(): Promise<void>;
}

const require = createRequire(import.meta.url);
export const MemoryPersistence = require('aedes-persistence/asyncPersistence.js') as new () => MemoryStore;

/** Aedes' connected clients by id (not in its types). */
export function connectedIds(aedes: Aedes | undefined): Readonly<Record<string, Client | undefined>> | undefined {
  return (aedes as unknown as { clients?: Record<string, Client | undefined> } | undefined)?.clients;
}

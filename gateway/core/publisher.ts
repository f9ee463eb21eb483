/** Publishes on behalf of the gateway (commands, alerts, dead letters); the broker implements it. */
export interface Publisher {
  publish(topic: string, payload: string, qos: 0 | 1): Promise<void>;
}

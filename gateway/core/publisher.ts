/**
 * Publishes on behalf of the gateway (commands, alerts, dead letters); the broker implements it.
 * It may be called before the broker listens (the rules going live at start): the message goes out
 * once the broker's state is restored, queued for the persistent sessions away.
 */
export interface Publisher {
  publish(topic: string, payload: string, qos: 0 | 1): Promise<void>;
}

/** A contract actuator on a persistent session that answers every command with its data (as an obedient device does). */
import mqtt, { type MqttClient } from 'mqtt';

export interface AnsweringActuator {
  readonly client: MqttClient;
  /** What the broker said at this connection: whether it kept the session (then mqtt.js does not subscribe again). */
  readonly sessionPresent: boolean;
  /** Commands answered so far. */
  readonly answered: number;
}

/** Connects `clientId` with `clean: false` and answers on `devices/<clientId>/state`; subscribes to nothing. */
export async function answering(url: string, clientId: string): Promise<AnsweringActuator> {
  const client = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 0, connectTimeout: 5000 });
  let answered = 0;
  // Listening from before the CONNACK: a kept session's queued commands come right after it.
  client.on('message', (topic, payload) => {
    if (!topic.startsWith('commands/')) return;
    const { data } = JSON.parse(payload.toString()) as { data: unknown };
    answered++;
    void client.publishAsync(`devices/${clientId}/state`, JSON.stringify(data), { qos: 1 });
  });
  const sessionPresent = await new Promise<boolean>((connected, failed) => {
    client.once('connect', (connack) => connected(connack.sessionPresent));
    client.once('error', failed);
  });
  return { client, sessionPresent, get answered() { return answered; } };
}

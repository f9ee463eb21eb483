/** A real server-sent events reader over fetch (what a browser's EventSource does, minus reconnects). */
export interface SseMessage {
  readonly event: string;
  readonly data: string;
}

export interface SseStream {
  readonly messages: SseMessage[];
  /** Waits for the first message (seen already or to come) that matches. */
  next(match: (m: SseMessage) => boolean, what: string, timeoutMs?: number): Promise<SseMessage>;
  close(): void;
}

export async function openSse(url: string): Promise<SseStream> {
  const abort = new AbortController();
  const res = await fetch(url, { signal: abort.signal, headers: { accept: 'text/event-stream' } });
  if (!res.ok || !res.body) throw new Error(`SSE ${url}: HTTP ${res.status}`);
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) throw new Error(`SSE ${url}: content-type ${res.headers.get('content-type')}`);
  const messages: SseMessage[] = [];
  const waiters = new Set<() => void>();
  const decoder = new TextDecoder();
  let buffer = '';
  void (async () => {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) messages.push({ event, data: data.join('\n') });
          for (const w of waiters) w();
        }
      }
    } catch {
      // Aborted by close(), or the server went away: the waiters time out with what was seen.
    }
  })();
  return {
    messages,
    next(match, what, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = messages.find(match);
          if (found) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found);
          }
          return Boolean(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no SSE message with ${what} within ${timeoutMs} ms (got ${messages.length}: ${messages.map((m) => m.event).join(', ')})`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close: () => abort.abort(),
  };
}
